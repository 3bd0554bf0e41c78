// Stateless double-submit CSRF tokens: a random pre-session cookie plus a form field that is its HMAC
// under the session secret, bound also to the session id once someone is signed in.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export { CSRF_COOKIE_NAME as CSRF_COOKIE } from '../shared/cookies.js';

export function newCsrfCookieValue(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * `sessionId` is '' before sign-in. Bound to it, a cookie and token pair an attacker fetched for
 * themselves (and then planted as the cookie from a sibling subdomain) is worthless against anyone
 * signed in: the attacker cannot know the victim's session id.
 */
export function csrfTokenFor(cookieValue: string, secret: string, sessionId = ''): string {
  return createHmac('sha256', secret).update(`csrf|${cookieValue}|${sessionId}`).digest('base64url');
}

/** True when `token` was made from `cookieValue` and `sessionId` under any of the secrets (the first signs, all verify). */
export function verifyCsrfToken(cookieValue: string | undefined, token: unknown, secrets: readonly string[], sessionId = ''): boolean {
  if (!cookieValue || typeof token !== 'string' || token.length === 0 || token.length > 128) return false;
  const got = Buffer.from(token);
  return secrets.some((s) => {
    const want = Buffer.from(csrfTokenFor(cookieValue, s, sessionId));
    return want.length === got.length && timingSafeEqual(want, got);
  });
}
