// Mapping rules in the console: list, add, edit, reorder, delete, default role, history and revert.
// Every save goes through the rule store with the version the admin saw, so a concurrent edit is refused, not lost.
import type { Request, Response } from 'express';
import { stringify as toYaml } from 'yaml';
import { mappingRuleSchema, type MappingRule } from '../../config/schema.js';
import type { Deps } from '../../deps.js';
import type { DirectoryUser } from '../../directory/directory.js';
import { whatIf } from '../../mapping/explainUser.js';
import type { OrgRole } from '../../mapping/resolveAccess.js';
import { RuleConflictError, type RuleSet } from '../../mapping/ruleStore.js';
import type { CsrfOptions } from '../csrfMiddleware.js';
import { format, type AdminMessages } from '../i18n.js';
import { adminPage, field, fieldList, formatTime, roleLabel, type AdminPage } from './adminContext.js';

const ORG_ROLES: OrgRole[] = ['member', 'manager', 'owner'];
const SLUG = /^[a-z0-9_-]+$/;
/** Blank team rows offered below the filled ones, so a rule can gain teams without client-side script. */
const SPARE_TEAM_ROWS = 2;
const MAX_TEAM_ROWS = 50;
const NOTICES = ['savedRule', 'deletedRule', 'movedRule', 'savedDefault', 'reverted'] as const;

async function save(deps: Deps, p: AdminPage, next: Pick<RuleSet, 'defaultOrgRole' | 'rules'>, expected: number, action: string): Promise<RuleSet> {
  const saved = await deps.rules.save({ defaultOrgRole: next.defaultOrgRole, rules: next.rules }, p.admin.identity.username, expected);
  deps.audit.record({ kind: 'mapping.change', actor: p.admin.identity.username, detail: { from: expected, to: saved.version, rules: saved.rules.length, action, via: 'admin console' } });
  return saved;
}

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

