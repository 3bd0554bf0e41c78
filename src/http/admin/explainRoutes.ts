// Explain in the console: a user's groups with the nesting that made them a member, the decision and the rule
// behind each part, and a "what if" preview of unsaved rules on that user.
import type { Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { explainLockout, formatWindow, type LockoutExplanation } from '../../auth/explainLockout.js';
import { explainUser, whatIf, type Explanation } from '../../mapping/explainUser.js';
import { formatRuleFile, parseRuleFile } from '../../mapping/ruleStore.js';
import type { CsrfOptions } from '../csrfMiddleware.js';
import { format, type AdminMessages } from '../i18n.js';
import { adminPage, field, roleLabel, type AdminPage } from './adminContext.js';
import { describeDifferences } from './rulePreview.js';
import { explainMfa, type MfaExplanation } from '../../mfa/explainMfa.js';
import { isIP } from 'node:net';

/** The second-factor decision in the page's language, from the same explanation the CLI prints. */
function mfaModel(a: AdminMessages, e: MfaExplanation) {
  const r = e.reason;
  const vars: Record<string, string | number> =
    r.code === 'group' ? { group: r.group } : r.code === 'outside' ? { address: r.address ?? a.mfaUnknownAddress } : r.code === 'enrolled' ? { factors: r.factors } : r.code === 'trusted_network' ? { address: r.address, network: r.network } : {};
  const why = format((a as Record<string, string>)[`mfaWhy_${r.code}`] ?? r.code, vars);
  const from = e.from ? format(a.mfaFrom, { address: e.from }) : '';
  const en = e.enrolment;
  return {
    required: e.required,
    decision: format(e.required ? a.mfaRequired : a.mfaNotRequired, { from, why }),
    factors: e.factors.length ? format(a.mfaFactorsLine, { factors: e.factors.map((f) => `${(a as Record<string, string>)[`mfaKind_${f.kind}`] ?? f.kind} “${f.name}”`).join(', ') }) : a.mfaFactorsNone,
    enrolment: en.kind === 'further' ? a.mfaEnrolFurther : en.withoutLink ? format(a.mfaEnrolWithout, { network: en.network }) : format(a.mfaEnrolLink, { address: en.address ?? a.mfaUnknownAddress }),
  };
}

function explanationModel(a: AdminMessages, e: Explanation) {
  const ruleText = (i: number | null, group?: string) => (i === null ? a.fromDefault : format(a.ruleN, { n: i + 1, group: group ?? '?' }));
  const reasonKey = `reason_${e.access.reason}` as keyof AdminMessages;
  const reason = a[reasonKey] ? format(a[reasonKey], { group: e.access.matchedGroup ?? '' }) : e.access.reason;
  return {
    user: e.user,
    blocked: e.user.blocked ? format(a.accountBlocked, { reason: e.user.blocked }) : undefined,
    accountOk: e.user.blocked ? undefined : a.accountOk,
    allowed: e.access.allowed,
    accessLine: format(a.accessLine, { access: e.access.allowed ? a.accessAllowed : a.accessDenied, reason }),
    adminLine: e.admin ? a.adminYes : a.adminNo,
    groupsHeading: format(a.groupsHeading, { count: e.groups.length }),
    groups: e.groups.map((g) => ({
      name: g.name,
      dn: g.dn,
      how: g.path[0] === 'primary group' ? a.primaryGroup : g.path.length <= 1 ? a.directMember : format(a.via, { path: g.path.slice(0, -1).join(' → ') }),
    })),
    orgRole: roleLabel(a, e.orgRole.role),
    orgRoleFrom: e.orgRole.rule === null ? a.fromDefault : e.orgRole.from.replace(/^rule (\d+) \((.*)\)$/, (_m, n: string, g: string) => ruleText(Number(n) - 1, g)),
    hasTeams: e.teams.length > 0,
    teams: e.teams.map((t) => ({ slug: t.slug, role: roleLabel(a, t.role), from: t.from.map((f) => f.replace(/^rule (\d+) \((.*)\)$/, (_m, n: string, g: string) => ruleText(Number(n) - 1, g))).join(', ') })),
  };
}

function lockoutModel(a: AdminMessages, e: LockoutExplanation) {
  const rule = (p: { threshold: number; observationWindowMs: number }) =>
    p.threshold > 0 ? format(a.lockoutRule, { threshold: p.threshold, window: formatWindow(p.observationWindowMs) }) : a.lockoutNever;
  const fg = e.fineGrained;
  return {
    applies:
      e.applies === 'fine-grained' && typeof fg === 'object'
        ? format(a.lockoutAppliesFineGrained, { name: fg.name, rule: rule(e) })
        : format(a.lockoutAppliesDomain, { rule: rule(e) }),
    domain: rule(e.domain),
    fineGrained: fg === 'none' ? a.lockoutNone : fg === 'unreadable' ? a.lockoutUnreadable : `${fg.name}: ${rule(fg)}`,
    unreadable: fg === 'unreadable',
    gateway: format(a.lockoutGateway, { count: e.gateway.failuresAllowed, window: formatWindow(e.gateway.windowMs) }),
    unprotected: e.gateway.protectsFromLockout ? undefined : format(a.lockoutUnprotected, { threshold: e.threshold }),
  };
}

async function render(deps: Deps, p: AdminPage, username: string, rulesText: string | undefined, status = 200, from = ''): Promise<void> {
  const { a } = p;
  const base = { section: 'explain' as const, title: a.explainTitle, action: p.url('/explain'), username, fromAddress: from };
  if (!username) return p.render('explain', { ...base, status });
  let user;
  try {
    user = await deps.directory.lookup(username);
  } catch (e) {
    deps.logger.warn({ err: (e as Error).message }, 'console: explain lookup failed');
    return p.render('explain', { ...base, status: 503, error: a.errDirectory });
  }
  if (!user) return p.render('explain', { ...base, status: 404, error: format(a.noSuchUser, { user: username }) });
  const current = await deps.rules.current();
  const model = explanationModel(a, explainUser(user, deps.config.access, current));
  const lockout = await deps.directory.accountLockoutPolicy(user.dn).then(
    (policy) => lockoutModel(a, explainLockout(policy, { perUser: deps.config.throttle.perUser, windowMs: deps.config.throttle.window })),
    (e: unknown) => {
      deps.logger.warn({ err: (e as Error).message }, 'console: lockout policy read failed');
      return undefined;
    },
  );
  let whatIfModel: Record<string, unknown> | undefined;
  if (rulesText !== undefined) {
    const parsed = parseRuleFile(rulesText);
    if (!parsed.ok) whatIfModel = { errors: parsed.problems, errorHeading: a.errInvalid };
    else {
      const w = whatIf(user, deps.config.access, current, parsed.value);
      const lines = describeDifferences(a, w.differences);
      whatIfModel = {
        summary: lines.length ? format(a.whatIfChanges, { user: user.sAMAccountName }) : format(a.whatIfNoChange, { user: user.sAMAccountName }),
        lines,
        after: format(a.whatIfResult, { role: roleLabel(a, w.after.orgRole.role), teams: w.after.teams.map((t) => `${t.slug} (${roleLabel(a, t.role)})`).join(', ') || a.noTeams }),
      };
    }
  }
  // An address that is not one is judged as unknown (outside every network), never as trusted.
  const address = from && isIP(from) ? from : undefined;
  const mfa = deps.mfa ? mfaModel(a, explainMfa(deps.mfa.decide, user, await deps.mfa.store.list(user.guid), address ?? (from || undefined))) : undefined;
  p.render('explain', {
    ...base,
    mfa,
    status: whatIfModel?.errors ? 400 : status,
    explained: model,
    lockout,
    rulesText: rulesText ?? formatRuleFile(current),
    whatIf: whatIfModel,
  });
}

export function showExplain(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const user = typeof req.query.user === 'string' ? req.query.user.trim().slice(0, 256) : '';
    const from = typeof req.query.from === 'string' ? req.query.from.trim().slice(0, 64) : '';
    await render(deps, adminPage(deps, csrf, req, res), user, undefined, 200, from);
  };
}

/** POST: the "what if" preview; nothing is saved, it is a POST only because the rules text can be long. */
export function submitWhatIf(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    await render(deps, adminPage(deps, csrf, req, res), field(req.body, 'user', 256).trim(), field(req.body, 'rules', 200_000), 200, field(req.body, 'from', 64).trim());
  };
}
