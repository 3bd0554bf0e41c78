// GET asks the signed-in person for their AD password again; POST checks it and moves the session to a new id.
import type { NextFunction, Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import { MAX_PASSWORD } from '../../auth/loginService.js';
import type { SecondFactorGate, SecondFactorStep } from '../../auth/secondFactorGate.js';
import { mfaUrl } from '../../proxy/gatewayReplies.js';
import { pendingFields } from './mfaRoutes.js';
import { startSession } from './startSession.js';
import type { GatewaySessionFields, Identity } from '../../session/identity.js';
import type { SessionLookup } from '../../session/sessionResolver.js';
import { csrfTokenForResponse, type CsrfOptions } from '../csrfMiddleware.js';
import { format, messages, otherLangHref } from '../i18n.js';
import { formError, langOf } from '../errorResponse.js';
import { renderPage } from '../render.js';
import { safeNext } from '../safeNext.js';

type Found = Extract<SessionLookup, { status: 'ok' }>;

function loginRedirect(res: Response, next: string): void {
  res.redirect(303, `/_gateway/login?next=${encodeURIComponent(next)}`);
}

function renderReauth(deps: Deps, csrf: CsrfOptions, req: Request, res: Response, found: Found, next: string, error?: GatewayError): void {
  const lang = langOf(req);
  const t = messages(lang);
  res.status(error?.status ?? 200);
  for (const [k, v] of Object.entries(error?.headers ?? {})) res.setHeader(k, v);
  res.setHeader('Cache-Control', 'no-store');
  res.type('html').send(
    renderPage('reauth', {
      lang,
      title: t.reauthTitle,
      heading: t.reauthTitle,
      lead: format(t.reauthLead, { org: deps.config.server.organizationName }),
      csrfToken: csrfTokenForResponse(req, res, csrf),
      next,
      username: found.identity.username,
      langQuery: typeof req.query.lang === 'string' ? lang : undefined,
      otherLangHref: otherLangHref('/_gateway/reauth', lang, next, true),
      error: formError(lang, error),
    }),
  );
}

/** The signed-in session behind the request, or a redirect to the sign-in page (answered here). */
async function signedIn(deps: Deps, req: Request, res: Response, next: string, fail: NextFunction): Promise<Found | undefined> {
  const found = await deps.resolver.lookup(req);
  if (found.status === 'unavailable') {
    fail(new GatewayError(found.what === 'directory' ? 'GW_DIRECTORY_UNAVAILABLE' : 'GW_SESSION_STORE_UNAVAILABLE'));
    return undefined;
  }
  if (found.status !== 'ok') {
    loginRedirect(res, next);
    return undefined;
  }
  return found;
}

export function showReauth(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const next = safeNext(req.query.next, deps.config.server.publicUrl);
    const found = await signedIn(deps, req, res, next, fail);
    if (found) renderReauth(deps, csrf, req, res, found, next);
  };
}

/**
 * The password goes through the sign-in's own path (throttle, AD, access policy), so a wrong one counts
 * exactly like a failed sign-in; never Kerberos. It must be the session's own account (objectGUID). A
 * second factor, where one must follow (`gate`), is asked before any session is made. Success moves the
 * person to a NEW session id (the old record is destroyed, and every cache keyed by it dropped) whose
 * `passwordCheckedAt` is now: the next assertion's `auth_time`. `authenticatedAt` keeps the absolute timeout.
 */
export function submitReauth(deps: Deps, csrf: CsrfOptions, gate: SecondFactorGate) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next, deps.config.server.publicUrl);
    const found = await signedIn(deps, req, res, next, fail);
    if (!found) return;
    const password = typeof body.password === 'string' ? body.password : '';
    const t = messages(langOf(req));
    if (!password) return renderReauth(deps, csrf, req, res, found, next, new GatewayError('GW_BAD_REQUEST', t.reauthMissing));
    if (password.length > MAX_PASSWORD) return renderReauth(deps, csrf, req, res, found, next, new GatewayError('GW_BAD_REQUEST', t.tooLong));
    const address = deps.addressOf(req);
    let identity: Identity;
    try {
      identity = await deps.login.login(found.identity.username, password, address, { reauth: true });
    } catch (e) {
      const err = isGatewayError(e) ? e : new GatewayError('GW_INTERNAL', 're-authentication failed', { cause: e });
      if (err.code === 'GW_INTERNAL') deps.logger.error({ err: (e as Error | undefined)?.message }, 're-authentication failed unexpectedly');
      return renderReauth(deps, csrf, req, res, found, next, err);
    }
    if (identity.sub !== found.identity.sub) {
      // The name now belongs to another AD account (renamed, or deleted and re-created): not this person.
      deps.audit.record({ kind: 'reauth.refused', user: found.identity.username, address, reason: 'account_mismatch' });
      return renderReauth(deps, csrf, req, res, found, next, new GatewayError('GW_REAUTH_ACCOUNT_MISMATCH'));
    }
    let step: SecondFactorStep | null;
    try {
      step = await gate(identity, address);
    } catch (e) {
      return fail(new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'second-factor policy not readable', { cause: e }));
    }
    // A factor must follow: the new session holds only the password until `/_gateway/mfa` is passed, which sets a fresh mfaAt.
    if (step) deps.audit.record({ kind: 'reauth.refused', user: identity.username, address, reason: `second_factor_${step.reason}` });
    moveToNewSession(deps, req, res, found, identity, next, fail, step);
  };
}

function moveToNewSession(deps: Deps, req: Request, res: Response, found: Found, identity: Identity, next: string, fail: NextFunction, step: SecondFactorStep | null): void {
  const now = deps.clock.now();
  const fields: GatewaySessionFields = {
    // The absolute timeout still counts from the sign-in.
    authenticatedAt: found.record.authenticatedAt ?? now,
    passwordCheckedAt: now,
    amr: ['pwd'],
    revalidatedAt: now,
    lastSeenAt: now,
    clientAddress: deps.addressOf(req),
    userAgent: (req.headers['user-agent'] ?? '').slice(0, 200),
    ...(step ? pendingFields(deps, step.reason, true) : {}),
  };
  startSession(deps, req, identity, fields, found.sessionId, fail, () => res.redirect(303, step ? mfaUrl(next) : next));
}
