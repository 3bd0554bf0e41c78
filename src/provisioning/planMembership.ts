// Pure: what must change in Sentry so one person's membership matches what their AD groups say.
import type { OrgRole, TeamRole } from '../mapping/resolveAccess.js';
import type { SentryMember, SentryOrgRole, SentryTeamRole } from '../sentry/sentryAdmin.js';

export interface DesiredMembership {
  email: string;
  orgRole: OrgRole;
  teams: { slug: string; role: TeamRole }[];
}

export type Change =
  | { kind: 'invite'; orgRole: OrgRole }
  | { kind: 'orgRole'; from: SentryOrgRole; to: OrgRole }
  | { kind: 'addTeam'; slug: string; role: TeamRole }
  | { kind: 'removeTeam'; slug: string }
  | { kind: 'teamRole'; slug: string; from: TeamRole; to: TeamRole }
  | { kind: 'remove' }
  | { kind: 'renewInvite' }
  | { kind: 'offboard'; reason: OffboardReason }
  /** AD lets an offboarded person in again: their Sentry user (hidden from Sentry's member list while inactive) is reactivated, not invited anew. */
  | { kind: 'reactivate' };

/** Why an AD account loses Sentry access altogether: disabled, past its accountExpires, or gone from AD. */
export type OffboardReason = 'disabled' | 'expired' | 'deleted';

export type Action =
  | { type: 'invite'; email: string; orgRole: OrgRole; teamSlugs: string[]; thenTeamRoles?: TeamRoles }
  | { type: 'update'; memberId: string; orgRole?: OrgRole; teamRoles?: TeamRoles }
  | { type: 'remove'; memberId: string }
  | { type: 'renewInvite'; memberId: string }
  /** Carried out by the sync through the Sentry-side module, not the admin API (provisioning/offboard.ts). */
  | { type: 'offboard'; sub: string; email: string; username: string; reason: OffboardReason }
  /** Also through the module: reactivate the user the gateway deactivated, then reconcile the membership it shows again. */
  | { type: 'reactivate'; sub: string; email: string; username: string };

type TeamRoles = { teamSlug: string; role: SentryTeamRole | null }[];

export interface MembershipPlan {
  email: string;
  changes: Change[];
  actions: Action[];
  /** Changes we will not make, and why (e.g. the last owner). */
  skipped: string[];
}

const ORG_RANK: Record<SentryOrgRole, number> = { member: 0, billing: 0, admin: 1, manager: 2, owner: 3 };

/** The team role Sentry actually applies: a stored role, or the minimum the org role implies. */
export function effectiveTeamRole(stored: SentryTeamRole | null | undefined, orgRole: SentryOrgRole): TeamRole {
  const minimum: TeamRole = ORG_RANK[orgRole] >= ORG_RANK.admin ? 'admin' : 'contributor';
  return stored === 'admin' || minimum === 'admin' ? 'admin' : 'contributor';
}

