// Mapping rules in the console: the list, reorder, delete and the default role; the editor and history have files of their own.
// Every save goes through the rule store with the version the admin saw, so a concurrent edit is refused, not lost.
import type { Request, Response } from 'express';
import type { MappingRule } from '../../config/schema.js';
import type { Deps } from '../../compositionRoot.js';
import type { OrgRole } from '../../mapping/resolveAccess.js';
import { RuleConflictError, type RuleSet } from '../../mapping/ruleStore.js';
import type { CsrfOptions } from '../csrfMiddleware.js';
import { format, type AdminMessages } from '../i18n.js';
import { adminPage, field, formatTime, roleLabel, type AdminPage } from './adminContext.js';
import { ORG_ROLES } from './ruleDraft.js';
import { saveRules } from './saveRules.js';

const NOTICES = ['savedRule', 'deletedRule', 'movedRule', 'savedDefault', 'reverted'] as const;

function teamsText(a: AdminMessages, rule: MappingRule): string {
  return rule.teams.length ? rule.teams.map((t) => `${t.slug} (${roleLabel(a, t.role ?? 'contributor')})`).join(', ') : a.noTeams;
}

function noticeFrom(req: Request, a: AdminMessages): string | undefined {
  const done = typeof req.query.done === 'string' ? req.query.done : '';
  if (!(NOTICES as readonly string[]).includes(done)) return undefined;
  const q = (k: string) => (typeof req.query[k] === 'string' ? (req.query[k] as string).slice(0, 200) : '');
  const text = format(a[done as (typeof NOTICES)[number]], { version: q('v'), from: q('from') });
  return q('teams') ? `${text} ${format(a.createdTeams, { teams: q('teams') })}` : text;
}

export async function renderList(deps: Deps, p: AdminPage, req: Request, extra: { status?: number; error?: string } = {}): Promise<void> {
  const set = await deps.rules.current();
  const { a } = p;
  const last = set.rules.length - 1;
  p.render('mappings', {
    section: 'mappings',
    title: a.mappingsTitle,
    notice: extra.error ? undefined : noticeFrom(req, a),
    ...extra,
    versionLine: format(a.mappingsVersion, { version: set.version, when: formatTime(set.updatedAt), who: set.updatedBy }),
    version: set.version,
    hasRules: set.rules.length > 0,
    rules: set.rules.map((r, i) => ({
      n: i + 1,
      index: i,
      group: r.group,
      orgRole: roleLabel(a, r.orgRole),
      teams: teamsText(a, r),
      label: format(a.ruleN, { n: i + 1, group: r.group }),
      editHref: p.url('/mappings/rule', { index: i }),
      canUp: i > 0,
      canDown: i < last,
    })),
    roles: ORG_ROLES.map((r) => ({ value: r, label: roleLabel(a, r), selected: r === set.defaultOrgRole })),
    actionMove: p.url('/mappings/move'),
    actionDelete: p.url('/mappings/delete'),
    actionDefault: p.url('/mappings/default'),
    addHref: p.url('/mappings/rule'),
    historyHref: p.url('/mappings/history'),
  });
}

export function showMappings(deps: Deps, csrf: CsrfOptions) {
  return (req: Request, res: Response) => renderList(deps, adminPage(deps, csrf, req, res), req);
}

/** Runs a list edit against the version the admin saw; a conflict re-shows the list with the reason. */
function listEdit(deps: Deps, csrf: CsrfOptions, edit: (set: RuleSet, body: unknown) => { next: Pick<RuleSet, 'defaultOrgRole' | 'rules'>; action: string; done: string } | null) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const expected = Number(field(req.body, 'version', 20));
    const set = await deps.rules.current();
    if (!Number.isInteger(expected) || expected !== set.version) {
      return renderList(deps, p, req, { status: 409, error: format(p.a.errConflict, { version: set.version }) });
    }
    const change = edit(set, req.body);
    if (!change) return renderList(deps, p, req, { status: 409, error: p.a.errNoSuchRule });
    try {
      const saved = await saveRules(deps, p, change.next, expected, change.action);
      res.redirect(303, p.url('/', { done: change.done, v: saved.version }));
    } catch (e) {
      if (!(e instanceof RuleConflictError)) throw e;
      return renderList(deps, p, req, { status: 409, error: format(p.a.errConflict, { version: e.currentVersion }) });
    }
  };
}

function indexIn(set: RuleSet, body: unknown): number | null {
  const i = Number(field(body, 'index', 10));
  return Number.isInteger(i) && i >= 0 && i < set.rules.length ? i : null;
}

export const moveRule = (deps: Deps, csrf: CsrfOptions) =>
  listEdit(deps, csrf, (set, body) => {
    const i = indexIn(set, body);
    const j = i === null ? null : field(body, 'direction', 10) === 'up' ? i - 1 : i + 1;
    if (i === null || j === null || j < 0 || j >= set.rules.length) return null;
    const rules = [...set.rules];
    [rules[i], rules[j]] = [rules[j]!, rules[i]!];
    return { next: { defaultOrgRole: set.defaultOrgRole, rules }, action: `move rule ${i + 1} to ${j + 1}`, done: 'movedRule' };
  });

export const deleteRule = (deps: Deps, csrf: CsrfOptions) =>
  listEdit(deps, csrf, (set, body) => {
    const i = indexIn(set, body);
    if (i === null) return null;
    return { next: { defaultOrgRole: set.defaultOrgRole, rules: set.rules.filter((_, k) => k !== i) }, action: `delete rule ${i + 1} (${set.rules[i]!.group})`, done: 'deletedRule' };
  });

export const saveDefaultRole = (deps: Deps, csrf: CsrfOptions) =>
  listEdit(deps, csrf, (set, body) => {
    const role = field(body, 'defaultOrgRole', 20) as OrgRole;
    if (!ORG_ROLES.includes(role)) return null;
    return { next: { defaultOrgRole: role, rules: set.rules }, action: `default org role ${set.defaultOrgRole} → ${role}`, done: 'savedDefault' };
  });
