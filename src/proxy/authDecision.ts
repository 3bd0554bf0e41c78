// GET /_gateway/auth: the decision endpoint for a proxy in front that carries the bytes itself (nginx auth_request,
// Caddy forward_auth, Traefik forwardAuth; docs/nginx-mode.md). It rebuilds the original request from the headers
// that proxy passes, decides it with the proxy's own decision (decideRequest), and answers in that proxy's terms:
// for nginx 200, or 401/403 with the intended answer in headers the nginx configuration maps; for a forward-auth
// proxy (`?style=forward`), which hands any non-2xx answer to the client as it is, the intended answer itself
// (docs/design.md §12).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors.js';
import type { RouteClass } from './classifyRequest.js';
import { decideRoute, decideSession, type DecisionRules, type RequestFacts } from './decideRequest.js';
import { authRequiredJson, redirect } from './gatewayReplies.js';
import type { SessionDeps } from './resolveAssertion.js';

export const AUTH_DECISION_PATH = '/_gateway/auth';

/** Headers the proxy in front sets on the decision subrequest: what it sends on, not what the subrequest is. */
export const ORIGINAL_HEADERS = {
  method: 'x-sag-method',
  uri: 'x-sag-uri',
  connection: 'x-sag-connection',
  upgrade: 'x-sag-upgrade',
} as const;

/** The query that selects the forward-auth style: the Caddyfile's forward_auth `uri`, Traefik's `address`. */
export const FORWARD_STYLE_QUERY = '?style=forward';

/**
 * The style a decision is asked in, from the query of its request target (with its `?`): none is the nginx style,
 * `style=forward` and nothing else the forward style. Anything more (a parameter a proxy appended, a second style)
 * is no style at all, refused: answered in the wrong style, a refusal would be read as something else.
 */
export function decisionStyle(query: string): 'nginx' | 'forward' | undefined {
  if (query === '' || query === '?') return 'nginx';
  const params = [...new URLSearchParams(query)];
  return params.length === 1 && params[0]![0] === 'style' && params[0]![1] === 'forward' ? 'forward' : undefined;
}

/**
 * The original request as a forward-auth proxy describes it: Caddy's forward_auth and Traefik's forwardAuth set
 * these two themselves, replacing a client's copies. Connection and Upgrade are hop-by-hop, so they never arrive;
 * the generated Caddyfile sends them as the nginx style's X-Sag-Connection / X-Sag-Upgrade.
 */
export const FORWARDED_ORIGINAL = { method: 'x-forwarded-method', uri: 'x-forwarded-uri' } as const;

/**
 * Headers of the answer: on a 200 the route class (only `session` keeps the browser's cookies on the way to
 * Sentry, as the node proxy drops Cookie for anonymous classes); on a refusal the status the client is to get,
 * and where a page load is sent.
 */
export const ANSWER_HEADERS = { route: 'X-Sag-Route', status: 'X-Sag-Status', location: 'X-Sag-Location' } as const;

export interface AuthDecisions {
  /** True when this request may be answered here: the mode is on and the peer is the trusted proxy in front. */
  answers(req: IncomingMessage): boolean;
  /** `forward`: the forward-auth style (decisionStyle). */
  answer(req: IncomingMessage, res: ServerResponse, style?: 'forward'): Promise<void>;
}

export interface AuthDecisionOptions {
  rules: DecisionRules;
  /** The assertion header as configured (assertion.header). */
  assertionHeader: string;
  /** True for a socket peer covered by server.trustProxy. */
  isTrustedPeer(address: string): boolean;
  /** The gateway's own error page (HTML or JSON by Accept, localised): the forward style's refusals. */
  renderError(req: IncomingMessage, res: ServerResponse, err: GatewayError): void;
}

function single(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? undefined : value;
  return v === undefined || v === '' ? undefined : v;
}

