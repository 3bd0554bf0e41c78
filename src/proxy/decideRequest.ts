// The one decision about a request (docs/design.md §6): what it gets, before and after the session is read. The node
// proxy (createProxy, admitUpgrade) and the decision endpoint for a proxy in front (authDecision) both call it, so
// a request is classified once, by one rule, whichever of them carries its bytes.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Config } from '../config/schema.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { classifyRequest, type RouteClass } from './classifyRequest.js';
import { LOGOUT_PATH, loginUrl, loginUrlFromQuery, mfaUrl, wantsLoginPage } from './gatewayReplies.js';
import { connectionNamesDecidedHeader } from './headers.js';
import { normalisePath, type NormalisedTarget } from './normalisePath.js';
import { resolveAssertion, type SessionDeps } from './resolveAssertion.js';

/** The request as it will be forwarded: method, target, and the headers classification reads. */
export interface RequestFacts {
  method: string;
  /** The request target as received (origin-form, or absolute-form naming one of our hosts). */
  url: string;
  headers: IncomingHttpHeaders;
  /** A protocol upgrade (WebSocket handshake) rather than a plain request. */
  upgrade?: boolean;
}

export interface DecisionRules {
  /** Hosts an absolute-form target may name. */
  allowedHosts: readonly string[];
  /** Lower-case assertion header name. */
  assertionHeader: string;
  bypass: Config['bypass'];
  /** The only Origin a signed-in WebSocket handshake may carry. */
  publicOrigin: string;
}

/** Why a request is refused before any session is read; the upgrade path answers with these as its JSON `error`. */
export type RefusalReason = 'unsupported_upgrade' | 'bad_path' | 'bad_connection_header' | 'not_found' | 'cross_origin';

export type RouteDecision =
  /** `target`: the normalised target, once the path passed normalisation. */
  | { kind: 'refuse'; route: RouteClass | 'invalid'; reason: RefusalReason; error: GatewayError; target?: NormalisedTarget }
  /** The gateway's own pages (/_gateway/…). */
  | { kind: 'gateway'; target: NormalisedTarget }
  | { kind: 'redirect'; route: 'redirectLogin' | 'redirectLogout'; location: string; target: NormalisedTarget }
  /** Forwarded; `route === 'session'` needs a session first (decideSession). */
  | { kind: 'forward'; route: RouteClass; target: NormalisedTarget };

export type SessionDecision =
  | { kind: 'assert'; assertion: string }
  /** No usable session: a page load goes to `location` (sign-in, or the second-factor step); anything else gets the 401 JSON. */
  | { kind: 'signIn'; location?: string }
  | { kind: 'refuse'; error: GatewayError };

const refuse = (route: RouteClass | 'invalid', reason: RefusalReason, error: GatewayError, target?: NormalisedTarget): RouteDecision =>
  target === undefined ? { kind: 'refuse', route, reason, error } : { kind: 'refuse', route, reason, error, target };

/** Everything decided without the session store: pure. */
export function decideRoute(facts: RequestFacts, rules: DecisionRules): RouteDecision {
  const { headers } = facts;
  if (facts.upgrade && (headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    return refuse('invalid', 'unsupported_upgrade', new GatewayError('GW_BAD_REQUEST', 'unsupported upgrade'));
  }
  let t: NormalisedTarget;
  try {
    t = normalisePath(facts.url, rules.allowedHosts);
  } catch (err) {
    return refuse('invalid', 'bad_path', isGatewayError(err) ? err : new GatewayError('GW_BAD_PATH'));
  }
  // Classification reads the headers as received, so they must be the ones forwarded: nothing it (or the session
  // lookup, or framing) reads may be dropped later as hop-by-hop.
  if (connectionNamesDecidedHeader(headers.connection, rules.assertionHeader) !== undefined) {
    return refuse('invalid', 'bad_connection_header', new GatewayError('GW_BAD_CONNECTION_HEADER'), t);
  }
  const route = classifyRequest({ path: t.path, authorization: headers.authorization }, rules.bypass);
  if (facts.upgrade) {
    // The gateway's own pages, Sentry's login and the module's internal endpoints have no WebSocket endpoints.
    if (route === 'gateway' || route === 'redirectLogin' || route === 'redirectLogout' || route === 'internalOnly') {
      return refuse(route, 'not_found', new GatewayError('GW_NOT_FOUND'), t);
    }
    // The rule forms follow (csrfMiddleware): a browser's cookies ride on a WebSocket handshake from any page, so
    // only our own origin may open one in a person's name. Browsers always send Origin on a WebSocket handshake;
    // one without it is no page of ours, and is refused like a foreign one.
    if (route === 'session' && headers.origin !== rules.publicOrigin) return refuse(route, 'cross_origin', new GatewayError('GW_FORBIDDEN', 'cross-origin WebSocket'), t);
    return { kind: 'forward', route, target: t };
  }
  switch (route) {
    case 'gateway':
      return { kind: 'gateway', target: t };
    case 'redirectLogin':
      return { kind: 'redirect', route, location: loginUrlFromQuery(t.query), target: t };
    case 'redirectLogout':
      return { kind: 'redirect', route, location: LOGOUT_PATH, target: t };
    case 'internalOnly':
      return refuse(route, 'not_found', new GatewayError('GW_NOT_FOUND'), t);
    default:
      return { kind: 'forward', route, target: t };
  }
}

/**
 * For a `session` route: the assertion, or what to answer instead. A session that has passed only the password is
 * no session here (a page load goes to the second-factor step); a store that cannot be read is a 503, never a
 * trip to the sign-in page (docs/design.md §11). `req` is what the session lookup reads (Cookie, client address).
 */
export async function decideSession(req: IncomingMessage, facts: RequestFacts, target: NormalisedTarget, deps: SessionDeps): Promise<SessionDecision> {
  const outcome = await resolveAssertion(req, deps);
  if (outcome.kind === 'ok') return { kind: 'assert', assertion: outcome.assertion };
  if (outcome.kind === 'error') return { kind: 'refuse', error: outcome.error };
  if (facts.upgrade || !wantsLoginPage(facts.method, facts.headers.accept)) return { kind: 'signIn' };
  return { kind: 'signIn', location: outcome.secondFactor === true ? mfaUrl(target.target) : loginUrl(target.target) };
}
