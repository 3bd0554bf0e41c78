// Prometheus text for this instance, on /_gateway/metrics or on server.metricsListen's own listener.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { GatewayMetrics } from '../../shared/metrics.js';

export function metricsHandler(metrics: GatewayMetrics) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    metrics.text().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
        res.end(body);
      },
      () => {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('metrics unavailable\n');
      },
    );
  };
}

/**
 * The separate listener: /metrics only, no gateway pages and no proxying, so it can be bound to an
 * internal address that scrapers reach and users do not.
 */
export async function startMetricsServer(listen: string, metrics: GatewayMetrics): Promise<{ server: Server; url: string }> {
  const handle = metricsHandler(metrics);
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if ((req.method === 'GET' || req.method === 'HEAD') && (path === '/metrics' || path === '/')) return handle(req, res);
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  });
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(listen.slice(i + 1)), host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as { address: string; port: number; family: string };
  return { server, url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` };
}
