// Prometheus text, on server.metricsListen's own listener, or on /_gateway/metrics behind a bearer token.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { GatewayMetrics } from '../../shared/metrics.js';
import { SecretFile } from '../../shared/secretFile.js';
import { splitListen } from '../../shared/splitListen.js';

/** Checks `Authorization: Bearer <token>` against server.metricsTokenFile (re-read when the file changes). */
export type BearerCheck = (req: IncomingMessage) => boolean;

export function bearerCheck(tokenFile: string): BearerCheck {
  const file = new SecretFile(tokenFile);
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return (req) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const want = file.lines()[0];
    // Equal-length digests: the comparison takes the same time whatever was sent.
    return Boolean(m && want && timingSafeEqual(digest(m[1]!), digest(want)));
  };
}

export function metricsHandler(metrics: GatewayMetrics, authorized?: BearerCheck) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (authorized && !authorized(req)) {
      res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer realm="metrics"', 'Cache-Control': 'no-store' });
      res.end('metrics need the bearer token from server.metricsTokenFile\n');
      return;
    }
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
export async function startMetricsServer(listen: string, metrics: GatewayMetrics, authorized?: BearerCheck): Promise<{ server: Server; url: string }> {
  const handle = metricsHandler(metrics, authorized);
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if ((req.method === 'GET' || req.method === 'HEAD') && (path === '/metrics' || path === '/')) return handle(req, res);
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  });
  const { host, port } = splitListen(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as { address: string; port: number; family: string };
  return { server, url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` };
}