async function renderList(deps: Deps, p: AdminPage, req: Request, extra: { status?: number; error?: string } = {}): Promise<void> {
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
      const saved = await save(deps, p, change.next, expected, change.action);
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

// --- the rule editor ------------------------------------------------------------------------------

interface RuleDraft {
  /** Index of the rule being edited; undefined for a new rule. */
  index?: number;
  version: number;
  group: string;
  orgRole: OrgRole | '';
  teams: { slug: string; role: 'contributor' | 'admin' }[];
  createTeams: boolean;
  spareRows: number;
  previewUser: string;
}

interface EditorExtras {
  status?: number;
  errors?: string[];
  search?: { q: string; results: { name: string; dn: string }[]; error?: string };
  preview?: { user: string; lines: string[]; summary?: string; after?: string; error?: string };
}

function draftFromBody(body: unknown): RuleDraft {
  const slugs = fieldList((body as Record<string, unknown>)?.teamSlug).slice(0, MAX_TEAM_ROWS);
  const roles = fieldList((body as Record<string, unknown>)?.teamRole);
  const idx = field(body, 'index', 10);
  const orgRole = field(body, 'orgRole', 20);
  return {
    ...(idx !== '' && Number.isInteger(Number(idx)) ? { index: Number(idx) } : {}),
    version: Number(field(body, 'version', 20)),
    group: field(body, 'group', 1024).trim(),
    orgRole: (ORG_ROLES as string[]).includes(orgRole) ? (orgRole as OrgRole) : '',
    teams: slugs.map((s, i) => ({ slug: s.trim(), role: roles[i] === 'admin' ? ('admin' as const) : ('contributor' as const) })),
    createTeams: field(body, 'createTeams', 5) === '1',
    spareRows: SPARE_TEAM_ROWS,
    previewUser: field(body, 'previewUser', 256).trim(),
  };
}

function ruleOf(d: RuleDraft): MappingRule {
  const teams = d.teams.filter((t) => t.slug).map((t) => (t.role === 'admin' ? { slug: t.slug, role: 'admin' as const } : { slug: t.slug }));
  return { group: d.group, ...(d.orgRole ? { orgRole: d.orgRole } : {}), teams };
}

/** The rules as they would be after saving this draft; null when the edited rule no longer exists. */
function draftRules(set: RuleSet, d: RuleDraft): MappingRule[] | null {
  if (d.index === undefined) return [...set.rules, ruleOf(d)];
  if (d.index < 0 || d.index >= set.rules.length) return null;
  return set.rules.map((r, i) => (i === d.index ? ruleOf(d) : r));
}

function validate(a: AdminMessages, d: RuleDraft): string[] {
  const errors: string[] = [];
  if (!d.group) errors.push(a.errGroupRequired);
  const seen = new Set<string>();
  for (const t of d.teams.filter((x) => x.slug)) {
    if (!SLUG.test(t.slug)) errors.push(format(a.errTeamSlug, { slug: t.slug }));
    else if (seen.has(t.slug)) errors.push(format(a.errTeamTwice, { slug: t.slug }));
    seen.add(t.slug);
  }
  if (errors.length === 0 && !d.orgRole && seen.size === 0) errors.push(a.errNothingGiven);
  // The schema is the contract the store and `mappings import` enforce; our messages above are the friendly subset.
  if (errors.length === 0) {
    const r = mappingRuleSchema.safeParse(ruleOf(d));
    if (!r.success) errors.push(...r.error.issues.map((i) => `${a.errInvalid} ${i.path.join('.')}: ${i.message}`));
  }
  return errors;
}

async function sentryTeams(deps: Deps): Promise<string[] | null> {
  if (!deps.sentry) return [];
  try {
    return (await deps.sentry.listTeamSlugs()).sort();
  } catch (e) {
    deps.logger.warn({ err: (e as Error).message }, 'console: Sentry teams not listed');
    return null;
  }
}

async function renderEditor(deps: Deps, p: AdminPage, d: RuleDraft, x: EditorExtras = {}): Promise<void> {
  const { a } = p;
  const teams = await sentryTeams(deps);
  const rows = [...d.teams.filter((t) => t.slug), ...Array.from({ length: d.spareRows }, () => ({ slug: '', role: 'contributor' as const }))];
  const heading = d.index === undefined ? a.newRuleTitle : format(a.editRuleTitle, { n: d.index + 1 });
  p.render('rule', {
    section: 'mappings',
    title: heading,
    heading,
    status: x.status,
    errors: x.errors?.length ? x.errors : undefined,
    action: p.url('/mappings/rule'),
    cancelHref: p.url('/'),
    index: d.index,
    isEdit: d.index !== undefined,
    version: d.version,
    group: d.group,
    roles: [{ value: '', label: a.orgRoleNone, selected: d.orgRole === '' }, ...ORG_ROLES.map((r) => ({ value: r, label: roleLabel(a, r), selected: r === d.orgRole }))],
    teamRows: rows.map((t, i) => ({
      n: i + 1,
      slug: t.slug,
      slugLabel: format(a.teamSlugLabel, { n: i + 1 }),
      roleLabel: format(a.teamRoleLabel, { n: i + 1 }),
      contributorSelected: t.role !== 'admin',
      adminSelected: t.role === 'admin',
      contributorLabel: roleLabel(a, 'contributor'),
      adminLabel: roleLabel(a, 'admin'),
    })),
    spareRows: d.spareRows,
    createTeams: d.createTeams,
    sentryTeams: teams ?? [],
    sentryTeamsLine: teams === null ? a.sentryTeamsUnavailable : teams.length ? format(a.sentryTeamsList, { teams: teams.join(', ') }) : undefined,
    search: x.search
      ? { ...x.search, heading: format(a.groupResults, { q: x.search.q }), none: x.search.results.length === 0 && !x.search.error ? format(a.noGroupResults, { q: x.search.q }) : undefined }
      : undefined,
    previewUser: d.previewUser,
    preview: x.preview,
  });
}

export function showRuleEditor(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const set = await deps.rules.current();
    const raw = typeof req.query.index === 'string' ? Number(req.query.index) : undefined;
    const rule = raw !== undefined && Number.isInteger(raw) ? set.rules[raw] : undefined;
    if (raw !== undefined && !rule) return renderList(deps, p, req, { status: 404, error: p.a.errNoSuchRule });
    const d: RuleDraft = {
      ...(rule ? { index: raw } : {}),
      version: set.version,
      group: rule?.group ?? (typeof req.query.group === 'string' ? req.query.group.slice(0, 1024) : ''),
      orgRole: rule?.orgRole ?? '',
      teams: (rule?.teams ?? []).map((t) => ({ slug: t.slug, role: t.role ?? 'contributor' })),
      createTeams: false,
      spareRows: SPARE_TEAM_ROWS,
      previewUser: '',
    };
    await renderEditor(deps, p, d);
  };
}

