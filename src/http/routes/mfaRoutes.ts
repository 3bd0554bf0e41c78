// The second-factor step after the password (`/_gateway/mfa`) and adding a factor (`/_gateway/mfa/enrol`), with their JSON
// endpoints for WebAuthn. Both end in a NEW session id whose `amr` says which factor passed.
import type { NextFunction, Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import { validFactorName, type Factor } from '../../mfa/factorStore.js';
import type { AuthMethod } from '../../session/signInFacts.js';
import { PENDING_SECOND_FACTOR_MS, type GatewaySessionFields, type Identity } from '../../session/identity.js';
import type { SessionLookup } from '../../session/sessionResolver.js';
import { csrfTokenForResponse, type CsrfOptions } from '../csrfMiddleware.js';
import { errorMessage, format, messages, otherLangHref, type Lang } from '../i18n.js';
import { formError, jsonCode, langOf } from '../errorResponse.js';
import { MAX_PASSWORD } from '../../auth/loginService.js';
import { renderPage } from '../render.js';
import { safeNext } from '../safeNext.js';
import { readCookie } from '../../shared/cookies.js';
import { startSession } from './startSession.js';

/** A factor passed this recently counts as current: enough to add another one without asking again. */
export const CURRENT_FACTOR_MS = 10 * 60_000;
/** Where an admin's enrolment link waits while the person signs in (never in a URL after the first request). */
export const ENROL_LINK_COOKIE = 'sag_mfa_link';
const ENROL_PATH = '/_gateway/mfa/enrol';
export const ENROL_PASSWORD_PATH = '/_gateway/mfa/enrol/password';

type Session = Extract<SessionLookup, { status: 'ok' | 'pending' }>;

const withNext = (path: string, next: string) => (next === '/' ? path : `${path}?next=${encodeURIComponent(next)}`);

function mfaOf(deps: Deps) {
  if (!deps.mfa) throw new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'second factors need Redis');
  return deps.mfa;
}

/** The session behind the request, or the answer already given (sign-in page, outage). */
async function sessionOf(deps: Deps, req: Request, res: Response, next: string, fail: NextFunction, json = false): Promise<Session | undefined> {
  const found = await deps.resolver.lookup(req);
  if (found.status === 'unavailable') {
    fail(new GatewayError(found.what === 'directory' ? 'GW_DIRECTORY_UNAVAILABLE' : 'GW_SESSION_STORE_UNAVAILABLE'));
    return undefined;
  }
  if (found.status === 'none') {
    if (json) res.status(401).json({ error: 'authentication_required', login: '/_gateway/login' });
    else res.redirect(303, withNext('/_gateway/login', next));
    return undefined;
  }
  return found;
}

/** A POSTed form: its fields, its `next` (made safe), and the session it is for; undefined once sessionOf has answered. */
async function postedForm(deps: Deps, req: Request, res: Response, fail: NextFunction, json = false): Promise<{ body: Record<string, unknown>; next: string; s: Session } | undefined> {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const next = safeNext(body.next, deps.config.server.publicUrl);
  const s = await sessionOf(deps, req, res, next, fail, json);
  return s ? { body, next, s } : undefined;
}

const isCurrent = (deps: Deps, s: Session) => s.status === 'ok' && s.record.mfaAt !== undefined && deps.clock.now() - s.record.mfaAt < CURRENT_FACTOR_MS;

function pageError(lang: Lang, err: GatewayError) {
  const retry = err.headers['Retry-After'];
  return {
    code: jsonCode(err),
    message: err.code === 'GW_BAD_REQUEST' ? err.message : errorMessage(lang, err.code),
    retryText: retry ? format(messages(lang).retryAfter, { seconds: retry }) : undefined,
  };
}

function sendPage(res: Response, status: number, headers: Record<string, string>, html: string): void {
  res.status(status);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Cache-Control', 'no-store');
  res.type('html').send(html);
}

