// The console's rule editor: one form, several buttons (search AD, pick a group, add a team row, preview, save).
// Teams the rule names must exist in Sentry or be created on the admin's say-so (SentryTeams).
import type { Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import { RuleConflictError } from '../../mapping/ruleStore.js';
import type { SentryTeams } from '../../provisioning/sentryTeams.js';
import type { CsrfOptions } from '../csrfMiddleware.js';
import { format } from '../i18n.js';
import { adminPage, field, roleLabel, type AdminPage } from './adminContext.js';
import { renderList } from './mappingListRoutes.js';
import { draftFromBody, draftRules, MAX_TEAM_ROWS, ORG_ROLES, SPARE_TEAM_ROWS, validate, type RuleDraft } from './ruleDraft.js';
import { previewRule, type RulePreview } from './rulePreview.js';
import { saveRules } from './saveRules.js';

export interface EditorExtras {
  status?: number;
  errors?: string[];
  search?: { q: string; results: { name: string; dn: string }[]; error?: string };
  preview?: RulePreview;
}

async function renderEditor(deps: Deps, sentryTeams: SentryTeams, p: AdminPage, d: RuleDraft, x: EditorExtras = {}): Promise<void> {
  const { a } = p;
  const teams = await sentryTeams.list();
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

export function showRuleEditor(deps: Deps, csrf: CsrfOptions, sentryTeams: SentryTeams) {
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
    await renderEditor(deps, sentryTeams, p, d);
  };
}

/** One form, several buttons (`op`): search AD, pick a group, add a team row, preview on a user, save. */
export function submitRule(deps: Deps, csrf: CsrfOptions, sentryTeams: SentryTeams) {
  return async (req: Request, res: Response): Promise<void> => {
    const p = adminPage(deps, csrf, req, res);
    const { a } = p;
    const d = draftFromBody(req.body);
    const pick = field(req.body, 'pick', 1024);
    const op = pick ? 'pick' : field(req.body, 'op', 20);
    if (op === 'pick') {
      d.group = pick;
      return renderEditor(deps, sentryTeams, p, d);
    }
    if (op === 'search') {
      const q = d.group;
      try {
        const results = q ? await deps.directory.searchGroups(q, 20) : [];
        return renderEditor(deps, sentryTeams, p, d, { search: { q, results } });
      } catch (e) {
        deps.logger.warn({ err: (e as Error).message }, 'console: group search failed');
        return renderEditor(deps, sentryTeams, p, d, { status: 503, search: { q, results: [], error: a.errDirectory } });
      }
    }
    if (op === 'addTeam') {
      d.spareRows = Math.min(MAX_TEAM_ROWS - d.teams.filter((t) => t.slug).length, SPARE_TEAM_ROWS + 3);
      return renderEditor(deps, sentryTeams, p, d);
    }
    const set = await deps.rules.current();
    if (op === 'preview') return renderEditor(deps, sentryTeams, p, d, { preview: await previewRule(deps, a, set, d) });
    if (op !== 'save') return renderEditor(deps, sentryTeams, p, d, { status: 400 });

    const errors = validate(a, d);
    if (errors.length) return renderEditor(deps, sentryTeams, p, d, { status: 400, errors });
    if (d.version !== set.version) return renderEditor(deps, sentryTeams, p, d, { status: 409, errors: [format(a.errConflict, { version: set.version })] });
    const rules = draftRules(set, d);
    if (!rules) return renderEditor(deps, sentryTeams, p, d, { status: 409, errors: [a.errNoSuchRule] });

    // Teams must exist in Sentry, or be created now on the admin's say-so: a typo must not silently become a team.
    const teams = await sentryTeams.ensure(d.teams.map((t) => t.slug), { create: d.createTeams });
    if (teams.status === 'missing') return renderEditor(deps, sentryTeams, p, d, { status: 400, errors: teams.slugs.map((slug) => format(a.errTeamMissing, { slug })) });
    if (teams.status === 'failed') return renderEditor(deps, sentryTeams, p, d, { status: 502, errors: [format(a.errTeamCreate, { slug: teams.slug, error: teams.error })] });
    const created = teams.created;
    try {
      const action = d.index === undefined ? `add rule ${rules.length} (${d.group})` : `edit rule ${d.index + 1} (${d.group})`;
      const saved = await saveRules(deps, p, { defaultOrgRole: set.defaultOrgRole, rules }, d.version, action);
      res.redirect(303, p.url('/', { done: 'savedRule', v: saved.version, teams: created.join(', ') || undefined }));
    } catch (e) {
      if (!(e instanceof RuleConflictError)) throw e;
      return renderEditor(deps, sentryTeams, p, d, { status: 409, errors: [format(a.errConflict, { version: e.currentVersion })] });
    }
  };
}
