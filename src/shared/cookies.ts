// Minimal Cookie header reading: the first value for a name, without decoding surprises.
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The name a gateway cookie really has: `__Host-<name>` when the public URL is https. Browsers accept
 * a `__Host-` cookie only with Secure, Path=/ and no Domain, set by this very host, so a sibling
 * subdomain cannot plant or overwrite it (cookie tossing). A name already prefixed is kept.
 */
export function hostCookieName(name: string, secure: boolean): string {
  if (!secure || name.startsWith('__Host-') || name.startsWith('__Secure-')) return name;
  return `__Host-${name}`;
}

export const CSRF_COOKIE_NAME = 'sag_csrf';

export interface GatewayCookieNames {
  /** The session cookie: `session.cookieName`, `__Host-` prefixed on https. */
  session: string;
  /** The CSRF cookie of the gateway's forms, prefixed the same way. */
  csrf: string;
  /** Every name the gateway's cookies have or had (before a move to https): never forwarded to Sentry. */
  own: string[];
}

export function gatewayCookieNames(sessionCookieName: string, publicUrl: string): GatewayCookieNames {
  const secure = publicUrl.startsWith('https:');
  const session = hostCookieName(sessionCookieName, secure);
  const csrf = hostCookieName(CSRF_COOKIE_NAME, secure);
  return { session, csrf, own: [...new Set([session, sessionCookieName, csrf, CSRF_COOKIE_NAME])] };
}
