// Requests sent byte for byte, to the gateway (hostile) and the proxies in front (nginxMode, caddyMode): fetch would resolve dot segments and
// decode before sending, and a framing case needs a socket of its own.
import http from 'node:http';
import net from 'node:net';

/** A request with the target sent as it is written. */
export function rawRequest(base: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, method: init.method ?? 'GET', headers: init.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Writes raw bytes on a fresh socket and returns everything answered until it closed (or went quiet for a second). */
export function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const settle = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => socket.destroy(), 1000);
    };
    socket.on('connect', () => (socket.write(bytes), settle()));
    socket.on('data', (c: Buffer) => (chunks.push(c), settle()));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    socket.on('close', () => (clearTimeout(quiet), resolve(Buffer.concat(chunks).toString('latin1'))));
  });
}
