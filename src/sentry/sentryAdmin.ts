// The SentryAdmin port: the organization-membership operations provisioning needs, independent of HTTP.

export type SentryOrgRole = 'member' | 'manager' | 'owner' | 'admin' | 'billing';
export type SentryTeamRole = 'contributor' | 'admin';

export interface SentryMember {
  /** OrganizationMember id (a string of digits). */
  id: string;
  email: string;
  orgRole: SentryOrgRole;
  /** true while the invite has not been accepted (user is null). */
  pending: boolean;
  /** Stored team roles; null means "the minimum for the org role". Present when read in detail. */
  teamRoles?: { teamSlug: string; role: SentryTeamRole | null }[];
  isOnlyOwner?: boolean;
  /** Members managed by SCIM cannot be changed through this API. */
  idpProvisioned?: boolean;
  /** A pending invite whose token is past its expiry (30 days in Sentry): it cannot be accepted until renewed. */
  expired?: boolean;
}

export type SentryErrorCode =
  | 'SENTRY_UNAVAILABLE' // network error, timeout, 5xx, 429 after retries
  | 'SENTRY_AUTH' // 401/403: the token is wrong or lacks scopes
  | 'SENTRY_NOT_FOUND'
  | 'SENTRY_CONFLICT' // duplicate invite (400 "already a member", "has already been invited", "existing invite request") or team (409)
  | 'SENTRY_INVITE_LIMITED' // 429 "rate limited for too many invitations": Sentry's daily invite limits
  | 'SENTRY_REJECTED'; // any other 4xx

export class SentryApiError extends Error {
  constructor(
    readonly code: SentryErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SentryApiError';
  }
}

export interface SentryAdmin {
  /** The token's own membership (the provisioner), never managed by us. */
  self(): Promise<SentryMember>;
  /**
   * The member Sentry resolves the address to (its `email:` query matches any address of a member's user,
   * while answers show the primary one), read in detail with teams; null when absent.
   */
  findMemberByEmail(email: string): Promise<SentryMember | null>;
  getMember(id: string): Promise<SentryMember>;
  /** Every member and pending invite, without team details. */
  listMembers(): Promise<SentryMember[]>;
  /** Pending invite without email (sendInvite: false); team roles are not applied by Sentry at invite time. */
  inviteMember(email: string, orgRole: SentryOrgRole, teamSlugs: string[]): Promise<SentryMember>;
  /** PUT: teamRoles replaces the member's whole team set. */
  updateMember(id: string, change: { orgRole?: SentryOrgRole; teamRoles?: { teamSlug: string; role: SentryTeamRole | null }[] }): Promise<SentryMember>;
  removeMember(id: string): Promise<void>;
  /** Renews a pending invite's token (PUT reinvite + regenerate); Sentry also sends the invitation email. */
  renewInvite(id: string): Promise<SentryMember>;
  listTeamSlugs(): Promise<string[]>;
  /** Creates the team and takes the provisioner back off it (Sentry adds the token's user to teams it creates). */
  createTeam(slug: string): Promise<void>;
  /** Cheap call proving the token works (check-config --connect, readiness). */
  ping(): Promise<void>;
}
