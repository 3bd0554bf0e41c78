// One place turns any error into what the client sees: an HTML page or JSON, by what the request accepts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, isGatewayError } from '../errors.js';
import { errorMessage, format, messages, pickLang } from './i18n.js';
import { renderPage } from './render.js';

export function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html');
}

export function publicError(e: unknown): GatewayError {
  return isGatewayError(e) ? e : new GatewayError('GW_INTERNAL');
}

export function jsonCode(err: GatewayError): string {
  return err.code.replace(/^GW_/, '').toLowerCase();
}

/** What a sign-in or re-authentication form shows for a refusal: the stable code, the message in the page's language, and when to retry. */
export function formError(lang: ReturnType<typeof pickLang>, err: GatewayError | undefined): { code: string; message: string; retryText?: string } | undefined {
  if (!err) return undefined;
  const retry = err.headers['Retry-After'];
  return {
    code: jsonCode(err),
    message: err.code === 'GW_BAD_REQUEST' ? err.message : errorMessage(lang, err.code),
    retryText: retry ? format(messages(lang).retryAfter, { seconds: retry }) : undefined,
  };
}

export function langOf(req: IncomingMessage) {
  // Only the query is read, never the whole target parsed as a URL: this also renders the 400 for
  // refused targets such as '//' or 'http://[', where new URL() throws and would take the process down.
  const url = req.url ?? '';
  const at = url.indexOf('?');
  const q = at === -1 ? null : new URLSearchParams(url.slice(at + 1)).get('lang');
  return pickLang(q ?? undefined, req.headers['accept-language']);
}

export function sendError(req: IncomingMessage, res: ServerResponse, e: unknown, requestId?: string): void {
  const err = publicError(e);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const lang = langOf(req);
  const message = errorMessage(lang, err.code);
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.setHeader('Cache-Control', 'no-store');
  res.statusCode = err.status;
  if (wantsHtml(req) && req.method !== 'HEAD') {
    const retry = err.headers['Retry-After'];
    const t = messages(lang);
    const body = renderPage('message', {
      lang,
      title: t.errorTitle,
      heading: t.errorTitle,
      message: retry ? `${message} ${format(t.retryAfter, { seconds: retry })}` : message,
      isError: true,
      code: jsonCode(err),
      requestId,
      link: err.status >= 500 || err.status === 404 ? { href: '/', label: t.backHome } : undefined,
    });
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'");
    res.end(body);
    return;
  }
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ error: jsonCode(err), message: errorMessage('en', err.code), ...(requestId ? { requestId } : {}) }));
}
