// Issues the CSRF cookie for forms and checks the token on every form post.
import type { NextFunction, Request, Response } from 'express';
import { CSRF_COOKIE, csrfTokenFor, newCsrfCookieValue, verifyCsrfToken } from '../auth/csrf.js';
import { GatewayError } from '../errors.js';
import { readCookie } from '../shared/cookies.js';

export interface CsrfOptions {
  secrets: readonly string[];
  secure: boolean;
  publicOrigin: string;
}

/** Makes sure the browser holds a CSRF cookie and returns the token a form on this response must carry. */
export function csrfTokenForResponse(req: Request, res: Response, o: CsrfOptions): string {
  let value = readCookie(req.headers.cookie, CSRF_COOKIE);
  if (!value || value.length < 16) {
    value = newCsrfCookieValue();
    res.cookie(CSRF_COOKIE, value, { httpOnly: true, sameSite: 'lax', secure: o.secure, path: '/_gateway' });
  }
  return csrfTokenFor(value, o.secrets[0] as string);
}

export function requireCsrf(o: CsrfOptions) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    // A browser always says where a form post came from; a foreign Origin is refused even with a valid token.
    const origin = req.headers.origin;
    if (origin && origin !== 'null' && origin !== o.publicOrigin) return next(new GatewayError('GW_CSRF', 'cross-origin form post'));
    const body = req.body as Record<string, unknown> | undefined;
    if (!verifyCsrfToken(readCookie(req.headers.cookie, CSRF_COOKIE), body?._csrf, o.secrets)) return next(new GatewayError('GW_CSRF'));
    next();
  };
}