export function planMembership(desired: DesiredMembership, current: SentryMember | null, managed: ReadonlySet<string>): MembershipPlan {
  const plan: MembershipPlan = { email: desired.email, changes: [], actions: [], skipped: [] };
  const wanted = new Map(desired.teams.filter((t) => managed.has(t.slug)).map((t) => [t.slug, t.role]));

  if (!current) {
    plan.changes.push({ kind: 'invite', orgRole: desired.orgRole });
    for (const [slug, role] of wanted) plan.changes.push({ kind: 'addTeam', slug, role });
    // Sentry ignores team roles on invites: a role above the org role's minimum needs a follow-up PUT.
    const needsRoles = [...wanted].some(([, role]) => role !== effectiveTeamRole(null, desired.orgRole));
    plan.actions.push({
      type: 'invite',
      email: desired.email,
      orgRole: desired.orgRole,
      teamSlugs: [...wanted.keys()],
      ...(needsRoles ? { thenTeamRoles: [...wanted].map(([teamSlug, role]) => ({ teamSlug, role })) } : {}),
    });
    return plan;
  }
  if (current.idpProvisioned) {
    plan.skipped.push('managed by SCIM in Sentry: left alone');
    return plan;
  }
  // Sentry refuses an invite token past its expiry (30 days); the module links only live invites, so an
  // expired one is renewed (a new token), never linked as it is.
  if (current.pending && current.expired) {
    plan.changes.push({ kind: 'renewInvite' });
    plan.actions.push({ type: 'renewInvite', memberId: current.id });
  }

  let orgRole: SentryOrgRole = current.orgRole;
  if (current.orgRole !== desired.orgRole) {
    if (current.orgRole === 'owner' && current.isOnlyOwner) {
      plan.skipped.push(`would demote the organization's last owner to ${desired.orgRole}: kept as owner`);
    } else {
      plan.changes.push({ kind: 'orgRole', from: current.orgRole, to: desired.orgRole });
      orgRole = desired.orgRole;
    }
  }

  const stored = new Map((current.teamRoles ?? []).map((t) => [t.teamSlug, t.role]));
  let teamsChanged = false;
  for (const [slug, role] of wanted) {
    if (!stored.has(slug)) {
      plan.changes.push({ kind: 'addTeam', slug, role });
      teamsChanged = true;
      continue;
    }
    const have = effectiveTeamRole(stored.get(slug), orgRole);
    const want = effectiveTeamRole(role, orgRole);
    if (have !== want) {
      plan.changes.push({ kind: 'teamRole', slug, from: have, to: want });
      teamsChanged = true;
    }
  }
  for (const slug of stored.keys()) {
    if (managed.has(slug) && !wanted.has(slug)) {
      plan.changes.push({ kind: 'removeTeam', slug });
      teamsChanged = true;
    }
  }
  if (orgRole !== current.orgRole || teamsChanged) {
    // PUT teamRoles replaces the whole set: teams no rule names are sent back exactly as they were.
    // The set goes with every PUT, role changes included: some Sentry versions clear the teams of a PUT without it.
    const teamRoles: TeamRoles = [];
    for (const [teamSlug, role] of stored) if (!managed.has(teamSlug)) teamRoles.push({ teamSlug, role });
    for (const [teamSlug, role] of wanted) teamRoles.push({ teamSlug, role });
    plan.actions.push({
      type: 'update',
      memberId: current.id,
      ...(orgRole !== current.orgRole ? { orgRole: desired.orgRole } : {}),
      teamRoles: teamRoles.sort((a, b) => a.teamSlug.localeCompare(b.teamSlug)),
    });
  }
  return plan;
}

/** Removal of a member who lost access; never the last owner. */
export function planRemoval(current: SentryMember): MembershipPlan {
  const plan: MembershipPlan = { email: current.email, changes: [], actions: [], skipped: [] };
  if (current.orgRole === 'owner' && current.isOnlyOwner) plan.skipped.push("the organization's last owner is never removed");
  else if (current.idpProvisioned) plan.skipped.push('managed by SCIM in Sentry: left alone');
  else {
    plan.changes.push({ kind: 'remove' });
    plan.actions.push({ type: 'remove', memberId: current.id });
  }
  return plan;
}

export function describeChange(c: Change): string {
  switch (c.kind) {
    case 'invite':
      return `invite as ${c.orgRole}`;
    case 'orgRole':
      return `role ${c.from} → ${c.to}`;
    case 'addTeam':
      return `+ team ${c.slug} (${c.role})`;
    case 'removeTeam':
      return `− team ${c.slug}`;
    case 'teamRole':
      return `team ${c.slug}: ${c.from} → ${c.to}`;
    case 'remove':
      return 'remove from the organization';
    case 'renewInvite':
      return 'renew the expired invite';
    case 'offboard':
      return `deactivate the Sentry user and revoke its API tokens (${c.reason} in AD)`;
    case 'reactivate':
      return 'reactivate the Sentry user the gateway deactivated (enabled in AD again), no new invite';
  }
}