function sendJsonError(req: Request, res: Response, e: unknown): void {
  const err = isGatewayError(e) ? e : new GatewayError('GW_INTERNAL', 'second factor failed', { cause: e });
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.setHeader('Cache-Control', 'no-store');
  res.status(err.status).json({ error: jsonCode(err), message: err.code === 'GW_BAD_REQUEST' ? err.message : errorMessage(langOf(req), err.code) });
}

function renderStep(deps: Deps, csrf: CsrfOptions, req: Request, res: Response, factors: Factor[], next: string, error?: GatewayError, recoveryOpen = false): void {
  const lang = langOf(req);
  const t = messages(lang);
  const html = renderPage('mfa', {
    lang,
    title: t.mfaTitle,
    heading: t.mfaTitle,
    csrfToken: csrfTokenForResponse(req, res, csrf),
    next,
    webauthn: Boolean(deps.mfa?.webauthn) && factors.some((f) => f.kind === 'webauthn'),
    totp: factors.some((f) => f.kind === 'totp'),
    recoveryOpen: recoveryOpen || !factors.some((f) => f.kind === 'totp'),
    langQuery: typeof req.query.lang === 'string' ? lang : undefined,
    otherLangHref: otherLangHref('/_gateway/mfa', lang, next),
    error: error ? pageError(lang, error) : undefined,
  });
  sendPage(res, error?.status ?? 200, error?.headers ?? {}, html);
}

/** The factor passed: a NEW session id (nothing cached for the old one carries over), `amr` naming the factor, `mfaAt` now. */
function passed(deps: Deps, req: Request, s: Session, method: Exclude<AuthMethod, 'pwd' | 'wia' | 'mfa'>, fail: NextFunction, then: () => void): void {
  const now = deps.clock.now();
  const rec = s.record;
  const fields: GatewaySessionFields = {
    authenticatedAt: rec.authenticatedAt ?? now,
    // A Kerberos sign-in typed no password: the factor does not make it one.
    ...(rec.amr?.includes('wia') ? {} : { passwordCheckedAt: rec.passwordCheckedAt ?? rec.authenticatedAt ?? now }),
    mfaAt: now,
    // The first factor stays as it was: a Kerberos sign-in (`wia`) with a factor is not a typed password.
    amr: [rec.amr?.includes('wia') ? 'wia' : 'pwd', method, 'mfa'],
    revalidatedAt: rec.revalidatedAt ?? now,
    lastSeenAt: now,
    clientAddress: deps.addressOf(req),
    userAgent: (req.headers['user-agent'] ?? '').slice(0, 200),
  };
  startSession(deps, req, s.identity, fields, s.sessionId, fail, then);
}

export function showMfa(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const next = safeNext(req.query.next, deps.config.server.publicUrl);
    const s = await sessionOf(deps, req, res, next, fail);
    if (!s) return;
    const factors = deps.mfa ? await deps.mfa.store.list(s.identity.sub) : [];
    // Fully signed in with nothing enrolled: nothing to ask, unless the policy now asks this person for a factor from
    // here (then enrolment, which allows it or explains how; never straight back to a page that sends here again).
    if (s.status === 'ok' && factors.length === 0 && !(deps.mfa?.decide({ groups: s.identity.groups, address: deps.addressOf(req), factors: [] }).required ?? false)) return res.redirect(303, next);
    // Fully signed in: ask only to refresh a factor that is not current (adding another one needs that).
    if (s.status === 'ok' && factors.length > 0 && isCurrent(deps, s)) return res.redirect(303, next);
    // Nothing to check yet: enrol first (straight there when that is where the person was going, e.g. from a link).
    if (factors.length === 0) return res.redirect(303, next === ENROL_PATH || next.startsWith(`${ENROL_PATH}?`) ? next : withNext(ENROL_PATH, next));
    renderStep(deps, csrf, req, res, factors, next);
  };
}

