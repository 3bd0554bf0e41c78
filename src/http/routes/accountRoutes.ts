// `/_gateway/account`: a signed-in person's own second factors: list, rename, remove (never the last one the policy
// requires), new recovery codes (after a recent second factor). Every change audited; every check on the server.
import type { NextFunction, Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import type { Factor } from '../../mfa/factorStore.js';
import type { Mfa } from '../../mfa/buildMfa.js';
import type { MfaDecision } from '../../mfa/mfaPolicy.js';
import { secondFactorOwed } from '../../mfa/secondFactorOwed.js';
import type { StoredSession } from '../../session/sessionStore.js';
import type { SessionLookup } from '../../session/sessionResolver.js';
import { formatTime } from '../admin/adminContext.js';
import { csrfTokenForResponse, type CsrfOptions } from '../csrfMiddleware.js';
import { langOf } from '../errorResponse.js';
import { accountMessages, format, type AccountMessages } from '../i18n.js';
import { renderAccountPage } from '../render.js';

export const ACCOUNT_PATH = '/_gateway/account';
/** New recovery codes (and removing a factor) need a second factor passed this recently (else the step asks again). */
export const RECENT_FACTOR_MS = 10 * 60_000;

type Found = Extract<SessionLookup, { status: 'ok' }>;

interface Person {
  found: Found;
  mfa: Mfa;
  factors: Factor[];
  decision: MfaDecision;
}

/**
 * A session that still owes its second factor does not open this page (the second-factor step, or enrolment, comes
 * first): one the resolver reports as `pending` or whose record says so (`pendingSecondFactor`, written by the sign-in
 * step), and, whatever wrote it, one the policy asks a factor of that has not passed one (`amr` without `mfa`).
 */
export function awaitingSecondFactor(found: { status: string; record?: StoredSession }, decision?: MfaDecision): boolean {
  if (found.status === 'pending') return true;
  const record = found.record as (StoredSession & { pendingSecondFactor?: unknown }) | undefined;
  if (!record || record.pendingSecondFactor !== undefined) return true;
  return decision !== undefined && decision.required && !(record.amr ?? []).includes('mfa');
}

function recentFactor(deps: Deps, record: StoredSession): boolean {
  const at = record.mfaAt;
  const now = deps.clock.now();
  return typeof at === 'number' && at <= now && now - at <= RECENT_FACTOR_MS;
}

/** The full session behind the request with its factors and the policy's decision, or the response already sent. */
async function person(deps: Deps, req: Request, res: Response, fail: NextFunction): Promise<Person | undefined> {
  const found = await deps.resolver.lookup(req);
  if (found.status === 'unavailable') {
    fail(new GatewayError(found.what === 'directory' ? 'GW_DIRECTORY_UNAVAILABLE' : 'GW_SESSION_STORE_UNAVAILABLE'));
    return undefined;
  }
  const toStep = () => res.redirect(303, `/_gateway/mfa?next=${encodeURIComponent(ACCOUNT_PATH)}`);
  if ((found.status as string) === 'pending') {
    toStep();
    return undefined;
  }
  if (found.status !== 'ok') {
    res.redirect(303, `/_gateway/login?next=${encodeURIComponent(ACCOUNT_PATH)}`);
    return undefined;
  }
  if (awaitingSecondFactor(found)) {
    toStep();
    return undefined;
  }
  // Factors live only in Redis: without it there is nothing to manage.
  if (!deps.mfa) {
    fail(new GatewayError('GW_NOT_FOUND'));
    return undefined;
  }
  let factors: Factor[];
  try {
    factors = await deps.mfa.store.list(found.identity.sub);
  } catch (e) {
    // Without the person's factors nothing here can be decided: an outage, never an empty list.
    fail(new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'second factors not readable', { cause: e }));
    return undefined;
  }
  const decision = deps.mfa.decide({ groups: found.identity.groups, address: deps.addressOf(req), factors: factors.map((f) => f.kind) });
  if (secondFactorOwed(deps.mfa.decide, { groups: found.identity.groups, amr: found.record.amr, factors: factors.map((f) => f.kind) }, deps.addressOf(req))) {
    toStep();
    return undefined;
  }
  res.setHeader('Cache-Control', 'no-store');
  return { found, mfa: deps.mfa, factors, decision };
}

function policyLine(m: AccountMessages, d: MfaDecision): string {
  if (!d.required) return m.notRequired;
  const r = d.reason;
  const why = format((m as Record<string, string>)[`why_${r.code}`] ?? r.code, r.code === 'group' ? { group: r.group } : {});
  return format(m.required, { why });
}

