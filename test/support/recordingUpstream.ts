// A stand-in upstream that keeps every request that reached it (not just the last), so hostile-input
// tests can assert on everything the gateway let through, including requests cut off mid-body.
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Arrival {
  method: string;
  /** The request target exactly as it arrived. */
  url: string;
  headers: IncomingMessage['headers'];
  bodyLength: number;
  /** False when the connection went away before the body ended (the gateway enforcing a limit). */
  complete: boolean;
  /** Arrival order across every recording upstream of the process. */
  seq: number;
}

let arrived = 0;

export interface RecordingUpstream {
  url: string;
  arrivals: Arrival[];
  close(): Promise<void>;
}

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const arrivals: Arrival[] = [];
  const server = http.createServer((req, res) => {
    const arrival: Arrival = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyLength: 0, complete: false, seq: ++arrived };
    // Recorded on arrival: a request the gateway aborts still counts as having reached us.
    arrivals.push(arrival);
    req.on('data', (c: Buffer) => (arrival.bodyLength += c.length));
    req.on('error', () => undefined);
    req.on('end', () => {
      arrival.complete = true;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '8' });
      res.end('upstream');
    });
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