/** A TOTP code (`code`) or a recovery code (`recovery`), counted in the second-factor throttle, never against AD. */
export function submitMfa(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const posted = await postedForm(deps, req, res, fail);
    if (!posted) return;
    const { body, next, s } = posted;
    const mfa = mfaOf(deps);
    const factors = await mfa.store.list(s.identity.sub);
    if (factors.length === 0) return res.redirect(303, withNext(ENROL_PATH, next));
    const code = typeof body.code === 'string' ? body.code.trim().slice(0, 64) : '';
    const recovery = typeof body.recovery === 'string' ? body.recovery.trim().slice(0, 64) : '';
    const t = messages(langOf(req));
    if (!code && !recovery) return renderStep(deps, csrf, req, res, factors, next, new GatewayError('GW_BAD_REQUEST', t.mfaMissing));
    const address = deps.addressOf(req);
    let kind: 'totp' | 'recovery';
    let left: number | undefined;
    try {
      if (code) {
        kind = 'totp';
        await mfa.totp.verify(s.identity.sub, code);
      } else {
        kind = 'recovery';
        left = (await mfa.totp.recover(s.identity.sub, recovery)).left;
      }
    } catch (e) {
      const err = isGatewayError(e) ? e : new GatewayError('GW_INTERNAL', 'second factor failed', { cause: e });
      if (err.code === 'GW_INTERNAL') deps.logger.error({ err: (e as Error | undefined)?.message }, 'second factor failed unexpectedly');
      deps.audit.record({ kind: 'mfa.failure', user: s.identity.username, address, reason: err.code === 'GW_THROTTLED' ? 'throttled' : code ? 'totp_invalid' : 'recovery_invalid' });
      return renderStep(deps, csrf, req, res, factors, next, err, !code);
    }
    deps.audit.record({ kind: 'mfa.success', user: s.identity.username, address, detail: { method: kind, ...(left !== undefined ? { recoveryCodesLeft: left } : {}) } });
    passed(deps, req, s, 'otp', fail, () => res.redirect(303, next));
  };
}

export function webauthnSignInOptions(deps: Deps) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const next = safeNext((req.body as Record<string, unknown> | undefined)?.next, deps.config.server.publicUrl);
    const s = await sessionOf(deps, req, res, next, fail, true);
    if (!s) return;
    try {
      const webauthn = mfaOf(deps).webauthn;
      if (!webauthn) throw new GatewayError('GW_NOT_FOUND');
      res.setHeader('Cache-Control', 'no-store');
      res.json(await webauthn.authenticationOptions(s.identity.sub));
    } catch (e) {
      sendJsonError(req, res, e);
    }
  };
}

export function webauthnSignInVerify(deps: Deps) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const posted = await postedForm(deps, req, res, fail, true);
    if (!posted) return;
    const { body, next, s } = posted;
    const address = deps.addressOf(req);
    let amr: 'hwk' | 'swk';
    try {
      const webauthn = mfaOf(deps).webauthn;
      if (!webauthn) throw new GatewayError('GW_NOT_FOUND');
      amr = (await webauthn.verifyAuthentication(s.identity.sub, body.response as never)).amr;
    } catch (e) {
      deps.audit.record({ kind: 'mfa.failure', user: s.identity.username, address, reason: isGatewayError(e) && e.code === 'GW_THROTTLED' ? 'throttled' : 'webauthn_invalid' });
      return sendJsonError(req, res, e);
    }
    deps.audit.record({ kind: 'mfa.success', user: s.identity.username, address, detail: { method: 'webauthn', amr } });
    passed(deps, req, s, amr, fail, () => {
      res.setHeader('Cache-Control', 'no-store');
      res.json({ next });
    });
  };
}

// ---------------------------------------------------------------- enrolment

type EnrolRight = { ok: true; first: boolean; via: 'network' | 'link' | 'current_factor' } | { ok: false; needFactor: boolean; needPassword?: true };

