// Pure: a user's groups + access lists + mapping rules → may they use Sentry, as what, on which teams, and why.
import type { MappingRule } from '../config/schema.js';

export type OrgRole = 'member' | 'manager' | 'owner';
export type TeamRole = 'contributor' | 'admin';

export interface GroupRef {
  dn: string;
  name: string;
  sid: string;
}

export interface AccessPolicy {
  allowGroups: string[];
  denyGroups: string[];
  adminGroups: string[];
  defaultOrgRole: OrgRole;
  rules: MappingRule[];
}

export type AccessDecision =
  | { allowed: true; reason: 'allow_group' | 'no_allow_list'; matchedGroup?: string }
  | { allowed: false; reason: 'deny_group' | 'not_in_allow_group'; matchedGroup?: string };

export interface ResolvedAccess {
  access: AccessDecision;
  isAdmin: boolean;
  orgRole: OrgRole;
  /** Index of the rule that set the org role, or null when it is the default. */
  orgRoleRule: number | null;
  teams: { slug: string; role: TeamRole; rules: number[] }[];
  /** Indexes of rules whose group the user is in. */
  matchedRules: number[];
}

const ORG_RANK: Record<OrgRole, number> = { member: 0, manager: 1, owner: 2 };
const TEAM_RANK: Record<TeamRole, number> = { contributor: 0, admin: 1 };

/** A rule or list entry names a group by sAMAccountName, DN or SID; AD compares all three case-insensitively. */
export function findGroup(groups: GroupRef[], ref: string): GroupRef | undefined {
  const want = ref.trim().toLowerCase();
  return groups.find((g) => g.name.toLowerCase() === want || g.dn.toLowerCase() === want || g.sid.toLowerCase() === want);
}

function firstMatch(groups: GroupRef[], refs: string[]): string | undefined {
  for (const ref of refs) if (findGroup(groups, ref)) return ref;
  return undefined;
}

export function resolveAccess(groups: GroupRef[], policy: AccessPolicy): ResolvedAccess {
  const denied = firstMatch(groups, policy.denyGroups);
  const allowedBy = firstMatch(groups, policy.allowGroups);
  const access: AccessDecision = denied
    ? { allowed: false, reason: 'deny_group', matchedGroup: denied }
    : policy.allowGroups.length === 0
      ? { allowed: true, reason: 'no_allow_list' }
      : allowedBy
        ? { allowed: true, reason: 'allow_group', matchedGroup: allowedBy }
        : { allowed: false, reason: 'not_in_allow_group' };

  let orgRole: OrgRole = policy.defaultOrgRole;
  let orgRoleRule: number | null = null;
  const teams = new Map<string, { slug: string; role: TeamRole; rules: number[] }>();
  const matchedRules: number[] = [];
  policy.rules.forEach((rule, i) => {
    if (!findGroup(groups, rule.group)) return;
    matchedRules.push(i);
    // The highest role any matched rule names wins; the default applies only when no matched rule names one.
    if (rule.orgRole && (orgRoleRule === null || ORG_RANK[rule.orgRole] > ORG_RANK[orgRole])) {
      orgRole = rule.orgRole;
      orgRoleRule = i;
    }
    for (const t of rule.teams) {
      const role = t.role ?? 'contributor';
      const cur = teams.get(t.slug);
      if (!cur) teams.set(t.slug, { slug: t.slug, role, rules: [i] });
      else {
        cur.rules.push(i);
        if (TEAM_RANK[role] > TEAM_RANK[cur.role]) cur.role = role;
      }
    }
  });
  return {
    access,
    isAdmin: access.allowed && !!firstMatch(groups, policy.adminGroups),
    orgRole,
    orgRoleRule,
    teams: [...teams.values()].sort((a, b) => a.slug.localeCompare(b.slug)),
    matchedRules,
  };
}
