// GET shows the sign-in form; POST checks the password against AD and starts a fresh session.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuthenticateOptions } from 'passport';
import type { Deps } from '../../compositionRoot.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import { MAX_PASSWORD, MAX_USERNAME } from '../../auth/loginService.js';
import type { Identity } from '../../session/identity.js';
import { csrfTokenForResponse, type CsrfOptions } from '../csrfMiddleware.js';
import { format, messages, otherLangHref, usernameHint, type Lang } from '../i18n.js';
import { formError, langOf } from '../errorResponse.js';
import { renderPage } from '../render.js';
import { safeNext } from '../safeNext.js';
import { mfaUrl } from '../../proxy/gatewayReplies.js';
import { noSecondFactorsYet, type SecondFactorStep } from '../../auth/secondFactorGate.js';
import { pendingFields } from './mfaRoutes.js';
import { startSession } from './startSession.js';
import type { AuthMethod } from '../../session/signInFacts.js';
import { signInWithNegotiate } from '../../auth/kerberos/negotiate.js';
import { clearSignedOut, isMarkedSignedOut, markSignedOut, negotiateOffer, negotiateToken, passwordFormOff, windowsSignInHref, type NegotiateOffer } from './negotiateRoutes.js';

/** The sign-in form's name and password, read and checked once, here. */
export interface Credentials {
  username: string;
  password: string;
}

/** What the route hands the passport strategy: the credentials it read, so the strategy never reads the form. */
export interface SignInOptions extends AuthenticateOptions {
  credentials: Credentials;
}

/** passport's authenticate (the app's own instance, its password strategy) for these credentials, with a custom callback. */
export type Authenticate = (credentials: Credentials, done: (err: unknown, identity: Identity | false) => void) => RequestHandler;

interface FormState {
  username?: string;
  next: string;
  error?: GatewayError;
  /** The Kerberos side of the page (negotiateRoutes.ts); absent: a plain password form, never a challenge. */
  offer?: NegotiateOffer;
}

export function renderLogin(deps: Deps, csrf: CsrfOptions, req: Request, res: Response, state: FormState): void {
  const lang = langOf(req);
  const t = messages(lang);
  const heading = format(t.signInTitle, { org: deps.config.server.organizationName });
  const err = state.error;
  const queryLang = typeof req.query.lang === 'string' ? lang : undefined;
  const offer = state.offer;
  // The challenge and the form in one answer: a browser without a ticket simply shows the form. Only `Negotiate`.
  const challenge = offer?.challenge === true && !err;
  if (challenge) res.setHeader('WWW-Authenticate', 'Negotiate');
  res.status(err?.status ?? (challenge ? 401 : 200));
  for (const [k, v] of Object.entries(err?.headers ?? {})) res.setHeader(k, v);
  res.setHeader('Cache-Control', 'no-store');
  res.type('html').send(
    renderPage('login', {
      lang,
      title: heading,
      heading,
      logo: deps.config.server.logoUrl ? { src: deps.config.server.logoUrl, alt: format(t.logoAlt, { org: deps.config.server.organizationName }) } : undefined,
      csrfToken: csrfTokenForResponse(req, res, csrf, { preSession: true }),
      next: state.next,
      username: state.username ?? '',
      usernameHint: usernameHint(lang, deps.config.ldap, deps.config.ui.usernameHint),
      langQuery: queryLang,
      otherLangHref: otherLangHref('/_gateway/login', lang, state.next),
      error: formError(lang, err),
      windows: offer && (offer.button || offer.passwordOff) ? { href: windowsSignInHref(state.next, queryLang) } : undefined,
      passwordOff: offer?.passwordOff === true,
    }),
  );
}

export function showLogin(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response, nextFn: NextFunction): Promise<void> => {
    const next = safeNext(req.query.next, deps.config.server.publicUrl);
    // Someone already signed in who follows a stale login link goes straight on.
    const current = await deps.resolver.lookup(req).catch(() => null);
    if (current?.status === 'ok') return res.redirect(303, next);
    if (current?.status === 'pending') return res.redirect(303, mfaUrl(next));
    // A session cookie whose session was revoked (sessions revoke, the console, offboarding): not signed back in by
    // itself. One that expired (idle or absolute timeout) is challenged as usual; a sign-out set its own mark.
    const sid = current?.status === 'none' && deps.kerberos ? deps.resolver.sessionIdFrom(req.headers.cookie) : undefined;
    // When Redis cannot say, fail closed: treated as revoked (the button still signs in).
    const revoked = sid !== undefined && (await deps.sessions.wasRevoked(sid).catch(() => true));
    const offer = negotiateOffer(deps, req, revoked);
    const token = offer.inside ? negotiateToken(req) : undefined;
    // A token is taken only where a challenge would have been sent: never from a browser marked signed out.
    if (token !== undefined && offer.challenge) return negotiateSignIn(deps, csrf, req, res, nextFn, next, token);
    if (offer.button && !isMarkedSignedOut(deps, req, false)) markSignedOut(deps, res);
    renderLogin(deps, csrf, req, res, { next, offer });
  };
}

