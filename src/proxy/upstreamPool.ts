// One keep-alive connection pool per upstream origin: the hot path must not pay a TCP (or TLS)
// handshake per request. Plain requests go through an undici pool, whose HTTP/1.1 client costs
// about half what node's http.request does per request (bench/RESULTS.md); WebSocket handshakes
// keep node's client, since the spliced socket leaves any pool for good.
import http from 'node:http';
import https from 'node:https';
import { Client, Pool } from 'undici';

export interface Upstream {
  origin: string;
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  pool: Pool;
  /** A client of its own for one request: a retry must not land on another pooled connection the upstream has closed. */
  freshClient(): Client;
  /** node's client, for WebSocket handshakes only. */
  request: typeof http.request;
}

/**
 * `connections` bounds the pool (upstream.maxConnections): enough concurrency for a busy replica,
 * bounded so a slow upstream cannot exhaust file descriptors.
 */
export function createUpstream(url: string, timeoutMs: number, connections: number): Upstream {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  const clientOptions = {
    // One request at a time per connection: Sentry's app servers are not trusted with pipelining.
    pipelining: 1,
    // Room for a few 64 KiB reads of an upload before the client is paused: pausing and resuming
    // the client socket on every chunk costs more than the memory.
    connect: { timeout: timeoutMs, highWaterMark: 256 * 1024 },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  };
  return {
    origin: u.origin,
    protocol: secure ? 'https:' : 'http:',
    // URL keeps IPv6 brackets; the socket layer wants the bare address.
    hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? (secure ? 443 : 80) : Number(u.port),
    pool: new Pool(u.origin, { ...clientOptions, connections }),
    freshClient: () => new Client(u.origin, clientOptions),
    request: secure ? https.request : http.request,
  };
}
