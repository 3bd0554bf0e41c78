// Pure: why a directory user gets what they get (groups with nesting paths, access, role, teams, the rule behind each),
// and how an unsaved rule change would alter that. Shared by `explain` and the admin console.
import type { Config } from '../config/schema.js';
import type { DirectoryUser } from '../directory/directory.js';
import { resolveAccess, type OrgRole, type TeamRole } from './resolveAccess.js';
import type { RuleSet } from './ruleStore.js';

type Rules = Pick<RuleSet, 'defaultOrgRole' | 'rules'>;

export interface Explanation {
  user: { username: string; upn: string; email: string; name: string; dn: string; guid: string; blocked: string | null };
  groups: { name: string; dn: string; sid: string; path: string[] }[];
  access: { allowed: boolean; reason: string; matchedGroup?: string };
  admin: boolean;
  orgRole: { role: OrgRole; from: string; rule: number | null };
  teams: { slug: string; role: TeamRole; from: string[]; rules: number[] }[];
}

export function explainUser(user: DirectoryUser, access: Config['access'], set: Rules): Explanation {
  const groups = user.groups.map((g) => ({ dn: g.dn, name: g.name, sid: g.sid }));
  const resolved = resolveAccess(groups, { ...access, defaultOrgRole: set.defaultOrgRole, rules: set.rules });
  const rule = (i: number) => `rule ${i + 1} (${set.rules[i]?.group ?? '?'})`;
  return {
    user: { username: user.sAMAccountName, upn: user.userPrincipalName, email: user.email, name: user.displayName, dn: user.dn, guid: user.guid, blocked: user.blockedReason ?? null },
    groups: user.groups.map((g) => ({ name: g.name, dn: g.dn, sid: g.sid, path: g.path })),
    access: user.blockedReason ? { allowed: false, reason: user.blockedReason } : resolved.access,
    admin: resolved.isAdmin,
    orgRole: { role: resolved.orgRole, from: resolved.orgRoleRule === null ? 'default (mapping.defaultOrgRole)' : rule(resolved.orgRoleRule), rule: resolved.orgRoleRule },
    teams: resolved.teams.map((t) => ({ slug: t.slug, role: t.role, from: t.rules.map(rule), rules: t.rules })),
  };
}

export interface WhatIf {
  before: Explanation;
  after: Explanation;
  /** Human-readable differences, e.g. `org role member → manager`, `+ team sre (admin)`; empty when nothing changes. */
  differences: { kind: 'orgRole' | 'addTeam' | 'removeTeam' | 'teamRole'; slug?: string; from?: string; to?: string }[];
}

/** The same user under the current and a draft rule set: what a save would change for them. */
export function whatIf(user: DirectoryUser, access: Config['access'], current: Rules, draft: Rules): WhatIf {
  const before = explainUser(user, access, current);
  const after = explainUser(user, access, draft);
  const differences: WhatIf['differences'] = [];
  if (before.orgRole.role !== after.orgRole.role) differences.push({ kind: 'orgRole', from: before.orgRole.role, to: after.orgRole.role });
  const was = new Map(before.teams.map((t) => [t.slug, t.role]));
  const now = new Map(after.teams.map((t) => [t.slug, t.role]));
  for (const [slug, role] of now) {
    const old = was.get(slug);
    if (!old) differences.push({ kind: 'addTeam', slug, to: role });
    else if (old !== role) differences.push({ kind: 'teamRole', slug, from: old, to: role });
  }
  for (const [slug, role] of was) if (!now.has(slug)) differences.push({ kind: 'removeTeam', slug, from: role });
  return { before, after, differences };
}
