import { faults, json, randomUUID, type FakeRequest, type FakeResponse } from '../http';
import type { FakeApp, FakeCore } from '../core';

interface BatchStep {
  id: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  dependsOn?: string[];
}

/** At most 4 steps of an unordered batch run at once (graph.md §6.3). */
const batchParallelism = 4;

function subResponse(id: string, response: FakeResponse): Record<string, unknown> {
  return { id, status: response.status, headers: response.headers, ...(response.body === undefined ? {} : { body: response.body }) };
}

/** `POST /v1.0/$batch`: ≤20 steps, unique ids, dependsOn → 424 on failure, responses in any order. */
export async function serveBatch(core: FakeCore, request: FakeRequest, app: FakeApp): Promise<FakeResponse> {
  const requests = (request.body as { requests?: unknown } | undefined)?.requests;
  if (!Array.isArray(requests)) throw faults.badRequest('Invalid batch payload format.');
  if (requests.length === 0) throw faults.badRequest('Invalid batch payload format: at least one request is required.');
  if (requests.length > 20) throw faults.badRequest('Invalid batch payload format: the number of requests in a batch cannot exceed 20.');
  const steps = requests as BatchStep[];
  const seen = new Set<string>();
  for (const step of steps) {
    if (typeof step?.id !== 'string' || !step.id || typeof step.method !== 'string' || typeof step.url !== 'string') {
      throw faults.badRequest('Invalid batch payload format: every request needs id, method and url.');
    }
    if (seen.has(step.id.toLowerCase())) throw faults.badRequest(`Invalid batch payload format: the request id '${step.id}' is used more than once.`);
    seen.add(step.id.toLowerCase());
  }
  for (const step of steps) {
    for (const dependency of step.dependsOn ?? []) {
      if (!seen.has(dependency.toLowerCase())) throw faults.badRequest(`Invalid batch payload format: request '${step.id}' depends on unknown id '${dependency}'.`);
    }
  }

  const results = new Map<string, FakeResponse>();
  const runStep = async (step: BatchStep): Promise<void> => {
    const failed = (step.dependsOn ?? []).find((d) => (results.get(d.toLowerCase())?.status ?? 424) >= 400);
    if (failed !== undefined) {
      results.set(step.id.toLowerCase(), { status: 424, headers: { 'content-type': 'application/json' }, body: {
        error: { code: 'FailedDependency', message: `Request '${step.id}' depends on '${failed}', which failed.`,
          innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': randomUUID() } } } });
      return;
    }
    const headers = Object.fromEntries(Object.entries(step.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
    if (step.body !== undefined && !headers['content-type']) {
      results.set(step.id.toLowerCase(), {
        status: 400, headers: { 'content-type': 'application/json' }, body: {
          error: { code: 'BadRequest', message: 'Write request id : ' + step.id + ' does not contain Content-Type header or body.',
            innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': randomUUID() } } } });
      return;
    }
    // Batch steps inherit the envelope's Prefer header unless they set their own.
    if (!headers.prefer && request.headers.prefer) headers.prefer = request.headers.prefer;
    const url = new URL(step.url.startsWith('/') ? step.url : `/${step.url}`, 'https://batch.invalid');
    const sub: FakeRequest = {
      method: step.method.toUpperCase(), path: url.pathname, query: url.searchParams, headers, body: step.body, requestId: randomUUID(),
    };
    results.set(step.id.toLowerCase(), await core.serve(sub, app, true));
  };

  const ordered = steps.some((s) => (s.dependsOn ?? []).length > 0);
  if (ordered) {
    for (const step of steps) await runStep(step);
  } else {
    let next = 0;
    const worker = async () => {
      while (next < steps.length) await runStep(steps[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(batchParallelism, steps.length) }, worker));
  }
  const responses = steps.map((s) => subResponse(s.id, results.get(s.id.toLowerCase())!));
  // Graph answers in any order; so does the fake, so clients cannot rely on it.
  for (let i = responses.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [responses[i], responses[j]] = [responses[j], responses[i]];
  }
  return json(200, { responses });
}
