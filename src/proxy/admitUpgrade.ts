// Decides whether a WebSocket handshake may reach Sentry: the same normalisation, classes and session rule as plain
// requests, the Origin rule of forms for signed-in ones, answered on the raw socket because no
// ServerResponse exists there.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { classifyRequest, type RouteClass } from './classifyRequest.js';
import { connectionNamesDecidedHeader } from './headers.js';
import { normalisePath, type NormalisedTarget } from './normalisePath.js';
import type { ProxyContext } from './proxyContext.js';
import { pipeUpgrade } from './pipeUpgrade.js';
import { AUTH_REQUIRED_JSON, replyOnSocket } from './gatewayReplies.js';
import { resolveAssertion, type SessionDeps } from './resolveAssertion.js';

export type HeadersFor = (req: IncomingMessage, route: RouteClass, assertion: string | undefined, websocket: boolean) => OutgoingHttpHeaders;

function reply(socket: Duplex, status: number, body: object): number {
  replyOnSocket(socket, status, body);
  return status;
}

/** Resolves with the status the client saw (101 once the sockets are spliced). */
export async function admitUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  ctx: ProxyContext,
  deps: SessionDeps,
  headersFor: HeadersFor,
): Promise<number> {
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return reply(socket, 400, { error: 'unsupported_upgrade' });
  let t: NormalisedTarget;
  try {
    t = normalisePath(req.url ?? '', ctx.allowedHosts);
  } catch {
    return reply(socket, 400, { error: 'bad_path' });
  }
  // The same rule as plain requests: a Connection header may not strip what classification read.
  if (connectionNamesDecidedHeader(req.headers.connection, ctx.policy.assertionHeader) !== undefined) {
    return reply(socket, 400, { error: 'bad_connection_header' });
  }
  const route = classifyRequest({ path: t.path, authorization: req.headers.authorization }, ctx.config.bypass);
  // The gateway's own pages, Sentry's login and the module's internal endpoints have no WebSocket endpoints.
  if (route === 'gateway' || route === 'redirectLogin' || route === 'redirectLogout' || route === 'internalOnly') return reply(socket, 404, { error: 'not_found' });
  let assertion: string | undefined;
  if (route === 'session') {
    // The rule forms follow (csrfMiddleware): a browser's cookies ride on a WebSocket handshake from any
    // page, so only our own origin may open one in a person's name. Browsers always send Origin on a
    // WebSocket handshake; one without it is no page of ours, and is refused like a foreign one.
    if (req.headers.origin !== ctx.publicOrigin) return reply(socket, 403, { error: 'cross_origin' });
    const outcome = await resolveAssertion(req, deps);
    if (outcome.kind === 'none') return reply(socket, 401, AUTH_REQUIRED_JSON);
    if (outcome.kind === 'error') return reply(socket, outcome.error.status, { error: outcome.error.code });
    assertion = outcome.assertion;
  }
  const spec = {
    upstream: ctx.upstreamFor(route),
    target: t.target,
    headers: headersFor(req, route, assertion, true),
    timeoutMs: ctx.config.upstream.timeout,
  };
  return new Promise((resolve) => pipeUpgrade(socket, head, spec, resolve));
}

export function replyInternalError(socket: Duplex): number {
  return reply(socket, 500, { error: 'internal' });
}