/** `Authorization: Negotiate <token>` on GET /_gateway/login: signed in (303, with the mutual token), or the form without a new challenge. */
async function negotiateSignIn(deps: Deps, csrf: CsrfOptions, req: Request, res: Response, nextFn: NextFunction, next: string, token: string): Promise<void> {
  const kerberos = deps.kerberos!;
  const address = deps.addressOf(req);
  const afterFailure: NegotiateOffer = { inside: true, challenge: false, button: true, passwordOff: passwordFormOff(deps, req) };
  let result;
  try {
    result = await signInWithNegotiate(kerberos, token, address);
  } catch (e) {
    // A bug or an outage past the token (the rules unreadable): the form, never a 500 and never a session.
    deps.logger.error({ err: (e as Error).message }, 'Kerberos sign-in failed unexpectedly');
    return renderLogin(deps, csrf, req, res, { next, offer: afterFailure, error: new GatewayError('GW_SESSION_STORE_UNAVAILABLE') });
  }
  if (!result.ok) return renderLogin(deps, csrf, req, res, { next, offer: afterFailure, ...(result.error ? { error: result.error } : {}) });
  const identity = result.identity;
  let step: SecondFactorStep | null;
  try {
    step = await (deps.secondFactorGate ?? noSecondFactorsYet)(identity, address);
  } catch {
    return renderLogin(deps, csrf, req, res, { next, offer: afterFailure, error: new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'second-factor policy not readable') });
  }
  // Mutual authentication: the browser checks that it spoke to the service it asked a ticket for.
  if (result.mutualToken) res.setHeader('WWW-Authenticate', `Negotiate ${result.mutualToken}`);
  clearSignedOut(deps, req, res);
  startSignedIn(deps, req, res, nextFn, identity, next, step, 'wia');
}

export function submitLogin(deps: Deps, csrf: CsrfOptions, authenticate: Authenticate) {
  return (req: Request, res: Response, nextFn: NextFunction): void => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next, deps.config.server.publicUrl);
    const username = typeof body.username === 'string' ? body.username.trim() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const lang = langOf(req);
    const t = messages(lang);
    // Inside auth.kerberos.networks with passwordForm: outsideNetworks, only Kerberos signs in.
    if (passwordFormOff(deps, req)) {
      return renderLogin(deps, csrf, req, res, { next, error: new GatewayError('GW_BAD_REQUEST', t.passwordFormOff), offer: { inside: true, challenge: false, button: true, passwordOff: true } });
    }
    if (!username || !password) {
      return renderLogin(deps, csrf, req, res, { next, username, error: new GatewayError('GW_BAD_REQUEST', t.missingFields) });
    }
    if (username.length > MAX_USERNAME || password.length > MAX_PASSWORD) {
      return renderLogin(deps, csrf, req, res, { next, error: new GatewayError('GW_BAD_REQUEST', t.tooLong) });
    }
    authenticate({ username, password }, (err: unknown, identity: Identity | false) => {
      if (err || !identity) {
        const e = isGatewayError(err) ? err : new GatewayError('GW_INTERNAL', 'sign-in failed', { cause: err });
        if (e.code === 'GW_INTERNAL') deps.logger.error({ err: (err as Error | undefined)?.message }, 'sign-in failed unexpectedly');
        return renderLogin(deps, csrf, req, res, { next, username, error: e });
      }
      // Whether a second factor must follow, asked before any session exists; a store that cannot say fails the sign-in.
      const address = deps.addressOf(req);
      (deps.secondFactorGate ?? noSecondFactorsYet)(identity, address).then(
        (step) => startSignedIn(deps, req, res, nextFn, identity, next, step),
        (e: unknown) => nextFn(new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'second-factor policy not readable', { cause: e })),
      );
    })(req, res, nextFn);
  };
}

function startSignedIn(deps: Deps, req: Request, res: Response, nextFn: NextFunction, identity: Identity, next: string, step: SecondFactorStep | null, method: Extract<AuthMethod, 'pwd' | 'wia'> = 'pwd'): void {
  const now = deps.clock.now();
  // A new session id (an id planted before sign-in is worthless after it), indexed before it is usable.
  startSession(
    deps,
    req,
    identity,
    {
      authenticatedAt: now,
      // A Kerberos sign-in typed no password: no passwordCheckedAt, so nothing counts it as one (Sentry's sudo).
      ...(method === 'pwd' ? { passwordCheckedAt: now } : {}),
      amr: [method],
      revalidatedAt: now,
      lastSeenAt: now,
      clientAddress: deps.addressOf(req),
      userAgent: (req.headers['user-agent'] ?? '').slice(0, 200),
      // A factor is owed: signed in for nothing but the second-factor step, for a few minutes.
      ...(step ? pendingFields(deps, step.reason) : {}),
    },
    undefined,
    nextFn,
    () => res.redirect(303, step ? mfaUrl(next) : next),
  );
}