/** Only a sign-in that typed the password says `pwd`; a Kerberos one says `wia`, and a record without `amr` proves nothing. */
const typedPassword = (s: Session) => s.record.amr?.includes('pwd') === true;

/**
 * A first factor: from an `mfa.enrolFrom` network (a session that typed no password types it first), or with an
 * admin's one-time link that is real (spent, atomically, after the code or attestation verified and BEFORE the factor
 * is written: no factor ever exists for an unspent link). A further factor: only with a current second factor
 * (`CURRENT_FACTOR_MS`), never from a password-only session.
 */
async function enrolRight(deps: Deps, req: Request, s: Session): Promise<EnrolRight> {
  const mfa = mfaOf(deps);
  const kinds = await mfa.store.kinds(s.identity.sub);
  if (kinds.length > 0) return isCurrent(deps, s) ? { ok: true, first: false, via: 'current_factor' } : { ok: false, needFactor: true };
  const d = mfa.decide({ groups: s.identity.groups, address: deps.addressOf(req), factors: kinds, typedPassword: typedPassword(s) });
  const e = d.enrolment;
  const byNetwork = e.kind === 'first' && e.withoutLink;
  if (e.kind === 'first' && e.withoutLink && !e.afterPassword) return { ok: true, first: true, via: 'network' };
  // A link gives the right only while it is real: known, naming this person, not expired (checked, not spent, here).
  if (await mfa.links.check(linkIn(req), s.identity.sub)) return { ok: true, first: true, via: 'link' };
  return byNetwork ? { ok: false, needFactor: false, needPassword: true } : { ok: false, needFactor: false };
}

/** The password step a Kerberos session passes before enrolling from the network: the re-authentication page's form, posted here. */
function renderEnrolPassword(deps: Deps, csrf: CsrfOptions, req: Request, res: Response, s: Session, next: string, error?: GatewayError): void {
  const lang = langOf(req);
  const t = messages(lang);
  const html = renderPage('reauth', {
    lang,
    title: t.reauthTitle,
    heading: t.reauthTitle,
    lead: t.enrolPasswordLead,
    action: ENROL_PASSWORD_PATH,
    csrfToken: csrfTokenForResponse(req, res, csrf),
    next,
    username: s.identity.username,
    langQuery: typeof req.query.lang === 'string' ? lang : undefined,
    otherLangHref: otherLangHref(ENROL_PATH, lang, next),
    error: error ? formError(lang, error) : undefined,
  });
  sendPage(res, error?.status ?? 200, error?.headers ?? {}, html);
}

/**
 * The AD password for a session that typed none, checked on the sign-in's own path as a re-authentication (throttle,
 * AD, access policy, audit). It must be the session's own account. Success moves the person to a NEW session id that
 * says `pwd`, still owing its second factor if it did, and back to enrolment.
 */