/** One form, several buttons (`op`): search AD, pick a group, add a team row, preview on a user, save. */
export function submitRule(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const { a } = p;
    const d = draftFromBody(req.body);
    const pick = field(req.body, 'pick', 1024);
    const op = pick ? 'pick' : field(req.body, 'op', 20);
    if (op === 'pick') {
      d.group = pick;
      return renderEditor(deps, p, d);
    }
    if (op === 'search') {
      const q = d.group;
      try {
        const results = q ? await deps.directory.searchGroups(q, 20) : [];
        return renderEditor(deps, p, d, { search: { q, results } });
      } catch (e) {
        deps.logger.warn({ err: (e as Error).message }, 'console: group search failed');
        return renderEditor(deps, p, d, { status: 503, search: { q, results: [], error: a.errDirectory } });
      }
    }
    if (op === 'addTeam') {
      d.spareRows = Math.min(MAX_TEAM_ROWS - d.teams.filter((t) => t.slug).length, SPARE_TEAM_ROWS + 3);
      return renderEditor(deps, p, d);
    }
    const set = await deps.rules.current();
    if (op === 'preview') return renderEditor(deps, p, d, { preview: await previewRule(deps, a, set, d) });
    if (op !== 'save') return renderEditor(deps, p, d, { status: 400 });

    const errors = validate(a, d);
    if (errors.length) return renderEditor(deps, p, d, { status: 400, errors });
    if (d.version !== set.version) return renderEditor(deps, p, d, { status: 409, errors: [format(a.errConflict, { version: set.version })] });
    const rules = draftRules(set, d);
    if (!rules) return renderEditor(deps, p, d, { status: 409, errors: [a.errNoSuchRule] });

    // Teams must exist in Sentry, or be created now on the admin's say-so: a typo must not silently become a team.
    const created: string[] = [];
    const known = await sentryTeams(deps);
    if (deps.sentry && known) {
      const missing = [...new Set(d.teams.filter((t) => t.slug && !known.includes(t.slug)).map((t) => t.slug))];
      if (missing.length && !d.createTeams) return renderEditor(deps, p, d, { status: 400, errors: missing.map((slug) => format(a.errTeamMissing, { slug })) });
      for (const slug of missing) {
        try {
          await deps.sentry.createTeam(slug);
          created.push(slug);
        } catch (e) {
          return renderEditor(deps, p, d, { status: 502, errors: [format(a.errTeamCreate, { slug, error: (e as Error).message })] });
        }
      }
    }
    try {
      const action = d.index === undefined ? `add rule ${rules.length} (${d.group})` : `edit rule ${d.index + 1} (${d.group})`;
      const saved = await save(deps, p, { defaultOrgRole: set.defaultOrgRole, rules }, d.version, action);
      res.redirect(303, p.url('/', { done: 'savedRule', v: saved.version, teams: created.join(', ') || undefined }));
    } catch (e) {
      if (!(e instanceof RuleConflictError)) throw e;
      return renderEditor(deps, p, d, { status: 409, errors: [format(a.errConflict, { version: e.currentVersion })] });
    }
  };
}

async function lookupUser(deps: Deps, username: string): Promise<DirectoryUser | null | 'unavailable'> {
  try {
    return await deps.directory.lookup(username);
  } catch (e) {
    deps.logger.warn({ err: (e as Error).message }, 'console: user lookup failed');
    return 'unavailable';
  }
}

export function describeDifferences(a: AdminMessages, diffs: ReturnType<typeof whatIf>['differences']): string[] {
  return diffs.map((x) => format(a[`diff_${x.kind}`], { slug: x.slug ?? '', from: roleLabel(a, x.from), to: roleLabel(a, x.to) }));
}

async function previewRule(deps: Deps, a: AdminMessages, set: RuleSet, d: RuleDraft): Promise<EditorExtras['preview']> {
  const user = d.previewUser;
  if (!user) return undefined;
  const rules = draftRules(set, d);
  if (!rules) return { user, lines: [], error: a.errNoSuchRule };
  const found = await lookupUser(deps, user);
  if (found === 'unavailable') return { user, lines: [], error: a.errDirectory };
  if (!found) return { user, lines: [], error: format(a.noSuchUser, { user }) };
  const w = whatIf(found, deps.config.access, set, { defaultOrgRole: set.defaultOrgRole, rules });
  const lines = describeDifferences(a, w.differences);
  const teams = w.after.teams.map((t) => `${t.slug} (${roleLabel(a, t.role)})`).join(', ') || a.noTeams;
  return {
    user: found.sAMAccountName,
    lines,
    summary: lines.length ? format(a.whatIfChanges, { user: found.sAMAccountName }) : format(a.whatIfNoChange, { user: found.sAMAccountName }),
    after: format(a.whatIfResult, { role: roleLabel(a, w.after.orgRole.role), teams }),
  };
}

// --- history and revert ---------------------------------------------------------------------------

export function showHistory(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => renderHistory(deps, adminPage(deps, csrf, req, res));
}

async function renderHistory(deps: Deps, p: AdminPage, extra: { status?: number; error?: string } = {}): Promise<void> {
  const { a } = p;
  const [cur, past] = await Promise.all([deps.rules.current(), deps.rules.history(50)]);
  p.render('history', {
    section: 'mappings',
    title: a.historyTitle,
    ...extra,
    action: p.url('/mappings/revert'),
    backHref: p.url('/'),
    currentVersion: cur.version,
    hasHistory: past.length > 0,
    versions: [cur, ...past].map((s, i) => ({
      version: s.version,
      who: s.updatedBy,
      when: formatTime(s.updatedAt),
      count: s.rules.length,
      isCurrent: i === 0,
      revertLabel: format(a.revert, { version: s.version }),
      yaml: toYaml({ defaultOrgRole: s.defaultOrgRole, rules: s.rules }),
    })),
  });
}

export function revertRules(deps: Deps, csrf: CsrfOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const expected = Number(field(req.body, 'version', 20));
    const from = Number(field(req.body, 'from', 20));
    const target = (await deps.rules.history(200)).find((s) => s.version === from);
    if (!target) return renderHistory(deps, p, { status: 404, error: p.a.errNoSuchRule });
    try {
      const saved = await save(deps, p, target, expected, `revert to version ${from}`);
      res.redirect(303, p.url('/', { done: 'reverted', v: saved.version, from }));
    } catch (e) {
      if (!(e instanceof RuleConflictError)) throw e;
      return renderHistory(deps, p, { status: 409, error: format(p.a.errConflict, { version: e.currentVersion }) });
    }
  };
}
