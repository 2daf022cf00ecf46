#!/usr/bin/env bash
# Builds the Temporal CLI (dev server + UI) into .tools/bin unless it is already there.
# v1.5.1 is the newest release without a `replace` directive, so `go install` can build it.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${TEMPORAL_CLI_VERSION:-v1.5.1}"
bin_dir="$PWD/.tools/bin"
if [ -n "${TEMPORAL_CLI:-}" ] && [ -x "$TEMPORAL_CLI" ]; then
  echo "temporal CLI: using TEMPORAL_CLI=$TEMPORAL_CLI"
  exit 0
fi
if [ -x "$bin_dir/temporal" ]; then
  echo "temporal CLI: $bin_dir/temporal already built"
  exit 0
fi
go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || go_bin=/usr/local/go/bin/go
if [ ! -x "$go_bin" ]; then
  echo "temporal CLI: Go is needed to build it (install Go, or set TEMPORAL_CLI to an existing binary)" >&2
  exit 1
fi
mkdir -p "$bin_dir"
echo "temporal CLI: building github.com/temporalio/cli/cmd/temporal@$version (a few minutes, once)"
GOBIN="$bin_dir" GOFLAGS=-mod=mod "$go_bin" install "github.com/temporalio/cli/cmd/temporal@$version"
"$bin_dir/temporal" --version
