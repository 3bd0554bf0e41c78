// Stateless double-submit CSRF tokens: a random cookie plus a form field that is its HMAC under the session secret.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const CSRF_COOKIE = 'sag_csrf';

export function newCsrfCookieValue(): string {
  return randomBytes(24).toString('base64url');
}

export function csrfTokenFor(cookieValue: string, secret: string): string {
  return createHmac('sha256', secret).update(`csrf|${cookieValue}`).digest('base64url');
}

/** True when `token` was made from `cookieValue` under any of the secrets (the first signs, all verify). */
export function verifyCsrfToken(cookieValue: string | undefined, token: unknown, secrets: readonly string[]): boolean {
  if (!cookieValue || typeof token !== 'string' || token.length === 0 || token.length > 128) return false;
  const got = Buffer.from(token);
  return secrets.some((s) => {
    const want = Buffer.from(csrfTokenFor(cookieValue, s));
    return want.length === got.length && timingSafeEqual(want, got);
  });
}