export function submitEnrolPassword(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const posted = await postedForm(deps, req, res, fail);
    if (!posted) return;
    const { body, next, s } = posted;
    const right = await enrolRight(deps, req, s);
    if (right.ok || !right.needPassword) return res.redirect(303, withNext(ENROL_PATH, next));
    const password = typeof body.password === 'string' ? body.password : '';
    const t = messages(langOf(req));
    if (!password) return renderEnrolPassword(deps, csrf, req, res, s, next, new GatewayError('GW_BAD_REQUEST', t.reauthMissing));
    if (password.length > MAX_PASSWORD) return renderEnrolPassword(deps, csrf, req, res, s, next, new GatewayError('GW_BAD_REQUEST', t.tooLong));
    const address = deps.addressOf(req);
    let identity: Identity;
    try {
      identity = await deps.login.login(s.identity.username, password, address, { reauth: true });
    } catch (e) {
      const err = isGatewayError(e) ? e : new GatewayError('GW_INTERNAL', 're-authentication failed', { cause: e });
      if (err.code === 'GW_INTERNAL') deps.logger.error({ err: (e as Error | undefined)?.message }, 're-authentication failed unexpectedly');
      return renderEnrolPassword(deps, csrf, req, res, s, next, err);
    }
    if (identity.sub !== s.identity.sub) {
      deps.audit.record({ kind: 'reauth.refused', user: s.identity.username, address, reason: 'account_mismatch' });
      return renderEnrolPassword(deps, csrf, req, res, s, next, new GatewayError('GW_REAUTH_ACCOUNT_MISMATCH'));
    }
    const now = deps.clock.now();
    const rec = s.record;
    const fields: GatewaySessionFields = {
      authenticatedAt: rec.authenticatedAt ?? now,
      passwordCheckedAt: now,
      amr: ['pwd'],
      revalidatedAt: now,
      lastSeenAt: now,
      clientAddress: address,
      userAgent: (req.headers['user-agent'] ?? '').slice(0, 200),
      ...(rec.pendingSecondFactor ? { pendingSecondFactor: rec.pendingSecondFactor } : {}),
      ...(rec.enrolLink ? { enrolLink: rec.enrolLink } : {}),
    };
    startSession(deps, req, identity, fields, s.sessionId, fail, () => res.redirect(303, withNext(ENROL_PATH, next)));
  };
}

/** The link kept in this session: read from the record express-session loaded for this request, never a cached copy. */
const linkIn = (req: Request): string | undefined => (req.session as Partial<GatewaySessionFields> | undefined)?.enrolLink;

/** The link's token moves from the URL (or the cookie that kept it over the sign-in) into the session record. */
function keepLink(req: Request, token: string, then: (err?: unknown) => void): void {
  Object.assign(req.session, { enrolLink: token.slice(0, 128) } satisfies GatewaySessionFields);
  req.session.save(then);
}

export function showEnrol(deps: Deps, csrf: CsrfOptions, secure: boolean) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const next = safeNext(req.query.next, deps.config.server.publicUrl);
    const cookieOpts = { httpOnly: true, sameSite: 'lax' as const, secure, path: ENROL_PATH };
    const linkInUrl = typeof req.query.link === 'string' ? req.query.link.slice(0, 128) : undefined;
    const found = await deps.resolver.lookup(req);
    if (found.status === 'unavailable') return fail(new GatewayError('GW_SESSION_STORE_UNAVAILABLE'));
    if (linkInUrl !== undefined) {
      // The token leaves the URL at once: kept in the session (or a cookie until sign-in), then a link-free redirect.
      if (found.status === 'none') {
        res.cookie(ENROL_LINK_COOKIE, linkInUrl, { ...cookieOpts, maxAge: 30 * 60_000 });
        return res.redirect(303, withNext('/_gateway/login', withNext(ENROL_PATH, next)));
      }
      return keepLink(req, linkInUrl, (err) => (err ? fail(new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'session not saved', { cause: err })) : res.redirect(303, withNext(ENROL_PATH, next))));
    }
    if (found.status === 'none') return res.redirect(303, withNext('/_gateway/login', withNext(ENROL_PATH, next)));
    const kept = readCookie(req.headers.cookie, ENROL_LINK_COOKIE);
    if (kept) {
      res.clearCookie(ENROL_LINK_COOKIE, cookieOpts);
      return keepLink(req, kept, (err) => (err ? fail(new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'session not saved', { cause: err })) : res.redirect(303, withNext(ENROL_PATH, next))));
    }
    const right = await enrolRight(deps, req, found);
    const lang = langOf(req);
    const t = messages(lang);
    if (!right.ok) {
      if (right.needFactor) return res.redirect(303, withNext('/_gateway/mfa', withNext(ENROL_PATH, next)));
      if (right.needPassword) return renderEnrolPassword(deps, csrf, req, res, found, next);
      const html = renderPage('message', { lang, title: t.enrolRefusedTitle, heading: t.enrolRefusedTitle, message: t.enrolRefused, link: { href: '/_gateway/logout', label: t.mfaCancel } });
      return sendPage(res, 403, {}, html);
    }
    await renderEnrol(deps, csrf, req, res, found, next, right.first);
  };
}