/** The request the proxy in front will forward, as far as the decision reads it; undefined when the facts are missing. */
export function originalRequest(headers: IncomingHttpHeaders, style?: 'forward'): RequestFacts | undefined {
  const names = style === 'forward' ? FORWARDED_ORIGINAL : ORIGINAL_HEADERS;
  const method = single(headers[names.method]);
  const url = single(headers[names.uri]);
  // A repeated fact is no fact: refused like a missing one.
  if (method === undefined || url === undefined || Array.isArray(headers[ORIGINAL_HEADERS.connection]) || Array.isArray(headers[ORIGINAL_HEADERS.upgrade])) return undefined;
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    // The subrequest's own hop and framing describe the subrequest, never the request being decided.
    if (name.startsWith('x-sag-') || name === 'connection' || name === 'upgrade' || name === 'content-length' || name === 'transfer-encoding') continue;
    if (style === 'forward' && (name === FORWARDED_ORIGINAL.method || name === FORWARDED_ORIGINAL.uri)) continue;
    out[name] = headers[name];
  }
  const connection = single(headers[ORIGINAL_HEADERS.connection]);
  let upgrade = single(headers[ORIGINAL_HEADERS.upgrade]);
  // A forward-auth proxy that cannot pass Upgrade (Traefik) still passes Sec-WebSocket-Key, an end-to-end header:
  // a request carrying one is judged as the handshake it is (Origin rule included), never as a plain GET.
  if (style === 'forward' && upgrade === undefined && headers['sec-websocket-key'] !== undefined) upgrade = 'websocket';
  if (connection !== undefined) out.connection = connection;
  if (upgrade !== undefined) out.upgrade = upgrade;
  // The generated configuration sends Connection: upgrade on whenever the client sent an Upgrade: that is the handshake judged.
  return { method, url, headers: out, upgrade: upgrade !== undefined };
}

type Answer = { status: 200; route: RouteClass; assertion?: string } | { status: 401 | 403; sagStatus: number; location?: string; error?: GatewayError };

function write(res: ServerResponse, answer: Answer, assertionHeader: string): void {
  // Never a cookie, never a WWW-Authenticate: nginx hands a 401's challenge to the client.
  const headers: Record<string, string> = { 'Cache-Control': 'no-store', 'Content-Length': '0' };
  if (answer.status === 200) {
    headers[ANSWER_HEADERS.route] = answer.route;
    if (answer.assertion !== undefined) headers[assertionHeader] = answer.assertion;
  } else {
    headers[ANSWER_HEADERS.status] = String(answer.sagStatus);
    if (answer.location !== undefined) headers[ANSWER_HEADERS.location] = answer.location;
  }
  res.writeHead(answer.status, headers);
  res.end();
}

/**
 * The forward style: the answer the node proxy would give, as it would give it (the proxy in front passes any
 * non-2xx to the client as is); a 200 carries what the proxy in front copies onto the request (copy_headers).
 */
function writeForward(req: IncomingMessage, res: ServerResponse, answer: Answer, opts: AuthDecisionOptions): void {
  // The assertion header is always there, empty when there is none: Caddy's copy_headers copies an absent header as
  // its unresolved placeholder text, which would reach Sentry as if it were an assertion.
  if (answer.status === 200) return write(res, { ...answer, assertion: answer.assertion ?? '' }, opts.assertionHeader);
  if (answer.sagStatus === 302 && answer.location !== undefined) return redirect(res, answer.location);
  if (answer.sagStatus === 401) return authRequiredJson(req, res);
  opts.renderError(req, res, answer.error ?? new GatewayError(answer.sagStatus === 404 ? 'GW_NOT_FOUND' : answer.sagStatus === 400 ? 'GW_BAD_REQUEST' : 'GW_INTERNAL'));
}

export function createAuthDecisions(opts: AuthDecisionOptions, deps: SessionDeps): AuthDecisions {
  async function decide(req: IncomingMessage, style?: 'forward'): Promise<Answer> {
    const facts = originalRequest(req.headers, style);
    if (facts === undefined) return { status: 403, sagStatus: 400 };
    const route = decideRoute(facts, opts.rules);
    switch (route.kind) {
      case 'refuse':
        return { status: 403, sagStatus: route.error.status, error: route.error };
      // The gateway's own pages are routed to it by the proxy in front without asking; a request for them here is
      // one that proxy's locations did not catch, and gets nothing.
      case 'gateway':
        return { status: 403, sagStatus: 404 };
      case 'redirect':
        return { status: 401, sagStatus: 302, location: route.location };
      case 'forward': {
        if (route.route !== 'session') return { status: 200, route: route.route };
        const session = await decideSession(req, facts, route.target, deps);
        if (session.kind === 'assert') return { status: 200, route: 'session', assertion: session.assertion };
        if (session.kind === 'refuse') return { status: 403, sagStatus: session.error.status, error: session.error };
        return session.location === undefined ? { status: 401, sagStatus: 401 } : { status: 401, sagStatus: 302, location: session.location };
      }
    }
  }
  return {
    answers: (req) => opts.isTrustedPeer(req.socket.remoteAddress ?? ''),
    async answer(req, res, style) {
      let answer: Answer;
      try {
        answer = await decide(req, style);
      } catch {
        answer = { status: 403, sagStatus: 500 };
      }
      if (res.headersSent || res.destroyed) return;
      if (style === 'forward') writeForward(req, res, answer, opts);
      else write(res, answer, opts.assertionHeader);
    },
  };
}
