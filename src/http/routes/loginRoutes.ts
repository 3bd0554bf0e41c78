// GET shows the sign-in form; POST checks the password against AD and starts a fresh session.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuthenticateOptions } from 'passport';
import type { Deps } from '../../compositionRoot.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import { MAX_PASSWORD, MAX_USERNAME } from '../../auth/loginService.js';
import type { Identity } from '../../session/identity.js';
import { csrfTokenForResponse, type CsrfOptions } from '../csrfMiddleware.js';
import { format, messages, usernameHint, type Lang } from '../i18n.js';
import { formError, langOf } from '../errorResponse.js';
import { renderPage } from '../render.js';
import { safeNext } from '../safeNext.js';
import { mfaUrl } from '../../proxy/gatewayReplies.js';
import { noSecondFactorsYet, type SecondFactorStep } from '../../auth/secondFactorGate.js';
import { pendingFields } from './mfaRoutes.js';
import { startSession } from './startSession.js';

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
}

function otherLangHref(req: Request, lang: Lang, next: string): string {
  const q = new URLSearchParams({ lang: lang === 'en' ? 'zh-CN' : 'en' });
  if (next !== '/') q.set('next', next);
  return `/_gateway/login?${q.toString()}`;
}

export function renderLogin(deps: Deps, csrf: CsrfOptions, req: Request, res: Response, state: FormState): void {
  const lang = langOf(req);
  const t = messages(lang);
  const heading = format(t.signInTitle, { org: deps.config.server.organizationName });
  const err = state.error;
  const queryLang = typeof req.query.lang === 'string' ? lang : undefined;
  res.status(err?.status ?? 200);
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
      otherLangHref: otherLangHref(req, lang, state.next),
      error: formError(lang, err),
    }),
  );
}

export function showLogin(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const next = safeNext(req.query.next, deps.config.server.publicUrl);
    // Someone already signed in who follows a stale login link goes straight on.
    const current = await deps.resolver.lookup(req).catch(() => null);
    if (current?.status === 'ok') return res.redirect(303, next);
    if (current?.status === 'pending') return res.redirect(303, mfaUrl(next));
    renderLogin(deps, csrf, req, res, { next });
  };
}

export function submitLogin(deps: Deps, csrf: CsrfOptions, authenticate: Authenticate) {
  return (req: Request, res: Response, nextFn: NextFunction): void => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next, deps.config.server.publicUrl);
    const username = typeof body.username === 'string' ? body.username.trim() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const lang = langOf(req);
    const t = messages(lang);
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

function startSignedIn(deps: Deps, req: Request, res: Response, nextFn: NextFunction, identity: Identity, next: string, step: SecondFactorStep | null): void {
  const now = deps.clock.now();
  // A new session id (an id planted before sign-in is worthless after it), indexed before it is usable.
  startSession(
    deps,
    req,
    identity,
    {
      authenticatedAt: now,
      passwordCheckedAt: now,
      amr: ['pwd'],
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
