// Carries out a membership plan against Sentry, creating managed teams that do not exist yet.
import type { SentryAdmin, SentryMember } from '../sentry/sentryAdmin.js';
import type { Action, MembershipPlan } from './planMembership.js';

/** Sentry's team list, read once a minute at most: creating a missing team is rare, asking every time is not. */
export class TeamDirectory {
  private slugs?: { set: Set<string>; at: number };
  constructor(
    private readonly admin: SentryAdmin,
    private readonly now: () => number = Date.now,
  ) {}

  async ensure(slugs: string[]): Promise<string[]> {
    if (slugs.length === 0) return [];
    if (!this.slugs || this.now() - this.slugs.at > 60_000) this.slugs = { set: new Set(await this.admin.listTeamSlugs()), at: this.now() };
    const created: string[] = [];
    for (const slug of slugs) {
      if (this.slugs.set.has(slug)) continue;
      await this.admin.createTeam(slug);
      this.slugs.set.add(slug);
      created.push(slug);
    }
    return created;
  }
}

function teamsOf(action: Action): string[] {
  if (action.type === 'invite') return action.teamSlugs;
  if (action.type === 'update') return (action.teamRoles ?? []).map((t) => t.teamSlug);
  return [];
}

/** Applies every action in order; returns the member as Sentry left it (undefined after removal). */
export async function applyPlan(plan: MembershipPlan, admin: SentryAdmin, teams: TeamDirectory): Promise<{ member?: SentryMember; createdTeams: string[] }> {
  let member: SentryMember | undefined;
  const createdTeams: string[] = [];
  for (const action of plan.actions) {
    createdTeams.push(...(await teams.ensure(teamsOf(action))));
    switch (action.type) {
      case 'invite':
        member = await admin.inviteMember(action.email, action.orgRole, action.teamSlugs);
        if (action.thenTeamRoles) member = await admin.updateMember(member.id, { teamRoles: action.thenTeamRoles });
        break;
      case 'update':
        member = await admin.updateMember(action.memberId, {
          ...(action.orgRole ? { orgRole: action.orgRole } : {}),
          ...(action.teamRoles ? { teamRoles: action.teamRoles } : {}),
        });
        break;
      case 'remove':
        await admin.removeMember(action.memberId);
        member = undefined;
        break;
      case 'renewInvite':
        member = await admin.renewInvite(action.memberId);
        break;
      case 'offboard':
      case 'reactivate':
        // Not an admin-API call: the sync hands these to the offboarder (provisioning/offboard.ts).
        break;
    }
  }
  return { member, createdTeams };
}
