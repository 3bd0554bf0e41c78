// Decides whether a WebSocket handshake may reach Sentry with the one decision plain requests take (decideRequest:
// normalisation, classes, the Origin rule of forms for signed-in ones, the session rule), answered on the raw
// socket because no ServerResponse exists there.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RouteClass } from './classifyRequest.js';
import { decideRoute, decideSession } from './decideRequest.js';
import type { ProxyContext } from './proxyContext.js';
import { pipeUpgrade } from './pipeUpgrade.js';
import { AUTH_REQUIRED_JSON, replyOnSocket } from './gatewayReplies.js';
import type { SessionDeps } from './resolveAssertion.js';

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
  const facts = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, upgrade: true };
  const decision = decideRoute(facts, ctx.rules);
  if (decision.kind === 'refuse') return reply(socket, decision.error.status, { error: decision.reason });
  // An upgrade is only ever refused or forwarded: the gateway's pages and redirects have no WebSocket endpoints.
  if (decision.kind !== 'forward') return reply(socket, 404, { error: 'not_found' });
  const { route, target: t } = decision;
  let assertion: string | undefined;
  if (route === 'session') {
    const session = await decideSession(req, facts, t, deps);
    if (session.kind === 'signIn') return reply(socket, 401, AUTH_REQUIRED_JSON);
    if (session.kind === 'refuse') return reply(socket, session.error.status, { error: session.error.code });
    assertion = session.assertion;
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
