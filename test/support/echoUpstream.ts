// A stand-in for Sentry web: answers with JSON describing exactly what reached it, so proxy tests
// can assert on headers and bodies as the upstream saw them. Bodies are hashed as they stream.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { WebSocketServer } from 'ws';

export interface EchoRecord {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  bodyLength: number;
  bodySha256: string;
}

export interface EchoUpstream {
  url: string;
  /** What the last completed request looked like on arrival. */
  lastRequest: EchoRecord | undefined;
  /** Origin put into the chunk-upload `url` (default: this server's own url). */
  chunkUploadOrigin: string;
  /** WebSocket handshakes that reached this upstream. */
  upgrades: number;
  /** Emits 'hang' when a /__hang request arrives and 'hangClosed' when its connection goes away. */
  events: EventEmitter;
  close(): Promise<void>;
}

function hashBody(req: IncomingMessage): Promise<{ bodyLength: number; bodySha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bodyLength = 0;
    req.on('data', (chunk: Buffer) => {
      bodyLength += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => resolve({ bodyLength, bodySha256: hash.digest('hex') }));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown, gzip = false): void {
  const text = Buffer.from(JSON.stringify(value));
  const body = gzip ? gzipSync(text) : text;
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': String(body.length),
    ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
  });
  res.end(body);
}

/** A body of `size` bytes made on the fly from one repeated block. */
function generatedBody(size: number): Readable {
  const block = Buffer.alloc(64 * 1024, 0x61);
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, block.length);
      left -= n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}

export async function startEchoUpstream(): Promise<EchoUpstream> {
  const hanging = new Set<ServerResponse>();
  const events = new EventEmitter();
  const state: EchoUpstream = { url: '', lastRequest: undefined, chunkUploadOrigin: '', upgrades: 0, events, close: async () => {} };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://echo.invalid');
    // A client that gives up mid-body (the gateway enforcing a limit) is not an upstream failure.
    const hashed = await hashBody(req).catch(() => undefined);
    if (!hashed) return void res.destroy();
    const { bodyLength, bodySha256 } = hashed;
    const record: EchoRecord = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyLength, bodySha256 };
    state.lastRequest = record;

    if (url.pathname === '/__hang') {
      hanging.add(res);
      res.once('close', () => (hanging.delete(res), events.emit('hangClosed')));
      return void events.emit('hang');
    }
    if (url.pathname === '/__redirect') {
      const to = url.searchParams.get('to') ?? '/';
      const header = url.searchParams.get('header') === 'refresh' ? { Refresh: `0;url=${to}` } : { Location: to };
      res.writeHead(302, { ...header, 'Content-Length': '0' });
      return void res.end();
    }
    if (url.pathname === '/__large') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      return void generatedBody(Number(url.searchParams.get('bytes') ?? '0')).pipe(res);
    }
    if (url.pathname === '/__gzip') return sendJson(res, 200, record, true);
    const chunk = /^\/api\/0\/organizations\/([^/]+)\/chunk-upload\/$/.exec(url.pathname);
    if (chunk) {
      // Simulates an upstream that compresses even when asked not to.
      const gzip = req.headers['x-echo-force-gzip'] === '1';
      const body = {
        url: `${state.chunkUploadOrigin}/api/0/organizations/${chunk[1]}/chunk-upload/`,
        chunkSize: 8388608,
        chunksPerRequest: 64,
        maxRequestSize: 33554432,
        concurrency: 8,
        hashAlgorithm: 'sha1',
        compression: ['gzip'],
        acceptEncoding: req.headers['accept-encoding'] ?? null,
      };
      return sendJson(res, 200, body, gzip);
    }
    sendJson(res, 200, record);
  });

  // WebSocket: first message is what the handshake looked like, then every message is echoed.
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    state.upgrades++;
    const handshake = { url: req.url, headers: req.headers };
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify(handshake));
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}`;
  state.chunkUploadOrigin = state.url;
  state.close = async () => {
    for (const res of hanging) res.destroy();
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
