// The few answers the gateway writes itself instead of relaying Sentry's: login redirects and the "sign in first" 401.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

export const LOGIN_PATH = '/_gateway/login';
export const LOGOUT_PATH = '/_gateway/logout';
/** The second-factor step after the password. */
export const MFA_PATH = '/_gateway/mfa';
export const AUTH_REQUIRED_JSON = { error: 'authentication_required', login: LOGIN_PATH } as const;
const AUTH_REQUIRED_BODY = JSON.stringify(AUTH_REQUIRED_JSON);

/** Only same-origin paths may become `next`; anything else is dropped rather than trusted. */
export function safeNext(next: string | null | undefined): string | undefined {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return undefined;
  return /[\x00-\x1f\x7f]/.test(next) ? undefined : next;
}

export function loginUrl(next?: string): string {
  const safe = safeNext(next);
  return safe === undefined ? LOGIN_PATH : `${LOGIN_PATH}?next=${encodeURIComponent(safe)}`;
}

/** Where Sentry's own `/auth/login/?next=…` should send the browser instead. */
export function loginUrlFromQuery(query: string): string {
  return loginUrl(new URLSearchParams(query).get('next') ?? undefined);
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { Location: location, 'Content-Length': '0', 'Cache-Control': 'no-store' });
  res.end();
}

/** Browsers navigating get the login page; XHRs and tools get a 401 they can act on (docs/design.md §6). */
export function wantsLoginPage(method: string | undefined, accept: string | undefined): boolean {
  return (method === 'GET' || method === 'HEAD') && (accept ?? '').includes('text/html');
}

export function mfaUrl(next?: string): string {
  const safe = safeNext(next);
  return safe === undefined ? MFA_PATH : `${MFA_PATH}?next=${encodeURIComponent(safe)}`;
}

/** The "sign in first" 401 for XHRs and tools (a page load gets a redirect instead: decideRequest's `signIn`). */
export function authRequiredJson(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(401, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(AUTH_REQUIRED_BODY)),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : AUTH_REQUIRED_BODY);
}

/** Answers on a raw upgrade socket (no ServerResponse exists there) and closes it. */
export function replyOnSocket(socket: Duplex, status: number, body: object): void {
  if (socket.destroyed) return;
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      'Connection: close\r\n\r\n' +
      text,
  );
}
