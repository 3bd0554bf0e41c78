// The Negotiate (Kerberos) part of GET /_gateway/login: when to challenge, the signed-out mark, and the sign-in itself.
//
// Only this GET ever says `WWW-Authenticate: Negotiate` (never NTLM, never Basic): the password POST, /_gateway/reauth,
// the nginx decision, the second-factor step and everything proxied never do. After a sign-out, or with a session
// cookie whose session was revoked, the browser is not challenged by itself (it would be signed straight back in, and
// nobody could sign out): the form offers a "Sign in with Windows" button that asks once.
import type { IncomingMessage } from 'node:http';
import type { Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { hostCookieName } from '../../shared/cookies.js';
import { NetworkList } from '../../shared/networks.js';

export const SIGNED_OUT_COOKIE = 'sag_signed_out';

/** The Kerberos side of the sign-in page for one request. */
export interface NegotiateOffer {
  /** The client is one Negotiate may be offered to (enabled, binding loaded, inside `networks`). */
  inside: boolean;
  /** Challenge on this answer (401 + `WWW-Authenticate: Negotiate`). */
  challenge: boolean;
  /** Show the "Sign in with Windows" button (the browser is marked signed out). */
  button: boolean;
  /** Inside `networks` with passwordForm: outsideNetworks: no password form here. */
  passwordOff: boolean;
}

const networksCache = new WeakMap<object, NetworkList>();

function networksOf(deps: Deps): NetworkList {
  const cidrs = deps.config.auth.kerberos.networks;
  let list = networksCache.get(cidrs);
  if (!list) networksCache.set(cidrs, (list = new NetworkList(cidrs)));
  return list;
}

/** Whether Negotiate may be offered to this client at all: Kerberos on and loaded, and the address in `networks` (empty: everyone). */
export function kerberosInside(deps: Deps, req: IncomingMessage): boolean {
  if (!deps.kerberos) return false;
  const networks = networksOf(deps);
  return networks.size === 0 || networks.match(deps.addressOf(req)) !== undefined;
}

/** The password form is refused here: Kerberos-only inside `networks` (auth.kerberos.passwordForm: outsideNetworks). */
export function passwordFormOff(deps: Deps, req: IncomingMessage): boolean {
  return deps.config.auth.kerberos.passwordForm === 'outsideNetworks' && deps.config.auth.kerberos.networks.length > 0 && kerberosInside(deps, req);
}

/** What follows `Negotiate ` in Authorization, or undefined (another scheme, or none). */
export function negotiateToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Negotiate(?: +(.*))?$/i.exec(h.trim());
  return m ? (m[1] ?? '').trim() : undefined;
}

function signedOutCookie(deps: Deps): string {
  return hostCookieName(SIGNED_OUT_COOKIE, deps.config.server.publicUrl.startsWith('https:'));
}

/** The browser signed out here, or shows a session cookie whose session was revoked: it is not challenged by itself. */
export function isMarkedSignedOut(deps: Deps, req: IncomingMessage, revokedSession: boolean): boolean {
  return revokedSession || hasCookie(req, signedOutCookie(deps));
}

function hasCookie(req: IncomingMessage, name: string): boolean {
  return (req.headers.cookie ?? '').split(';').some((p) => p.trim().split('=')[0] === name);
}

/** Marks this browser signed out (sign-out, a session found revoked); a session-long cookie with nothing in it. */
export function markSignedOut(deps: Deps, res: Response): void {
  const secure = deps.config.server.publicUrl.startsWith('https:');
  res.cookie(signedOutCookie(deps), '1', { path: '/', httpOnly: true, sameSite: 'lax', secure });
}

export function clearSignedOut(deps: Deps, req: IncomingMessage, res: Response): void {
  if (!hasCookie(req, signedOutCookie(deps))) return;
  const secure = deps.config.server.publicUrl.startsWith('https:');
  res.clearCookie(signedOutCookie(deps), { path: '/', httpOnly: true, sameSite: 'lax', secure });
}

/** Accept: text/html, as a browser navigating sends; an XHR or an API client is never challenged. */
function wantsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(req.headers.accept ?? '');
}

/**
 * The button was pressed on this site, or the link typed or bookmarked (`Sec-Fetch-Site`): never a navigation
 * another site started, which would sign a person who signed out back in without asking. Browsers send
 * Sec-Fetch-Site only to https (and loopback) origins; without it, a Referer of this origin (the button's page)
 * will do. Neither: not honoured.
 */
function ssoAskedHere(deps: Deps, req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const referer = req.headers.referer;
  if (typeof referer !== 'string') return false;
  try {
    return new URL(referer).origin === new URL(deps.config.server.publicUrl).origin;
  } catch {
    return false;
  }
}

/**
 * The offer for GET /_gateway/login (express serves HEAD from the same route: never challenged, no token taken).
 * `revokedSession`: the browser sent a session cookie whose session was revoked (an expired one is no reason). `sso`: the person pressed "Sign in with
 * Windows" (`?sso=1`, from this site): challenge once even though the browser is marked.
 */
export function negotiateOffer(deps: Deps, req: Request, revokedSession: boolean): NegotiateOffer {
  const inside = req.method === 'GET' && kerberosInside(deps, req) && wantsHtml(req);
  if (!inside) return { inside: false, challenge: false, button: false, passwordOff: false };
  const marked = isMarkedSignedOut(deps, req, revokedSession);
  const sso = req.query.sso === '1' && ssoAskedHere(deps, req);
  return { inside, challenge: !marked || sso, button: marked && !sso, passwordOff: passwordFormOff(deps, req) };
}

/** `/_gateway/login?sso=1&next=…`: the button's target. */
export function windowsSignInHref(next: string, lang?: string): string {
  const q = new URLSearchParams({ sso: '1' });
  if (next !== '/') q.set('next', next);
  if (lang) q.set('lang', lang);
  return `/_gateway/login?${q.toString()}`;
}