async function renderEnrol(deps: Deps, csrf: CsrfOptions, req: Request, res: Response, s: Session, next: string, first: boolean, error?: GatewayError, keepSeed = false): Promise<void> {
  const mfa = mfaOf(deps);
  const lang = langOf(req);
  const t = messages(lang);
  const methods = deps.config.mfa.methods;
  // A fresh seed per showing (only the one last shown can be confirmed), except after a refused name: the seed the
  // person already scanned stays, for the same code again.
  const label = s.identity.email || s.identity.username;
  const totp = methods.includes('totp') ? ((keepSeed ? await mfa.totp.pending(s.identity.sub, label) : undefined) ?? (await mfa.totp.begin(s.identity.sub, label))) : undefined;
  const html = renderPage('mfaEnrol', {
    lang,
    title: t.enrolTitle,
    heading: t.enrolTitle,
    lead: first ? t.enrolLead : t.enrolFurtherLead,
    csrfToken: csrfTokenForResponse(req, res, csrf),
    next,
    webauthn: Boolean(mfa.webauthn),
    totp: totp ? { secret: totp.secret.replace(/(.{4})(?=.)/g, '$1 '), uri: totp.uri } : undefined,
    langQuery: typeof req.query.lang === 'string' ? lang : undefined,
    otherLangHref: otherLangHref(ENROL_PATH, lang, next),
    error: error ? pageError(lang, error) : undefined,
  });
  // The page holds a secret: never cached, never sent on as a Referer (pages say same-origin).
  sendPage(res, error?.status ?? 200, error?.headers ?? {}, html);
}

/** What runs between verifying a new factor and writing it: a link the enrolment relied on is spent, atomically. */
function spendLink(deps: Deps, req: Request, s: Session, right: Extract<EnrolRight, { ok: true }>): (() => Promise<void>) | undefined {
  if (right.via !== 'link') return undefined;
  const token = linkIn(req) ?? '';
  return async () => {
    await mfaOf(deps).links.consume(token, s.identity.sub, deps.addressOf(req));
  };
}

/** The factor's name as it will be stored, checked before anything (a seed, a challenge, a link) is spent on it. */
function factorName(lang: Lang, raw: unknown, fallback: string): string {
  const name = typeof raw === 'string' && raw.trim() ? raw.slice(0, 200) : fallback;
  try {
    return validFactorName(name);
  } catch {
    throw new GatewayError('GW_BAD_REQUEST', messages(lang).enrolNameInvalid);
  }
}

/** After a factor is stored: audited, the first factor brings recovery codes. */
async function afterEnrol(deps: Deps, req: Request, s: Session, factor: Factor, right: Extract<EnrolRight, { ok: true }>): Promise<string[]> {
  const mfa = mfaOf(deps);
  deps.audit.record({ kind: 'mfa.enrolled', user: s.identity.username, address: deps.addressOf(req), detail: { kind: factor.kind, factorId: factor.id, via: right.via } });
  return right.first ? mfa.store.regenerateRecoveryCodes(s.identity.sub) : [];
}

