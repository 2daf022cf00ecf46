import http from 'node:http';

/** `GET /healthz` for container health checks: 200 while `healthy()` holds, 503 otherwise. */
export function startHealthServer(port: number, healthy: () => boolean): http.Server {
  const server = http.createServer((req, res) => {
    const ok = req.url === '/healthz' && healthy();
    res.writeHead(req.url === '/healthz' ? (ok ? 200 : 503) : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok }));
  });
  return server.listen(port);
}
