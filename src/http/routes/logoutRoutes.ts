// GET asks for confirmation (a link must not sign anyone out); POST ends the gateway session and Sentry's cookies.
import type { NextFunction, Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { GatewayError } from '../../errors.js';
import { csrfTokenForResponse, type CsrfOptions } from '../csrfMiddleware.js';
import { format, messages } from '../i18n.js';
import { langOf } from '../errorResponse.js';
import { renderPage } from '../render.js';
import { gatewayCookieNames } from '../../shared/cookies.js';
import { markSignedOut } from './negotiateRoutes.js';

/** Sentry's own session, CSRF, superuser and sudo cookies: cleared so nothing of the old sign-in lingers. */
const SENTRY_COOKIES = ['sentrysid', 'sc', 'su', 'sudo'];

export function showLogout(deps: Deps, csrf: CsrfOptions) {
  return (req: Request, res: Response): void => {
    const lang = langOf(req);
    const t = messages(lang);
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(
      renderPage('message', {
        lang,
        title: t.signOutTitle,
        heading: t.signOutTitle,
        message: format(t.signOutQuestion, { org: deps.config.server.organizationName }),
        form: { action: '/_gateway/logout', csrfToken: csrfTokenForResponse(req, res, csrf), label: t.signOut, cancelHref: '/', cancelLabel: t.cancel },
      }),
    );
  };
}

export function submitLogout(deps: Deps, secure: boolean) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const found = await deps.resolver.lookup(req);
    if (found.status === 'unavailable') return next(new GatewayError('GW_SESSION_STORE_UNAVAILABLE'));
    const sid = deps.resolver.sessionIdFrom(req.headers.cookie);
    if (sid) {
      deps.resolver.forget(sid);
      deps.signer.forget(sid);
      deps.sockets.close([sid]);
    }
    const finish = (err?: unknown) => {
      if (err) return next(new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'session not ended', { cause: err }));
      if (found.status === 'ok' || found.status === 'pending') {
        deps.audit.record({ kind: 'logout', user: found.identity.username, address: deps.addressOf(req) });
        // Best effort: a stale index entry is also dropped the next time sessions are listed.
        void deps.sessions.remove(found.identity.sub, [found.sessionId]).catch(() => undefined);
        // Other replicas drop it from their caches now rather than within 2 s.
        void deps.sessions.announceEnded([found.sessionId]).catch(() => undefined);
      }
      res.clearCookie(gatewayCookieNames(deps.config.session.cookieName, deps.config.server.publicUrl).session, { path: '/', httpOnly: true, sameSite: 'lax', secure });
      for (const name of SENTRY_COOKIES) res.clearCookie(name, { path: '/' });
      // With Kerberos on, the sign-in page would sign this browser straight back in: it asks first from now on.
      if (deps.kerberos) markSignedOut(deps, res);
      const lang = langOf(req);
      const t = messages(lang);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Clear-Site-Data', '"cache"');
      res.type('html').send(
        renderPage('message', { lang, title: t.signOutTitle, heading: t.signOutTitle, message: t.signedOut, link: { href: '/_gateway/login', label: t.signInAgain } }),
      );
    };
    if (req.session) req.session.destroy(finish);
    else finish();
  };
}