async function render(deps: Deps, csrf: CsrfOptions, req: Request, res: Response, p: Person, extra: { notice?: string; error?: GatewayError; errorText?: string; codes?: string[] } = {}): Promise<void> {
  const lang = langOf(req);
  const m = accountMessages(lang);
  const chosen = typeof req.query.lang === 'string' ? lang : undefined;
  const action = `${ACCOUNT_PATH}${chosen ? `?lang=${chosen}` : ''}`;
  const token = csrfTokenForResponse(req, res, csrf);
  const left = p.factors.length ? await p.mfa.store.recoveryCodesLeft(p.found.identity.sub) : 0;
  const identity = p.found.identity;
  res.status(extra.error?.status ?? 200);
  res.type('html').send(
    renderAccountPage({
      lang,
      title: m.title,
      org: deps.config.server.organizationName,
      signedInAs: format(m.signedInAs, { name: identity.name || identity.username }),
      otherLangHref: `${ACCOUNT_PATH}?lang=${lang === 'en' ? 'zh-CN' : 'en'}`,
      lead: format(m.lead, { org: deps.config.server.organizationName }),
      // Said for anywhere (an unknown address is outside every network), not only for where this page was opened from.
      policy: policyLine(m, p.mfa.decide({ groups: identity.groups, address: undefined, factors: p.factors.map((f) => f.kind) })),
      notice: extra.notice,
      error: extra.errorText,
      errorCode: extra.error?.code,
      codes: extra.codes ?? [],
      action,
      csrfToken: token,
      addHref: `/_gateway/mfa/enrol?next=${encodeURIComponent(ACCOUNT_PATH)}`,
      hasFactors: p.factors.length > 0,
      recoveryLeft: left ? format(m.recoveryLeft, { count: left }) : m.recoveryNone,
      factors: p.factors.map((f) => ({
        id: f.id,
        name: f.name,
        kindLabel: (m as Record<string, string>)[`kind_${f.kind}`] ?? f.kind,
        added: formatTime(f.createdAt),
        lastUsed: f.lastUsedAt ? formatTime(f.lastUsedAt) : m.never,
        renameLabel: format(m.renameLabel, { name: f.name }),
        removeLabel: format(m.removeLabel, { name: f.name }),
      })),
    }),
  );
}

export function showAccount(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const p = await person(deps, req, res, fail);
    if (!p) return;
    const m = accountMessages(langOf(req));
    // The notice names the factor from the person's own list, never text from the URL (a crafted link could say anything).
    const done = typeof req.query.done === 'string' ? req.query.done : '';
    const renamed = done === 'renamed' ? p.factors.find((f) => f.id === req.query.factor) : undefined;
    const notice = renamed ? format(m.renamed, { name: renamed.name }) : done === 'removed' ? m.removed : undefined;
    await render(deps, csrf, req, res, p, { notice });
  };
}

/** One form, three actions: `rename` (factor, name), `remove` (factor), `recovery`. */
export function submitAccount(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response, fail: NextFunction): Promise<void> => {
    const p = await person(deps, req, res, fail);
    if (!p) return;
    const lang = langOf(req);
    const m = accountMessages(lang);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const str = (k: string, max: number) => (typeof body[k] === 'string' ? (body[k] as string).slice(0, max) : '');
    const action = str('action', 16);
    const { identity } = p.found;
    const guid = identity.sub;
    const address = deps.addressOf(req);
    const back = (params: Record<string, string>) => {
      const q = new URLSearchParams(params);
      if (typeof req.query.lang === 'string') q.set('lang', lang);
      res.redirect(303, `${ACCOUNT_PATH}?${q.toString()}`);
    };
    const factor = p.factors.find((f) => f.id === str('factor', 32));
    const refuse = (error: GatewayError, errorText: string) => render(deps, csrf, req, res, p, { error, errorText });
    // Back to the second-factor step (it asks a full session whose factor is not current), never to /_gateway/reauth:
    // from a network the policy trusts, re-authentication asks no factor, so mfaAt would never become recent.
    const toStep = () => res.redirect(303, `/_gateway/mfa?next=${encodeURIComponent(ACCOUNT_PATH)}`);

    if (action === 'rename') {
      if (!factor) return refuse(new GatewayError('GW_NOT_FOUND'), m.errNoSuchFactor);
      let renamed: boolean;
      try {
        renamed = await p.mfa.store.rename(guid, factor.id, str('name', 256));
      } catch (e) {
        if (isGatewayError(e) && e.code === 'GW_BAD_REQUEST') return refuse(e, m.errName);
        throw e;
      }
      if (!renamed) return refuse(new GatewayError('GW_NOT_FOUND'), m.errNoSuchFactor);
      const name = (await p.mfa.store.list(guid)).find((f) => f.id === factor.id)?.name ?? '';
      deps.audit.record({ kind: 'mfa.factor_renamed', user: identity.username, address, detail: { guid, factor: factor.id, kind: factor.kind, from: factor.name, to: name } });
      return back({ done: 'renamed', factor: factor.id });
    }

    if (action === 'remove') {
      if (!factor) return refuse(new GatewayError('GW_NOT_FOUND'), m.errNoSuchFactor);
      // Taking a factor away weakens the account: only right after passing one.
      if (!recentFactor(deps, p.found.record)) return toStep();
      // The last one, while the policy asks this person for a factor from anywhere (an unknown address is outside every network).
      if (p.factors.length === 1 && p.mfa.decide({ groups: identity.groups, address: undefined, factors: [] }).required) {
        deps.audit.record({ kind: 'mfa.factor_removed', user: identity.username, address, reason: 'refused_last_factor', detail: { guid, factor: factor.id, kind: factor.kind } });
        return refuse(new GatewayError('GW_MFA_LAST_FACTOR'), m.errLastFactor);
      }
      const left = await p.mfa.store.remove(guid, factor.id);
      if (left < 0) return refuse(new GatewayError('GW_NOT_FOUND'), m.errNoSuchFactor);
      deps.audit.record({ kind: 'mfa.factor_removed', user: identity.username, address, detail: { guid, factor: factor.id, kind: factor.kind, name: factor.name, left } });
      return back({ done: 'removed' });
    }

    if (action === 'recovery') {
      if (p.factors.length && !recentFactor(deps, p.found.record)) return toStep();
      const codes = await p.mfa.store.regenerateRecoveryCodes(guid);
      deps.audit.record({ kind: 'mfa.recovery_regenerated', user: identity.username, address, detail: { guid, codes: codes.length } });
      // Shown once, on this response only (never in a URL, a log line or the audit).
      return render(deps, csrf, req, res, p, { codes });
    }
    fail(new GatewayError('GW_BAD_REQUEST', 'unknown action'));
  };
}
