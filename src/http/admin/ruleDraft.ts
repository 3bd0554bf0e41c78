// A rule as the editor's form holds it: read from the form, checked, and the rules it would make once saved.
import { mappingRuleSchema, type MappingRule } from '../../config/schema.js';
import type { OrgRole } from '../../mapping/resolveAccess.js';
import type { RuleSet } from '../../mapping/ruleStore.js';
import { format, type AdminMessages } from '../i18n.js';
import { field, fieldList } from './adminContext.js';

export const ORG_ROLES: OrgRole[] = ['member', 'manager', 'owner'];
const SLUG = /^[a-z0-9_-]+$/;
/** Blank team rows offered below the filled ones, so a rule can gain teams without client-side script. */
export const SPARE_TEAM_ROWS = 2;
export const MAX_TEAM_ROWS = 50;

export interface RuleDraft {
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

export function draftFromBody(body: unknown): RuleDraft {
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
export function draftRules(set: RuleSet, d: RuleDraft): MappingRule[] | null {
  if (d.index === undefined) return [...set.rules, ruleOf(d)];
  if (d.index < 0 || d.index >= set.rules.length) return null;
  return set.rules.map((r, i) => (i === d.index ? ruleOf(d) : r));
}

export function validate(a: AdminMessages, d: RuleDraft): string[] {
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