export function submitEnrolTotp(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const posted = await postedForm(deps, req, res, fail);
    if (!posted) return;
    const { body, next, s } = posted;
    const right = await enrolRight(deps, req, s);
    if (!right.ok) return res.redirect(303, withNext(ENROL_PATH, next));
    const t = messages(langOf(req));
    const code = typeof body.code === 'string' ? body.code.trim().slice(0, 64) : '';
    if (!code) return renderEnrol(deps, csrf, req, res, s, next, right.first, new GatewayError('GW_BAD_REQUEST', t.mfaMissing));
    let name: string;
    try {
      name = factorName(langOf(req), body.name, t.enrolNameDefaultApp);
    } catch (e) {
      // The seed waiting for this code is kept: the person corrects the name and sends the same code again.
      return renderEnrol(deps, csrf, req, res, s, next, right.first, e as GatewayError, true);
    }
    let codes: string[];
    try {
      const factor = await mfaOf(deps).totp.confirm(s.identity.sub, code, name, spendLink(deps, req, s, right));
      codes = await afterEnrol(deps, req, s, factor, right);
    } catch (e) {
      const err = isGatewayError(e) ? e : new GatewayError('GW_INTERNAL', 'enrolment failed', { cause: e });
      deps.audit.record({ kind: 'mfa.failure', user: s.identity.username, address: deps.addressOf(req), reason: `enrol_${jsonCode(err)}` });
      return renderEnrol(deps, csrf, req, res, s, next, right.first, err);
    }
    passed(deps, req, s, 'otp', fail, () => {
      const lang = langOf(req);
      const tt = messages(lang);
      sendPage(res, 200, {}, renderPage('mfaDone', { lang, title: tt.enrolDoneTitle, heading: tt.enrolDoneTitle, codes, next }));
    });
  };
}

export function webauthnEnrolOptions(deps: Deps) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const next = safeNext((req.body as Record<string, unknown> | undefined)?.next, deps.config.server.publicUrl);
    const s = await sessionOf(deps, req, res, next, fail, true);
    if (!s) return;
    try {
      const right = await enrolRight(deps, req, s);
      if (!right.ok) throw new GatewayError(right.needFactor ? 'GW_SECOND_FACTOR_REQUIRED' : 'GW_MFA_LINK_INVALID');
      const webauthn = mfaOf(deps).webauthn;
      if (!webauthn) throw new GatewayError('GW_NOT_FOUND');
      res.setHeader('Cache-Control', 'no-store');
      res.json(await webauthn.registrationOptions(s.identity.sub, { userName: s.identity.username, displayName: s.identity.name || s.identity.username }));
    } catch (e) {
      sendJsonError(req, res, e);
    }
  };
}

export function webauthnEnrolVerify(deps: Deps) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const posted = await postedForm(deps, req, res, fail, true);
    if (!posted) return;
    const { body, next, s } = posted;
    let codes: string[];
    let amr: 'hwk' | 'swk';
    try {
      const right = await enrolRight(deps, req, s);
      if (!right.ok) throw new GatewayError(right.needFactor ? 'GW_SECOND_FACTOR_REQUIRED' : 'GW_MFA_LINK_INVALID');
      const webauthn = mfaOf(deps).webauthn;
      if (!webauthn) throw new GatewayError('GW_NOT_FOUND');
      const name = factorName(langOf(req), body.name, messages(langOf(req)).enrolNameDefaultKey);
      const factor = await webauthn.verifyRegistration(s.identity.sub, body.response as never, name, spendLink(deps, req, s, right));
      amr = factor.amr;
      codes = await afterEnrol(deps, req, s, factor, right);
    } catch (e) {
      deps.audit.record({ kind: 'mfa.failure', user: s.identity.username, address: deps.addressOf(req), reason: isGatewayError(e) && e.code === 'GW_THROTTLED' ? 'throttled' : 'enrol_webauthn_invalid' });
      return sendJsonError(req, res, e);
    }
    passed(deps, req, s, amr, fail, () => {
      res.setHeader('Cache-Control', 'no-store');
      res.json({ next, codes });
    });
  };
}

/** The password-only state a sign-in or re-authentication leaves when a factor must follow. */
export function pendingFields(deps: Deps, reason: 'enrolled' | 'policy', reauth = false): Pick<GatewaySessionFields, 'pendingSecondFactor'> {
  return { pendingSecondFactor: { until: deps.clock.now() + PENDING_SECOND_FACTOR_MS, reason, ...(reauth ? { reauth: true } : {}) } };
}
