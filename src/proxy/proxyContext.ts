// Everything the per-request path needs, derived from config once at start-up so no request
// re-parses a URL or rebuilds a set.
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/schema.js';
import { gatewayCookieNames } from '../shared/cookies.js';
import type { RouteClass } from './classifyRequest.js';
import type { DecisionRules } from './decideRequest.js';
import type { RequestHeaderPolicy } from './headers.js';
import { createResponders, type Respond } from './relayResponse.js';
import { createUrlRewriter, type UrlRewriter } from './rewriteUrl.js';
import { createUpstream, type Upstream } from './upstreamPool.js';

export interface ProxyContext {
  config: Config;
  policy: RequestHeaderPolicy;
  /** What decideRequest reads of the config. */
  rules: DecisionRules;
  /** Hosts an absolute-form request target may name (ours). */
  allowedHosts: string[];
  /** The origin of server.publicUrl: the only Origin a signed-in WebSocket handshake may carry. */
  publicOrigin: string;
  /** Sentry web, for signed-in traffic only. */
  web: Upstream;
  /** Sentry web again, on a pool of its own for anonymous traffic (token API, bypass paths). */
  anonymous: Upstream;
  /** Ingestion: upstream.ingestUrl, or the anonymous pool. */
  ingest: Upstream;
  rewrite: UrlRewriter;
  responders: { stream: Respond; chunkUpload: Respond };
  upstreamFor(route: RouteClass): Upstream;
}

export function createProxyContext(config: Config): ProxyContext {
  const publicUrl = new URL(config.server.publicUrl);
  const { timeout, maxConnections } = config.upstream;
  // Anonymous clients choose how long they hold a connection (a slow upload, a bogus token with a
  // large body): they get pools of their own, so they can never take the ones signed-in staff need.
  const web = createUpstream(config.upstream.url, timeout, maxConnections);
  const anonymous = createUpstream(config.upstream.url, timeout, maxConnections);
  const ingest = config.upstream.ingestUrl ? createUpstream(config.upstream.ingestUrl, timeout, maxConnections) : anonymous;
  const internal = [config.upstream.url, ...(config.upstream.ingestUrl ? [config.upstream.ingestUrl] : []), ...config.upstream.rewriteOrigins];
  const rewrite = createUrlRewriter(config.server.publicUrl, internal);
  const assertionHeader = config.assertion.header.toLowerCase();
  const allowedHosts = [publicUrl.host.toLowerCase(), publicUrl.hostname.toLowerCase()];
  return {
    config,
    rules: { allowedHosts, assertionHeader, bypass: config.bypass, publicOrigin: publicUrl.origin },
    policy: {
      assertionHeader,
      cookieNames: gatewayCookieNames(config.session.cookieName, config.server.publicUrl).own,
      publicHost: publicUrl.host,
      publicProto: publicUrl.protocol.slice(0, -1),
    },
    allowedHosts,
    publicOrigin: publicUrl.origin,
    web,
    anonymous,
    ingest,
    rewrite,
    responders: createResponders(rewrite),
    upstreamFor: (route) => (route === 'session' ? web : route === 'ingestion' ? ingest : anonymous),
  };
}

export function destroyContext(ctx: ProxyContext): void {
  void ctx.web.pool.destroy().catch(() => undefined);
  void ctx.anonymous.pool.destroy().catch(() => undefined);
  if (ctx.ingest !== ctx.anonymous) void ctx.ingest.pool.destroy().catch(() => undefined);
}

/** The peer address, until trusted-proxy handling is plugged in through ProxyDeps.clientAddress. */
export function socketAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '';
}

/** Whether the client may still be sending a body we have not read. */
export function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
}
