// Pipes an admitted WebSocket handshake to Sentry and then splices the two sockets together; after the 101 the
// gateway only moves bytes.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { filterResponseHeaders } from './headers.js';
import { replyOnSocket } from './gatewayReplies.js';
import type { Upstream } from './upstreamPool.js';

export interface UpgradeSpec {
  upstream: Upstream;
  target: string;
  headers: OutgoingHttpHeaders;
  timeoutMs: number;
}

function headBlock(status: number, raw: readonly string[]): string {
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${text}\r\n`;
}

export function pipeUpgrade(socket: Duplex, head: Buffer, spec: UpgradeSpec, onDone: (status: number) => void): void {
  const { upstream } = spec;
  let settled = false;
  const settle = (status: number) => {
    if (settled) return;
    settled = true;
    onDone(status);
  };
  // Upgraded sockets leave the pool for good, so they never come from the keep-alive agent.
  const upReq = upstream.request({
    protocol: upstream.protocol,
    hostname: upstream.hostname,
    port: upstream.port,
    agent: false,
    method: 'GET',
    path: spec.target,
    headers: spec.headers,
  });
  let timedOut = false;
  upReq.setTimeout(spec.timeoutMs, () => {
    timedOut = true;
    upReq.destroy(new Error('upstream timeout'));
  });
  socket.once('close', () => upReq.destroy());
  socket.on('error', () => upReq.destroy());

  upReq.on('error', () => {
    if (settled) return;
    const status = timedOut ? 504 : 502;
    replyOnSocket(socket, status, { error: timedOut ? 'upstream_timeout' : 'upstream_unavailable' });
    settle(status);
  });

  // The upstream refused to switch protocols: relay its answer and close.
  upReq.on('response', (upRes: IncomingMessage) => {
    const status = upRes.statusCode ?? 502;
    // The body is relayed decoded and ends with the connection, so no length header survives.
    const raw = dropPairs(filterResponseHeaders(upRes.rawHeaders, (_n, v) => v), 'content-length');
    socket.write(headBlock(status, [...raw, 'Connection', 'close']));
    upRes.pipe(socket);
    settle(status);
  });

  upReq.on('upgrade', (upRes: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
    upReq.setTimeout(0);
    settle(101);
    if (socket.destroyed) return void upSocket.destroy();
    // Connection/Upgrade are what make this a 101; they are kept as the upstream sent them.
    socket.write(headBlock(101, upRes.rawHeaders));
    if (upHead.length > 0) socket.write(upHead);
    if (head.length > 0) upSocket.write(head);
    upSocket.on('error', () => socket.destroy());
    socket.on('error', () => upSocket.destroy());
    upSocket.once('close', () => socket.destroy());
    socket.once('close', () => upSocket.destroy());
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });
  upReq.end();
}

function dropPairs(raw: readonly string[], lowerName: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== lowerName) out.push(raw[i]!, raw[i + 1]!);
  return out;
}
