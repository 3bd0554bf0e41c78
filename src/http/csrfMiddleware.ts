// Issues the CSRF cookie for forms and checks the token and the Origin on every form post.
import type { NextFunction, Request, Response } from 'express';
import { CSRF_COOKIE, csrfTokenFor, newCsrfCookieValue, verifyCsrfToken } from '../auth/csrf.js';
import { GatewayError } from '../errors.js';
import { hostCookieName, readCookie } from '../shared/cookies.js';

export interface CsrfOptions {
  secrets: readonly string[];
  secure: boolean;
  publicOrigin: string;
}

/** Which form: sign-in happens before any session exists; every other form is bound to the session. */
export interface CsrfScope {
  preSession?: boolean;
}

/**
 * On https the cookie is `__Host-sag_csrf` (Secure, Path=/, no Domain): a browser takes it only from
 * this very host, so a sibling subdomain cannot plant one. Plain http has no such protection.
 */
export function csrfCookieName(o: CsrfOptions): string {
  return hostCookieName(CSRF_COOKIE, o.secure);
}

/** The signed-in session's id, or '' before sign-in (express-session never saves an empty session). */
function sessionBinding(req: Request, scope: CsrfScope): string {
  if (scope.preSession) return '';
  const s = req.session as (typeof req.session & { passport?: { user?: unknown } }) | undefined;
  return s?.passport?.user ? req.sessionID : '';
}

/** Makes sure the browser holds a CSRF cookie and returns the token a form on this response must carry. */
export function csrfTokenForResponse(req: Request, res: Response, o: CsrfOptions, scope: CsrfScope = {}): string {
  const name = csrfCookieName(o);
  let value = readCookie(req.headers.cookie, name);
  if (!value || value.length < 16) {
    value = newCsrfCookieValue();
    res.cookie(name, value, { httpOnly: true, sameSite: 'lax', secure: o.secure, path: o.secure ? '/' : '/_gateway' });
  }
  return csrfTokenFor(value, o.secrets[0] as string, sessionBinding(req, scope));
}

export function requireCsrf(o: CsrfOptions, scope: CsrfScope = {}) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    // A browser always says where a form post came from. A foreign Origin is refused even with a valid
    // token, and so is `null`: sandboxed frames, data: URLs and some redirect chains send it, and none
    // of them is one of our own forms.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== o.publicOrigin) return next(new GatewayError('GW_CSRF', 'cross-origin form post'));
    const body = req.body as Record<string, unknown> | undefined;
    if (!verifyCsrfToken(readCookie(req.headers.cookie, csrfCookieName(o)), body?._csrf, o.secrets, sessionBinding(req, scope))) return next(new GatewayError('GW_CSRF'));
    next();
  };
}
