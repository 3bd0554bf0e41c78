// One keep-alive connection pool per upstream origin: the hot path must not pay a TCP (or TLS)
// handshake per request.
import http from 'node:http';
import https from 'node:https';

export interface Upstream {
  origin: string;
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  agent: http.Agent;
  request: typeof http.request;
}

// Enough concurrency for a busy replica, bounded so a slow upstream cannot exhaust file descriptors.
const AGENT_OPTIONS: http.AgentOptions = {
  keepAlive: true,
  maxSockets: 512,
  maxFreeSockets: 64,
  // The most recently used socket is the one least likely to have been closed by the upstream.
  scheduling: 'lifo',
};

export function createUpstream(url: string): Upstream {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  return {
    origin: u.origin,
    protocol: secure ? 'https:' : 'http:',
    // URL keeps IPv6 brackets; the socket layer wants the bare address.
    hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? (secure ? 443 : 80) : Number(u.port),
    agent: secure ? new https.Agent(AGENT_OPTIONS) : new http.Agent(AGENT_OPTIONS),
    request: secure ? https.request : http.request,
  };
}
