// An in-process fake of Sentry's member/team admin API, served over real HTTP on 127.0.0.1, for the
// provisioning tests and the demo. It reproduces the behaviour the research notes document (including where the
// real server differs from its OpenAPI schema) and checks every request and response on the
// documented paths against openapi-subset.json, so neither a client bug nor a fake bug can pass
// silently: a mismatch is recorded in `violations` and the request is answered with a loud 500.
//
// Mirrors getsentry/sentry (master, commits 0c951a0b9ffe569196738fee5f9c4f41ec621d4a for
// src/sentry/core/endpoints/organization_member_index.py, 08004c0338d897cfc28da55bcaa7ac7573c1d75f for
// organization_member_details.py, 05c8a60ec1407fa6ae4dfe640a2646006f4c7c86 for organization_member_utils.py):
// the file each behaviour copies is named beside it.
import { AssertionError } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { loadOpenApiValidator, type OpenApiValidator } from './openapiValidator.js';

export type OrgRole = 'member' | 'admin' | 'manager' | 'owner' | 'billing';
export type TeamRole = 'contributor' | 'admin';
/** refuse: nothing listens (ECONNREFUSED); reset: sockets are destroyed on arrival; error500/503: a bare 5xx; hang: never answers. */
export type Fault = 'refuse' | 'reset' | 'error500' | 'error503' | 'hang' | null;

export interface FakeSentryOptions {
  organization?: string;
  /** Sentry's `system.url-prefix`: the host written into Link headers and invite links. */
  urlPrefix?: string;
  token?: string;
  /** sentry.io behaviour: X-Sentry-Rate-Limit-* headers and the API 429. Self-hosted has neither. */
  saasMode?: boolean;
  /** Email of the service user the token belongs to. */
  tokenUserEmail?: string;
  /** The fake's clock (ms since epoch): invite expiry and the invite rate-limit windows. Default Date.now. */
  now?: () => number;
  /**
   * The feature `organizations:invite-members-rate-limits` (src/sentry/features/temporary.py registers it
   * default on, so a self-hosted install has it unless sentry.conf.py turns it off). Default true.
   */
  inviteRateLimits?: boolean;
  /** Where the Sentry-side module finds the gateway (its SENTRY_AD_GATEWAY settings); needed by the offboard endpoint. */
  gateway?: FakeGatewaySettings;
}

/** The module's settings the offboard endpoint needs (config/sentry/sentry_ad_gateway_auth.py: JWKS_URL, ISSUER, AUDIENCE, HEADER). */
export interface FakeGatewaySettings {
  jwksUrl: string;
  issuer: string;
  /** The module's AUDIENCE; offboarding assertions carry `<audience>:offboard`. */
  audience: string;
  /** Default X-Sentry-Gateway-Assertion. */
  header?: string;
}

/** One call the fake's offboard endpoint answered, for tests to inspect. */
export interface OffboardCall {
  status: number;
  body: unknown;
  claims?: JWTPayload;
}

export interface UserSnapshot {
  id: string;
  /** The primary address. */
  email: string;
  isActive: boolean;
  emails: { email: string; verified: boolean; primary: boolean }[];
  tokens: number;
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, the raw text when it was not JSON, or undefined when there was none. */
  body: unknown;
  /** 0 when the fake dropped the connection instead of answering. */
  status: number;
}

export interface Violation {
  method: string;
  path: string;
  messages: string[];
}

export interface MemberSnapshot {
  id: string;
  email: string;
  orgRole: OrgRole;
  pending: boolean;
  userId: string | null;
  /** Team slug -> stored team role (null = the minimum implied by the org role). */
  teams: Record<string, TeamRole | null>;
  /** Team slug -> the role that actually applies (stored role raised to the org role's minimum). */
  effectiveTeamRoles: Record<string, TeamRole>;
  sendInvite: boolean;
  /** Invite emails "sent": 1 for an invite with sendInvite, plus one per re-invite. */
  invitesSent: number;
  inviteToken: string | null;
  expired: boolean;
  idpProvisioned: boolean;
}

export interface AddMemberInput {
  email: string;
  orgRole?: OrgRole;
  /** Slugs (stored role null) or slug -> stored role. Teams must exist already. */
  teams?: string[] | Record<string, TeamRole | null>;
  /** Default false: an accepted member with a Sentry user. */
  pending?: boolean;
  name?: string;
  expired?: boolean;
  idpProvisioned?: boolean;
  /** An invite request (REQUESTED_TO_BE_INVITED): hidden from the API's lists and lookups, replaced by a POST invite. */
  inviteRequest?: boolean;
}

/** What a route answers before contract checking; test hooks may rewrite it. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Set (with the reason) where real Sentry answers a status the schema does not list for this
   * operation; exempts only the "status is listed" check.
   */
  unlistedStatusReason?: string;
}

export type ResponseTamper = (call: { method: string; path: string }, reply: Reply) => Reply | undefined;

export interface FakeSentry {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  organization: string;
  token: string;
  urlPrefix: string;
  tokenUser: { userId: string; email: string; memberId: string };
  calls: RecordedCall[];
  violations: Violation[];
  /** Non-GET calls only. */
  writes(): RecordedCall[];
  /** Clears recorded calls; state (members, teams) and violations stay. */
  reset(): void;
  /** Returns the violations so far and clears them (for tests that provoke one on purpose). */
  takeViolations(): Violation[];
  setFault(fault: Fault): Promise<void>;
  /** Shorthand for setFault('refuse') / setFault(null). */
  setDown(down: boolean): Promise<void>;
  setLatency(ms: number): void;
  setSaasMode(on: boolean): void;
  /** Saas mode only: every API request gets the middleware's 429. */
  setRateLimited(on: boolean): void;
  /** Forces the invite rate limit's 429 on every invite, whatever the counters say. */
  setInviteRateLimited(on: boolean): void;
  /** Turns the feature `organizations:invite-members-rate-limits` on or off (as the module's snippet does). */
  setInviteRateLimitFeature(on: boolean): void;
  /** Invites answered 429 by the rate limit so far. */
  inviteRateLimitHits(): number;
  /** Where the offboard endpoint fetches the gateway's keys. */
  setGateway(settings: FakeGatewaySettings): void;
  /** Every answer of the offboard endpoint so far. */
  offboardCalls: OffboardCall[];
  /** Adds an address to a user (UserEmail), verified or not. */
  addUserEmail(userId: string, email: string, verified: boolean): void;
  /** A personal API token (ApiToken) of the user; returns the token string. */
  addApiToken(userId: string): string;
  /** An organization auth token (OrgAuthToken, `sntrys_`) the user created; returns its id. */
  addOrgAuthToken(userId: string, name: string): string;
  /** An admin switches the user's "active" flag in Sentry (the user details endpoint saves the whole user). */
  setUserActive(userId: string, active: boolean): void;
  /** Makes the user a superuser (as `sentry createuser --superuser` does). */
  setSuperuser(userId: string, on: boolean): void;
  /** Sentry's cache (memcached with ignore_exc) is down: the module cannot guard replays and answers 503. */
  setReplayCacheDown(on: boolean): void;
  /** Every answer of the reactivate endpoint so far. */
  reactivateCalls: OffboardCall[];
  user(id: string): UserSnapshot | undefined;
  /** The user whose primary address is `email`. */
  userByEmail(email: string): UserSnapshot | undefined;
  /** Moves a pending invite's token expiry into the past (an invite older than 30 days). */
  expireInvite(email: string): void;
  /** Changes `system.url-prefix`, as an operator editing sentry/config.yml and restarting Sentry would. */
  setUrlPrefix(prefix: string): void;
  /** Test-only: rewrite replies before they are checked against the contract. */
  setResponseTamper(fn: ResponseTamper | null): void;
  /**
   * A Sentry user that exists without being a member (e.g. signed up earlier). Returns its id.
   * `email` is the primary address (a verified UserEmail); `emails` adds further UserEmails.
   */
  addUser(email: string, name?: string, opts?: { emails?: { email: string; verified: boolean }[]; isActive?: boolean }): string;
  addMember(input: AddMemberInput): MemberSnapshot;
  addTeam(slug: string, opts?: { name?: string; idpProvisioned?: boolean }): void;
  /** Links a pending invite to a user (created if needed), as accepting the invite link does. */
  acceptInvite(email: string): MemberSnapshot;
  member(email: string): MemberSnapshot | undefined;
  members(): MemberSnapshot[];
  teamSlugs(): string[];
  close(): Promise<void>;
}

/** For `after` hooks: fails with every recorded contract violation. */
export function assertNoViolations(fake: FakeSentry): void {
  if (fake.violations.length === 0) return;
  const text = fake.violations.map((v) => `${v.method} ${v.path}\n  ${v.messages.join('\n  ')}`).join('\n');
  throw new AssertionError({ message: `fake Sentry recorded ${fake.violations.length} contract violation(s):\n${text}` });
}

// ---------------------------------------------------------------------------------------------
// Roles (Sentry's default SENTRY_ROLES / team roles, summarised in the notes §4)

const TEAM_ROLE_PRIORITY: Record<TeamRole, number> = { contributor: 0, admin: 1 };

interface OrgRoleDef {
  id: OrgRole;
  name: string;
  desc: string;
  scopes: string[];
  isRetired: boolean;
  isTeamRolesAllowed: boolean;
  isGlobal: boolean;
  minimumTeamRole: TeamRole;
  saasOnly: boolean;
}

const MEMBER_SCOPES = ['event:read', 'event:write', 'event:admin', 'project:read', 'project:releases', 'org:read', 'member:read', 'member:invite', 'team:read', 'alerts:read', 'alerts:write'];
const ORG_ROLES: OrgRoleDef[] = [
  { id: 'billing', name: 'Billing', desc: 'Can manage payment and compliance details.', scopes: ['org:billing'], isRetired: false, isTeamRolesAllowed: false, isGlobal: false, minimumTeamRole: 'contributor', saasOnly: true },
  { id: 'member', name: 'Member', desc: 'Can view and act on events.', scopes: MEMBER_SCOPES, isRetired: false, isTeamRolesAllowed: true, isGlobal: false, minimumTeamRole: 'contributor', saasOnly: false },
  { id: 'admin', name: 'Admin', desc: 'Retired: use team roles.', scopes: [...MEMBER_SCOPES, 'project:write', 'project:admin', 'team:write', 'team:admin', 'org:integrations'], isRetired: true, isTeamRolesAllowed: true, isGlobal: false, minimumTeamRole: 'admin', saasOnly: false },
  { id: 'manager', name: 'Manager', desc: "Full management access to all teams and projects, and the organization's membership.", scopes: [...MEMBER_SCOPES, 'project:write', 'project:admin', 'team:write', 'team:admin', 'member:write', 'member:admin', 'org:write', 'org:integrations'], isRetired: false, isTeamRolesAllowed: true, isGlobal: true, minimumTeamRole: 'admin', saasOnly: false },
  { id: 'owner', name: 'Owner', desc: 'Unrestricted access to the organization.', scopes: [...MEMBER_SCOPES, 'project:write', 'project:admin', 'team:write', 'team:admin', 'member:write', 'member:admin', 'org:write', 'org:admin', 'org:integrations', 'org:billing'], isRetired: false, isTeamRolesAllowed: true, isGlobal: true, minimumTeamRole: 'admin', saasOnly: false },
];
const ORG_ROLE_PRIORITY: Record<OrgRole, number> = { billing: 0, member: 1, admin: 2, manager: 3, owner: 4 };
const TEAM_ROLES = [
  { id: 'contributor' as const, name: 'Contributor', desc: "Can view and act on issues.", scopes: ['event:read', 'event:write', 'team:read', 'project:read'], isMinimumRoleFor: 'member' },
  { id: 'admin' as const, name: 'Team Admin', desc: "Full management access to the team's membership and projects.", scopes: ['event:read', 'event:write', 'team:read', 'team:write', 'team:admin', 'project:read', 'project:write', 'project:admin'], isMinimumRoleFor: 'admin' },
];

function orgRoleDef(id: OrgRole): OrgRoleDef {
  return ORG_ROLES.find((r) => r.id === id)!;
}

function effectiveTeamRole(orgRole: OrgRole, stored: TeamRole | null): TeamRole {
  const min = orgRoleDef(orgRole).minimumTeamRole;
  return stored && TEAM_ROLE_PRIORITY[stored] > TEAM_ROLE_PRIORITY[min] ? stored : min;
}

const isTeamRole = (v: unknown): v is TeamRole => v === 'contributor' || v === 'admin';

// ---------------------------------------------------------------------------------------------
// State

// src/sentry/users/models/user.py and useremail.py: a user has one primary address (User.email) and
// any number of UserEmail rows, each verified or not; is_active false is a deactivated account.
interface User {
  id: string;
  /** The primary address. */
  email: string;
  name: string;
  dateJoined: string;
  isActive: boolean;
  emails: { email: string; verified: boolean }[];
  /** The module binds a user to the AD objectGUID (`sub`) it signed in or offboarded with. */
  boundSub?: string;
  isSuperuser?: boolean;
  /** The module's mark: the gateway deactivated this user and nobody activated it since. */
  deactivatedByGateway?: boolean;
}

interface Member {
  id: number;
  email: string;
  user: User | null;
  orgRole: OrgRole;
  teams: Map<string, TeamRole | null>;
  inviteToken: string | null;
  sendInvite: boolean;
  invitesSent: number;
  dateCreated: string;
  inviterName: string | null;
  inviterUserId: string | null;
  /**
   * src/sentry/models/organizationmember.py: token_expires_at is now + INVITE_DAYS_VALID (30 days) when the
   * token is made or regenerated; `token_expired` is token_expires_at <= now. null for accepted members.
   */
  tokenExpiresAt: number | null;
  idpProvisioned: boolean;
  /** InviteStatus: APPROVED for ordinary invites and members; REQUESTED_TO_BE_INVITED for an invite request. */
  inviteStatus: 'approved' | 'requested_to_be_invited';
}

const INVITE_DAYS_VALID_MS = 30 * 24 * 3600 * 1000;

interface Team {
  id: number;
  slug: string;
  name: string;
  dateCreated: string;
  idpProvisioned: boolean;
}

// Messages as Sentry's code words them (organization_member/details.py and friends).
const ERR = {
  noAuth: 'Authentication credentials were not provided.',
  badToken: 'Invalid token',
  forbidden: 'You do not have permission to perform this action.',
  notFound: 'The requested resource does not exist',
  onlyOwner: 'You cannot remove the only remaining owner of the organization.',
  uninvitable: 'You cannot send an invitation to a user who is already a full member.',
  expired: 'You cannot resend an expired invitation without regenerating the token.',
  editWhenReinviting: 'You cannot modify member details when resending an invitation. Separate requests are required.',
  // ERR_RATE_LIMITED in organization_member_utils.py and organization_member_details.py.
  inviteRateLimited: 'You are being rate limited for too many invitations.',
  ownRole: 'You cannot make changes to your own role.',
  idpMember: "This user is managed through your organization's identity provider.",
  idpTeam: "This team is managed through your organization's identity provider.",
} as const;

// Reasons for statuses the schema leaves out; each is a documented schema-vs-code difference.
// differs from schema: DRF authentication runs before every view, so any operation can answer 401,
// including those whose schema entry lists no 401 (teams list, team members, member-team PUT/DELETE, team create).
const UNLISTED_AUTH = 'auth layer: 401 on any endpoint';
// differs from schema: the org lookup and member/team lookups answer 404 for unknown ids on every
// operation, including PUT /members/{id}/ and others whose schema lists no 404.
const UNLISTED_NOT_FOUND = 'lookup: 404 on any endpoint';
// differs from schema: a token user without a membership in the org gets 403 everywhere.
const UNLISTED_FORBIDDEN = 'permission layer: 403 on any endpoint';
// differs from schema (notes §2, §6.9): sentry.io's rate-limit middleware answers 429 on any endpoint.
const UNLISTED_RATE_LIMIT = 'rate-limit middleware: 429 on any endpoint';
// differs from schema: an invalid cursor or per_page is a DRF ParseError (400) on list endpoints.
const UNLISTED_BAD_PAGINATION = 'paginator: 400 for a malformed cursor or per_page';

type Query = URLSearchParams;

/** The module's offboarding endpoint, outside /api/0/ (config/sentry/sentry_ad_gateway_auth.py). */
export const OFFBOARD_PATH = '/_sentry-ad-gateway/offboard/';
export const REACTIVATE_PATH = '/_sentry-ad-gateway/reactivate/';

interface Ctx {
  method: string;
  pathname: string;
  query: Query;
  params: Record<string, string>;
  body: Record<string, unknown>;
}

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: (ctx: Ctx) => Reply;
  /** Query parameters real Sentry reads although the schema does not declare them. */
  extraQuery?: string[];
}

function route(method: string, template: string, handler: (ctx: Ctx) => Reply, extraQuery?: string[]): Route {
  const names: string[] = [];
  const pattern = new RegExp(
    '^' +
      template.replace(/\{(\w+)\}/g, (_, n: string) => {
        names.push(n);
        return '([^/]+)';
      }) +
      '$',
  );
  return { method, pattern, names, handler, ...(extraQuery ? { extraQuery } : {}) };
}

const detail = (status: number, text: string, unlistedStatusReason?: string): Reply => ({
  status,
  body: { detail: text },
  ...(unlistedStatusReason ? { unlistedStatusReason } : {}),
});

function slugify(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50);
}

export async function startFakeSentry(opts: FakeSentryOptions = {}): Promise<FakeSentry> {
  const organization = opts.organization ?? 'acme';
  const token = opts.token ?? `sntryu_${randomBytes(16).toString('hex')}`;
  const orgId = '1';
  const orgCreated = new Date('2024-01-01T00:00:00Z').toISOString();
  const validator: OpenApiValidator = loadOpenApiValidator();

  let saasMode = opts.saasMode ?? false;
  let rateLimited = false;
  let inviteRateLimited = false;
  let inviteRateLimitFeature = opts.inviteRateLimits ?? true;
  let inviteRateLimitHits = 0;
  const clock = opts.now ?? Date.now;
  let gateway: FakeGatewaySettings | undefined = opts.gateway;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const seenJti = new Set<string>();
  const offboardCalls: OffboardCall[] = [];
  const reactivateCalls: OffboardCall[] = [];
  let replayCacheDown = false;
  // Organization auth tokens (src/sentry/models/orgauthtoken.py): created_by is SET_NULL, they work while
  // date_deactivated is null; only the last four characters are kept in clear.
  const orgAuthTokens: { id: string; name: string; createdBy: string; lastCharacters: string }[] = [];
  // Personal API tokens (src/sentry/models/apitoken.py): token string -> user id.
  const apiTokens = new Map<string, string>();
  // Redis rate limiter counters (src/sentry/ratelimits/redis.py): key + time bucket -> count.
  const rateCounters = new Map<string, number>();
  let fault: Fault = null;
  let latencyMs = 0;
  let tamper: ResponseTamper | null = null;

  const users: User[] = [];
  const members: Member[] = [];
  const teams: Team[] = [];
  let nextUserId = 1;
  let nextMemberId = 1;
  let nextTeamId = 1;
  const calls: RecordedCall[] = [];
  const violations: Violation[] = [];
  const hung = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const now = () => new Date(clock()).toISOString();
  const lower = (s: string) => s.toLowerCase();

  function ensureUser(email: string, name?: string): User {
    const existing = users.find((u) => lower(u.email) === lower(email));
    if (existing) return existing;
    const u: User = { id: String(nextUserId++), email, name: name ?? email, dateJoined: now(), isActive: true, emails: [{ email, verified: true }] };
    users.push(u);
    return u;
  }
  const addUser = (email: string, name?: string, o: { emails?: { email: string; verified: boolean }[]; isActive?: boolean } = {}): string => {
    if (users.some((u) => lower(u.email) === lower(email))) throw new Error(`fake Sentry: a user with primary address ${email} exists`);
    const u = ensureUser(email, name);
    for (const e of o.emails ?? []) u.emails.push({ ...e });
    if (o.isActive === false) u.isActive = false;
    return u.id;
  };

  /**
   * user_service.get_many_by_email (src/sentry/users/services/user/impl.py): users with a UserEmail equal
   * (case-insensitively) to one of `emails`, verified only when `isVerified`, active only when `isActive`,
   * members of the organization only when `orgMembers`.
   */
  function usersByEmail(emails: string[], o: { isActive: boolean; isVerified: boolean; orgMembers: boolean }): User[] {
    const wanted = new Set(emails.map(lower));
    return users.filter(
      (u) =>
        u.emails.some((e) => wanted.has(lower(e.email)) && (!o.isVerified || e.verified)) &&
        (!o.isActive || u.isActive) &&
        (!o.orgMembers || members.some((m) => m.user === u)),
    );
  }

  /** The Redis rate limiter's is_limited: counts every call in a fixed, epoch-aligned window; limited above `limit`. */
  function isLimited(key: string, limit: number, windowS: number): boolean {
    // src/sentry/ratelimits/redis.py: _time_bucket(request_time, window) = int(request_time / window).
    const bucketKey = `${key}:${Math.floor(clock() / 1000 / windowS)}`;
    const n = (rateCounters.get(bucketKey) ?? 0) + 1;
    rateCounters.set(bucketKey, n);
    return n > limit;
  }

  /**
   * ratelimits.for_organization_member_invite (src/sentry/ratelimits/utils.py): behind the feature
   * organizations:invite-members-rate-limits; 100 a day per inviting user, 100 a day per organization,
   * 10 a day per email. The three checks sit in one tuple passed to any(), so every call counts against
   * all three, refused calls included.
   */
  function inviteRateLimitedFor(email: string): boolean {
    if (inviteRateLimited) return true;
    if (!inviteRateLimitFeature) return false;
    const day = 3600 * 24;
    const results = [
      isLimited(`members:invite-by-user:${requestUser.id}`, 100, day),
      isLimited(`members:invite-by-org:${orgId}`, 100, day),
      isLimited(`members:org-invite-to-email:${orgId}-${lower(email)}`, 10, day),
    ];
    return results.some(Boolean);
  }

  const tokenUserEmail = opts.tokenUserEmail ?? 'sentry-provisioner@example.invalid';
  const tokenUser = ensureUser(tokenUserEmail, 'Provisioning service');
  const tokenUserId = tokenUser.id;
  // The token's user is an Owner with a real membership row, so it appears in member lists the way
  // a service user does in real Sentry.
  const tokenMember: Member = {
    id: nextMemberId++,
    email: tokenUserEmail,
    user: tokenUser,
    orgRole: 'owner',
    teams: new Map(),
    inviteToken: null,
    sendInvite: false,
    invitesSent: 0,
    dateCreated: orgCreated,
    inviterName: null,
    inviterUserId: null,
    tokenExpiresAt: null,
    idpProvisioned: false,
    inviteStatus: 'approved',
  };
  members.push(tokenMember);

  // The user the current request authenticated as: the provisioning token's user, or a personal token's.
  let requestUser: User = tokenUser;
  const callerMember = () => members.find((m) => m.user?.id === requestUser.id);
  const isExpired = (m: Member) => m.tokenExpiresAt !== null && m.tokenExpiresAt <= clock();

  function findTeam(idOrSlug: string): Team | undefined {
    return teams.find((t) => t.slug === idOrSlug || String(t.id) === idOrSlug);
  }

  function findMember(idOrMe: string): Member | undefined {
    if (idOrMe === 'me') return callerMember();
    if (!/^\d+$/.test(idOrMe)) return undefined;
    // organization_member_details.py _get_member: invite_status=APPROVED only; and, as the member
    // endpoints' base (src/sentry/api/bases/organizationmember.py @ 008af598c5c946bce4e0f9e99c0478cd98dd5c9d:
    // Q(user__is_active=True) | Q(user__isnull=True)), never the membership of an inactive user.
    return members.find((m) => m.id === Number(idOrMe) && m.inviteStatus === 'approved' && (m.user === null || m.user.isActive));
  }

  /** Test lookups: the member whose invite address, or whose user's address (any UserEmail), is `email`. */
  function findByEmail(email: string): Member | undefined {
    return (
      members.find((m) => lower(m.email) === lower(email)) ??
      members.find((m) => m.user !== null && (lower(m.user.email) === lower(email) || m.user.emails.some((e) => lower(e.email) === lower(email))))
    );
  }

  function snapshot(m: Member): MemberSnapshot {
    const teamsObj: Record<string, TeamRole | null> = {};
    const eff: Record<string, TeamRole> = {};
    for (const [slug, role] of [...m.teams].sort(([a], [b]) => a.localeCompare(b))) {
      teamsObj[slug] = role;
      eff[slug] = effectiveTeamRole(m.orgRole, role);
    }
    return {
      id: String(m.id),
      email: m.email,
      orgRole: m.orgRole,
      pending: m.user === null,
      userId: m.user?.id ?? null,
      teams: teamsObj,
      effectiveTeamRoles: eff,
      sendInvite: m.sendInvite,
      invitesSent: m.invitesSent,
      inviteToken: m.inviteToken,
      expired: isExpired(m),
      idpProvisioned: m.idpProvisioned,
    };
  }

  function userSnapshot(u: User): UserSnapshot {
    return {
      id: u.id,
      email: u.email,
      isActive: u.isActive,
      emails: u.emails.map((e) => ({ email: e.email, verified: e.verified, primary: lower(e.email) === lower(u.email) })),
      tokens: [...apiTokens.values()].filter((id) => id === u.id).length,
    };
  }

  function isOnlyOwner(m: Member): boolean {
    // Pending owner invites hold no access yet, so they do not count as owners.
    return m.orgRole === 'owner' && m.user !== null && !members.some((o) => o !== m && o.orgRole === 'owner' && o.user !== null);
  }

  // --- serializers -----------------------------------------------------------------------------

  function serializeUser(u: User) {
    return {
      id: u.id,
      name: u.name,
      username: u.email,
      email: u.email,
      avatarUrl: '',
      isActive: u.isActive,
      isSuspended: false,
      hasPasswordAuth: false,
      isManaged: true,
      dateJoined: u.dateJoined,
      lastLogin: null,
      has2fa: false,
      lastActive: null,
      isSuperuser: false,
      isStaff: false,
      experiments: {},
      emails: u.emails.map((e, i) => ({ id: `${u.id}${i}`, email: e.email, is_verified: e.verified })),
      avatar: { avatarType: 'letter_avatar', avatarUuid: null, avatarUrl: null },
    };
  }

  function serializeMember(m: Member) {
    return {
      id: String(m.id),
      // src/sentry/api/serializers/models/organization_member/base.py: a member with a user shows the
      // user's primary address, whatever address the invite went to; an invite shows its own.
      email: m.user ? m.user.email : m.email,
      name: m.user?.name ?? m.email,
      user: m.user ? serializeUser(m.user) : null,
      orgRole: m.orgRole,
      pending: m.user === null,
      expired: isExpired(m),
      flags: {
        'idp:provisioned': m.idpProvisioned,
        'idp:role-restricted': false,
        'sso:linked': false,
        'sso:invalid': false,
        'member-limit:restricted': false,
        'partnership:restricted': false,
      },
      dateCreated: m.dateCreated,
      // differs from schema: the schema's example shows "pending"; the code emits "approved" for an
      // ordinary invite and reports acceptance through `pending` (notes §5, §6.3). The field is a
      // plain string in the schema, so nothing needs exempting.
      inviteStatus: 'approved',
      inviterName: m.inviterName,
    };
  }

  function serializeMemberWithRoles(m: Member) {
    // The caller is an Owner, who may grant every role the server knows.
    const allowed = (r: OrgRoleDef) => saasMode || !r.saasOnly;
    return {
      ...serializeMember(m),
      role: m.orgRole,
      roleName: orgRoleDef(m.orgRole).name,
      teams: [...m.teams.keys()].sort(),
      teamRoles: [...m.teams].sort(([a], [b]) => a.localeCompare(b)).map(([teamSlug, role]) => ({ teamSlug, role })),
      // The caller (an Owner with member:admin) may manage roles, so pending invites show their link.
      invite_link: m.user === null && m.inviteToken ? `${urlPrefix}/accept/${organization}/${m.id}/${m.inviteToken}/` : null,
      isOnlyOwner: isOnlyOwner(m),
      orgRoleList: ORG_ROLES.filter((r) => saasMode || !r.saasOnly).map((r) => ({
        id: r.id,
        name: r.name,
        desc: r.desc,
        scopes: r.scopes,
        allowed: allowed(r),
        isAllowed: allowed(r),
        isRetired: r.isRetired,
        isTeamRolesAllowed: r.isTeamRolesAllowed,
        is_global: r.isGlobal,
        isGlobal: r.isGlobal,
        minimumTeamRole: r.minimumTeamRole,
      })),
      teamRoleList: TEAM_ROLES.map((r) => ({
        id: r.id,
        name: r.name,
        desc: r.desc,
        scopes: r.scopes,
        allowed: true,
        isAllowed: true,
        isRetired: false,
        isTeamRolesAllowed: true,
        isMinimumRoleFor: r.isMinimumRoleFor,
      })),
    };
  }

  function serializeTeam(t: Team) {
    const caller = callerMember();
    const stored = caller?.teams.has(t.slug) ? (caller.teams.get(t.slug) ?? null) : undefined;
    const isMember = caller !== undefined && stored !== undefined;
    return {
      id: String(t.id),
      slug: t.slug,
      name: t.name,
      dateCreated: t.dateCreated,
      // isMember/teamRole describe the caller, as in Sentry's team serializer.
      isMember,
      teamRole: isMember ? effectiveTeamRole(caller.orgRole, stored ?? null) : null,
      flags: { 'idp:provisioned': t.idpProvisioned },
      access: TEAM_ROLES[1]!.scopes,
      hasAccess: true,
      isPending: false,
      memberCount: members.filter((m) => m.user !== null && m.teams.has(t.slug)).length,
      avatar: { avatarType: 'letter_avatar', avatarUuid: null, avatarUrl: null },
    };
  }

  function serializeOrg() {
    return {
      id: orgId,
      slug: organization,
      name: organization,
      status: { id: 'active', name: 'active' },
      dateCreated: orgCreated,
      isEarlyAdopter: false,
      require2FA: false,
      avatar: { avatarType: 'letter_avatar', avatarUuid: null, avatarUrl: null },
      links: { organizationUrl: urlPrefix, regionUrl: urlPrefix },
      hasAuthProvider: false,
      allowMemberInvite: true,
      allowMemberProjectCreation: false,
      allowSuperuserAccess: false,
      features: ['invite-members', 'team-roles'],
      access: orgRoleDef(callerMember()?.orgRole ?? 'member').scopes,
    };
  }

  // --- pagination (notes §2) -----------------------------------------------------------------

  function paginate<T>(ctx: Ctx, items: T[]): { page: T[]; link: string } | Reply {
    let perPage = 100;
    const rawPer = ctx.query.get('per_page');
    if (rawPer !== null) {
      if (!/^\d+$/.test(rawPer) || Number(rawPer) < 1 || Number(rawPer) > 100) {
        return detail(400, 'Invalid per_page parameter.', UNLISTED_BAD_PAGINATION);
      }
      perPage = Number(rawPer);
    }
    let offset = 0;
    const rawCursor = ctx.query.get('cursor');
    if (rawCursor !== null) {
      const m = /^(\d+):(\d+):([01])$/.exec(rawCursor);
      if (!m) return detail(400, 'Invalid cursor parameter.', UNLISTED_BAD_PAGINATION);
      offset = Number(m[2]);
    }
    const page = items.slice(offset, offset + perPage);
    const rest = new URLSearchParams(ctx.query);
    rest.delete('cursor');
    // Sentry writes `?<other params>&cursor=…`, hence the odd `?&cursor=` when there are none, and
    // takes the host from system.url-prefix rather than from the request.
    const base = `${urlPrefix}${ctx.pathname}?${rest.toString()}`;
    const entry = (rel: string, cursor: string, results: boolean) => `<${base}&cursor=${cursor}>; rel="${rel}"; results="${results}"; cursor="${cursor}"`;
    const prev = `0:${Math.max(0, offset - perPage)}:1`;
    const next = `0:${offset + perPage}:0`;
    return { page, link: [entry('previous', prev, offset > 0), entry('next', next, offset + perPage < items.length)].join(', ') };
  }

  const pageReply = <T>(ctx: Ctx, items: T[], serialize: (t: T) => unknown): Reply => {
    const p = paginate(ctx, items);
    if ('status' in p) return p;
    return { status: 200, body: p.page.map(serialize), headers: { Link: p.link, 'X-Hits': String(items.length) } };
  };

  // --- team-assignment helpers ------------------------------------------------------------------

  type TeamRoleItems = { slug: string; role: TeamRole | null }[];

  /** Parses `teamRoles` (or the deprecated `teams` slug list); a Reply on error. */
  function parseTeamAssignments(body: Record<string, unknown>): TeamRoleItems | Reply | undefined {
    if ('teamRoles' in body) {
      const raw = body.teamRoles;
      if (raw === null) return [];
      if (!Array.isArray(raw)) return { status: 400, body: { teamRoles: ['Expected a list of items.'] } };
      const items: TeamRoleItems = [];
      for (const it of raw as Record<string, unknown>[]) {
        const slug = it.teamSlug;
        const role = it.role ?? null;
        if (typeof slug !== 'string' || !findTeam(slug) || findTeam(slug)!.slug !== slug) return { status: 400, body: { teamRoles: ['Invalid teams'] } };
        if (role !== null && !isTeamRole(role)) return { status: 400, body: { teamRoles: ['Invalid team-role'] } };
        items.push({ slug, role });
      }
      return items;
    }
    if ('teams' in body) {
      const raw = body.teams;
      if (!Array.isArray(raw) || raw.some((s) => typeof s !== 'string' || !teams.some((t) => t.slug === s))) {
        return { status: 400, body: { teams: ['Invalid teams'] } };
      }
      return (raw as string[]).map((slug) => ({ slug, role: null }));
    }
    return undefined;
  }

  function validOrgRole(role: unknown): role is OrgRole {
    return typeof role === 'string' && ORG_ROLES.some((r) => r.id === role && (saasMode || !r.saasOnly));
  }

  const invalidChoice = (field: string, value: unknown): Reply => ({
    status: 400,
    body: { [field]: [`"${String(value)}" is not a valid choice.`] },
  });

  // --- handlers ------------------------------------------------------------------------------------

  function listMembers(ctx: Ctx): Reply {
    // organization_member_index.py get(): approved members whose user is active, and pending invites.
    let list = members.filter((m) => m.inviteStatus === 'approved' && (m.user === null || m.user.isActive));
    const q = ctx.query.get('query');
    if (q) {
      // Sentry's tokenize_query: whitespace-separated key:value terms, all of which must match.
      for (const term of q.trim().split(/\s+/)) {
        const i = term.indexOf(':');
        const key = i > 0 ? term.slice(0, i) : 'query';
        const rawValues = (i > 0 ? term.slice(i + 1) : term).split(',');
        const values = rawValues.map(lower);
        if (key === 'email') {
          // organization_member_index.py: Q(email__in=value) | Q(user_id__in=get_many_by_email(emails=value,
          // organization_id=…, is_verified=False)): the invite address exactly, or ANY address of a member's
          // active user, verified or not, whatever its primary address is.
          const viaUsers = usersByEmail(rawValues, { isActive: true, isVerified: false, orgMembers: true });
          list = list.filter((m) => rawValues.includes(m.email) || (m.user !== null && viaUsers.includes(m.user)));
        }
        else if (key === 'role') list = list.filter((m) => values.includes(m.orgRole));
        else if (key === 'user.id') list = list.filter((m) => m.user !== null && values.includes(m.user.id));
        else if (key === 'isInvited') list = list.filter((m) => (m.user === null) === (values[0] === 'true'));
        else list = list.filter((m) => values.some((v) => lower(m.email).includes(v) || lower(m.user?.name ?? '').includes(v)));
      }
    }
    return pageReply(ctx, list, serializeMember);
  }

  function inviteMember(ctx: Ctx): Reply {
    const b = ctx.body;
    const email = String(b.email);
    // differs from schema (notes §3.2, §6.2): every validation failure is 400, which the schema does
    // not list for POST /members/; in particular a duplicate email is 400 on `email`, never 409.
    const bad = (body: unknown): Reply => ({ status: 400, body, unlistedStatusReason: 'invite validation: 400' });
    // OrganizationMemberRequestSerializer.validate_email (organization_member_index.py): a member row with this
    // address, or whose active user has it as any UserEmail (verified or not), is a MemberConflictValidationError
    // (organization_member_utils.py), a 400.
    const viaUsers = usersByEmail([email], { isActive: true, isVerified: false, orgMembers: true });
    const conflicting = members.filter((m) => m.email === email || (m.user !== null && viaUsers.includes(m.user)));
    const approved = conflicting.filter((m) => m.inviteStatus === 'approved');
    if (approved.some((m) => m.user === null)) return bad({ email: [`The user ${email} has already been invited`] });
    if (approved.length) return bad({ email: [`The user ${email} is already a member`] });
    // POST passes allow_existing_invite_request=True, so an invite request is no conflict here: it is deleted below.
    const role = b.orgRole ?? b.role ?? 'member';
    // differs from schema (notes §6.5): `billing` is in the schema's enum, but self-hosted has no
    // such role and rejects it as an unknown choice.
    if (!validOrgRole(role)) return bad(invalidChoice('orgRole', role).body);
    if (orgRoleDef(role).isRetired) return bad({ orgRole: [`The role '${role}' is deprecated and may no longer be assigned.`] });
    const assignments = parseTeamAssignments(b);
    if (assignments && 'status' in assignments) return { ...assignments, unlistedStatusReason: 'invite validation: 400' };
    // Rate limiting comes after validation (organization_member_index.py post()); a duplicate never counts.
    if (inviteRateLimitedFor(email)) {
      inviteRateLimitHits++;
      // differs from schema: the invite rate limit answers 429, which POST /members/ does not list; no reset header.
      return { ...detail(429, ERR.inviteRateLimited), unlistedStatusReason: 'invite rate limit' };
    }
    if (assignments?.length && !orgRoleDef(role).isTeamRolesAllowed) {
      return bad({ email: `The user with a '${role}' role cannot have team-level permissions.` });
    }
    // Invite requests for this address are deleted before the invite is made.
    for (const r of members.filter((m) => m.inviteStatus !== 'approved' && m.email === email)) members.splice(members.indexOf(r), 1);
    const sendInvite = b.sendInvite !== false;
    // differs from schema (notes §6.4): `reinvite` is accepted on POST but does nothing.
    const m: Member = {
      id: nextMemberId++,
      email,
      // Always a pending invite, even when a Sentry user with this email exists (notes §5).
      user: null,
      orgRole: role,
      // differs from schema (notes §6.6): the `role` part of teamRoles is ignored at invite time.
      teams: new Map((assignments ?? []).map((a) => [a.slug, null])),
      inviteToken: randomBytes(20).toString('hex'),
      sendInvite,
      invitesSent: sendInvite ? 1 : 0,
      dateCreated: now(),
      inviterName: callerMember()?.user?.name ?? null,
      inviterUserId: requestUser.id,
      tokenExpiresAt: clock() + INVITE_DAYS_VALID_MS,
      idpProvisioned: false,
      inviteStatus: 'approved',
    };
    members.push(m);
    return { status: 201, body: serializeMember(m) };
  }

  function getMember(ctx: Ctx): Reply {
    const m = findMember(ctx.params.member_id!);
    if (!m) return detail(404, ERR.notFound, UNLISTED_NOT_FOUND);
    return { status: 200, body: serializeMemberWithRoles(m) };
  }

  function updateMember(ctx: Ctx): Reply {
    const m = findMember(ctx.params.member_id!);
    if (!m) return detail(404, ERR.notFound, UNLISTED_NOT_FOUND);
    const b = ctx.body;
    const caller = callerMember()!;

    // The serializer validates the role choice before anything is changed.
    const assigned = b.orgRole ?? b.role;
    if (assigned !== undefined && !validOrgRole(assigned)) return invalidChoice('orgRole', assigned);

    if (b.reinvite === true) {
      // differs from schema: `reinvite` and `regenerate` are read by the code but absent from the PUT
      // body schema (which does not forbid extra properties, so no exemption is needed).
      // organization_member_details.py put(), in its order: only reinvite/regenerate in the body; a pending
      // member passes the invite rate limit (counted like a new invite), then regenerate (needs member:admin,
      // which the Owner token has) makes a new token valid 30 days; an expired token without regenerate is
      // refused; then the invite email goes out, whatever sendInvite the invite was made with.
      if (Object.keys(b).some((k) => k !== 'reinvite' && k !== 'regenerate')) return detail(403, ERR.editWhenReinviting);
      if (m.user !== null) return detail(400, ERR.uninvitable);
      if (inviteRateLimitedFor(m.email)) {
        inviteRateLimitHits++;
        return { ...detail(429, ERR.inviteRateLimited), unlistedStatusReason: 'invite rate limit' };
      }
      if (b.regenerate === true) {
        m.inviteToken = randomBytes(20).toString('hex');
        m.tokenExpiresAt = clock() + INVITE_DAYS_VALID_MS;
      }
      if (isExpired(m)) return detail(400, ERR.expired);
      m.invitesSent += 1;
      return { status: 200, body: serializeMemberWithRoles(m) };
    }

    const assignments = parseTeamAssignments(b);
    if (assignments && 'status' in assignments) return assignments;
    const newRole = (assigned as OrgRole | undefined) ?? m.orgRole;
    if (!orgRoleDef(newRole).isTeamRolesAllowed && (assignments ? assignments.length > 0 : m.teams.size > 0)) {
      return detail(400, `The user with a '${newRole}' role cannot have team-level permissions.`);
    }
    // Team assignments are saved before the org-role checks, as in Sentry: a PUT whose role change
    // is then refused (own role, retired role) has still replaced the teams.
    if (assignments) {
      // teamRoles REPLACES the whole set: teams not listed are left.
      m.teams = new Map(assignments.map((a) => [a.slug, a.role]));
    }
    if (assigned !== undefined && assigned !== m.orgRole) {
      const role = assigned as OrgRole;
      if (m === caller) return detail(400, ERR.ownRole);
      if (orgRoleDef(role).isRetired) return detail(400, `The role '${role}' is deprecated and may no longer be assigned.`);
      // Stored team roles at or below the new minimum become null (they would add nothing).
      const min = TEAM_ROLE_PRIORITY[orgRoleDef(role).minimumTeamRole];
      for (const [slug, r] of m.teams) if (r && TEAM_ROLE_PRIORITY[r] <= min) m.teams.set(slug, null);
      m.orgRole = role;
    }
    return { status: 200, body: serializeMemberWithRoles(m) };
  }

  function deleteMember(ctx: Ctx): Reply {
    const m = findMember(ctx.params.member_id!);
    if (!m) return detail(404, ERR.notFound);
    const caller = callerMember()!;
    if (m !== caller && ORG_ROLE_PRIORITY[m.orgRole] > ORG_ROLE_PRIORITY[caller.orgRole]) {
      // differs from schema: "more access than you" is a 400, which DELETE does not list.
      return detail(400, 'You cannot remove a member who has more access than you.', 'delete: 400 for insufficient role');
    }
    if (isOnlyOwner(m)) return detail(403, ERR.onlyOwner);
    if (m.idpProvisioned) return detail(403, ERR.idpMember);
    members.splice(members.indexOf(m), 1);
    // Pending invites the removed user had sent go with them.
    if (m.user) {
      const sent = members.filter((o) => o.user === null && o.inviterUserId === m.user!.id);
      for (const o of sent) members.splice(members.indexOf(o), 1);
    }
    return { status: 204 };
  }

  function memberTeamLookup(ctx: Ctx): { m: Member; t: Team } | Reply {
    const m = findMember(ctx.params.member_id!);
    const t = findTeam(ctx.params.team_id_or_slug!);
    if (!m || !t) return detail(404, ERR.notFound, UNLISTED_NOT_FOUND);
    return { m, t };
  }

  function addMemberToTeam(ctx: Ctx): Reply {
    const found = memberTeamLookup(ctx);
    if ('status' in found) return found;
    const { m, t } = found;
    if (t.idpProvisioned) return detail(403, ERR.idpTeam);
    // The caller is an Owner (org:write), so the 202 access-request path never applies here.
    if (m.teams.has(t.slug)) return { status: 204 };
    // Works on pending invites too: the membership row already exists (notes §3.6).
    m.teams.set(t.slug, null);
    return { status: 201, body: serializeTeam(t) };
  }

  function setTeamRole(ctx: Ctx): Reply {
    const found = memberTeamLookup(ctx);
    if ('status' in found) return found;
    const { m, t } = found;
    if (!m.teams.has(t.slug)) return detail(404, ERR.notFound);
    const role = (ctx.body.teamRole ?? 'contributor') as TeamRole;
    // A role that adds nothing over the org role's minimum is stored as null.
    const min = orgRoleDef(m.orgRole).minimumTeamRole;
    m.teams.set(t.slug, TEAM_ROLE_PRIORITY[role] > TEAM_ROLE_PRIORITY[min] ? role : null);
    return { status: 200, body: { isActive: true, teamRole: effectiveTeamRole(m.orgRole, m.teams.get(t.slug) ?? null) } };
  }

  function removeMemberFromTeam(ctx: Ctx): Reply {
    const found = memberTeamLookup(ctx);
    if ('status' in found) return found;
    const { m, t } = found;
    if (t.idpProvisioned) return detail(403, ERR.idpTeam);
    // 200 with the team even when the member was not on it.
    m.teams.delete(t.slug);
    return { status: 200, body: serializeTeam(t) };
  }

  function listTeams(ctx: Ctx): Reply {
    let list = teams.slice().sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
    const q = ctx.query.get('query');
    if (q) {
      for (const term of q.trim().split(/\s+/)) {
        const i = term.indexOf(':');
        const key = i > 0 ? term.slice(0, i) : 'query';
        const values = (i > 0 ? term.slice(i + 1) : term).split(',');
        if (key === 'slug') list = list.filter((t) => values.includes(t.slug));
        else if (key === 'id') list = list.filter((t) => values.includes(String(t.id)));
        else list = list.filter((t) => values.some((v) => t.slug.includes(lower(v)) || lower(t.name).includes(lower(v))));
      }
    }
    return pageReply(ctx, list, serializeTeam);
  }

  function createTeam(ctx: Ctx): Reply {
    const b = ctx.body;
    const slug = typeof b.slug === 'string' && b.slug ? b.slug : typeof b.name === 'string' && b.name ? slugify(b.name) : '';
    if (!slug) return { status: 400, body: { non_field_errors: ['Name or slug is required'] } };
    if (teams.some((t) => t.slug === slug)) {
      // differs from schema (notes §3.7, §6.1): the schema documents a duplicate slug as 404; the code sends 409.
      return {
        status: 409,
        body: { non_field_errors: ['A team with this slug already exists.'], detail: 'A team with this slug already exists.' },
        unlistedStatusReason: 'team create: 409 for a duplicate slug',
      };
    }
    const t = insertTeam(slug, typeof b.name === 'string' && b.name ? b.name : slug, false);
    // A user token's user becomes a member of the team it creates (notes §1).
    callerMember()?.teams.set(t.slug, null);
    return { status: 201, body: serializeTeam(t) };
  }

  function getTeam(ctx: Ctx): Reply {
    const t = findTeam(ctx.params.team_id_or_slug!);
    if (!t) return detail(404, ERR.notFound);
    return { status: 200, body: serializeTeam(t) };
  }

  function deleteTeam(ctx: Ctx): Reply {
    const t = findTeam(ctx.params.team_id_or_slug!);
    if (!t) return detail(404, ERR.notFound);
    teams.splice(teams.indexOf(t), 1);
    for (const m of members) m.teams.delete(t.slug);
    return { status: 204 };
  }

  function listTeamMembers(ctx: Ctx): Reply {
    const t = findTeam(ctx.params.team_id_or_slug!);
    if (!t) return detail(404, ERR.notFound);
    // Pending invites are left out (notes §3.7).
    const list = members.filter((m) => m.user !== null && m.teams.has(t.slug));
    return pageReply(ctx, list, (m) => ({ ...serializeMember(m), teamRole: m.teams.get(t.slug) ?? null, teamSlug: t.slug }));
  }

  function listUserTeams(): Reply {
    const caller = callerMember();
    const list = teams.filter((t) => caller?.teams.has(t.slug)).sort((a, b) => a.slug.localeCompare(b.slug));
    return { status: 200, body: list.map(serializeTeam) };
  }

  const ORG = '/api/0/organizations/{org}';
  const routes: Route[] = [
    route('GET', `${ORG}/`, () => ({ status: 200, body: serializeOrg() })),
    // differs from schema (notes §2, §6.11): the members list reads `query` and `per_page`, which the
    // schema does not declare.
    route('GET', `${ORG}/members/`, listMembers, ['query', 'per_page']),
    route('POST', `${ORG}/members/`, inviteMember),
    route('GET', `${ORG}/members/{member_id}/`, getMember),
    route('PUT', `${ORG}/members/{member_id}/`, updateMember),
    route('DELETE', `${ORG}/members/{member_id}/`, deleteMember),
    route('POST', `${ORG}/members/{member_id}/teams/{team_id_or_slug}/`, addMemberToTeam),
    route('PUT', `${ORG}/members/{member_id}/teams/{team_id_or_slug}/`, setTeamRole),
    route('DELETE', `${ORG}/members/{member_id}/teams/{team_id_or_slug}/`, removeMemberFromTeam),
    route('GET', `${ORG}/teams/`, listTeams),
    route('POST', `${ORG}/teams/`, createTeam),
    route('GET', `${ORG}/user-teams/`, listUserTeams),
    route('GET', '/api/0/teams/{org}/{team_id_or_slug}/', getTeam),
    route('DELETE', '/api/0/teams/{org}/{team_id_or_slug}/', deleteTeam),
    // differs from schema: the team members list pages like every list (per_page), undeclared here.
    route('GET', '/api/0/teams/{org}/{team_id_or_slug}/members/', listTeamMembers, ['per_page']),
  ];

  function insertTeam(slug: string, name: string, idpProvisioned: boolean): Team {
    const t: Team = { id: nextTeamId++, slug, name, dateCreated: now(), idpProvisioned };
    teams.push(t);
    return t;
  }

  // --- HTTP plumbing --------------------------------------------------------------------------------

  function rateLimitHeaders(): Record<string, string> {
    if (!saasMode) return {};
    return {
      'X-Sentry-Rate-Limit-Limit': '40',
      'X-Sentry-Rate-Limit-Remaining': rateLimited ? '0' : '39',
      'X-Sentry-Rate-Limit-Reset': String(Math.floor(Date.now() / 1000) + 1),
      'X-Sentry-Rate-Limit-ConcurrentLimit': '25',
      'X-Sentry-Rate-Limit-ConcurrentRemaining': '24',
    };
  }

  function dispatch(method: string, pathname: string, query: Query, rawBody: string, contentType: string | undefined, authz: string | undefined): { reply: Reply; checked: boolean } {
    let matched: { r: Route; params: Record<string, string> } | undefined;
    for (const r of routes) {
      if (r.method !== method) continue;
      const hit = r.pattern.exec(pathname);
      if (hit) {
        const params: Record<string, string> = {};
        r.names.forEach((n, i) => (params[n] = decodeURIComponent(hit[i + 1]!)));
        matched = { r, params };
        break;
      }
    }
    if (!matched) {
      // An endpoint the fake does not implement must not look like a plain "not found" to a client.
      recordViolation(method, pathname, [`the fake Sentry has no route for ${method} ${pathname}`]);
      return { reply: detail(404, ERR.notFound), checked: false };
    }

    const problems = validator.checkRequest({ method, pathname, query, contentType, rawBody }, { extraQuery: matched.r.extraQuery ?? [] });
    if (problems.length) {
      recordViolation(method, pathname, problems);
      return { reply: violationReply(problems), checked: false };
    }

    // Rate limiting runs in middleware, before authentication.
    if (saasMode && rateLimited) {
      // differs from schema (notes §2, §6.9): the body is a bare JSON string and there is no Retry-After.
      return { reply: { status: 429, body: 'You are attempting to use this endpoint too frequently. Limit is 40 requests in 1 seconds', unlistedStatusReason: UNLISTED_RATE_LIMIT }, checked: true };
    }
    if (!authz) return { reply: detail(401, ERR.noAuth, UNLISTED_AUTH), checked: true };
    // UserAuthTokenAuthentication (src/sentry/api/authentication.py): an unknown token is "Invalid token";
    // a token whose user is inactive is "User inactive or deleted"; both 401.
    const bearer = /^Bearer\s+(\S+)$/i.exec(authz);
    const userId = bearer ? (bearer[1] === token ? tokenUserId : apiTokens.get(bearer[1]!)) : undefined;
    const authUser = userId ? users.find((u) => u.id === userId) : undefined;
    if (!authUser) return { reply: detail(401, ERR.badToken, UNLISTED_AUTH), checked: true };
    if (!authUser.isActive) return { reply: detail(401, 'User inactive or deleted', UNLISTED_AUTH), checked: true };
    requestUser = authUser;
    const org = matched.params.org!;
    if (org !== organization && org !== orgId) return { reply: detail(404, ERR.notFound, UNLISTED_NOT_FOUND), checked: true };
    if (!callerMember()) return { reply: detail(403, ERR.forbidden, UNLISTED_FORBIDDEN), checked: true };

    // The request check above has already rejected bodies that are not JSON.
    const body = (rawBody.trim() ? JSON.parse(rawBody) : {}) as Record<string, unknown>;
    return { reply: matched.r.handler({ method, pathname, query, params: matched.params, body }), checked: true };
  }

  // --- the Sentry-side module's offboarding endpoint (config/sentry/sentry_ad_gateway_auth.py) --------------

  /**
   * Verifies a gateway-to-module call as the module does (config/sentry/sentry_ad_gateway_auth.py,
   * _verify_internal_call): the assertion header holds a JWT signed by one of the gateway's keys (fetched
   * from its JWKS, ES256/EdDSA only), iss = the gateway, aud = `<AUDIENCE><suffix>` (a single string), a
   * lifetime of at most 60 s, 30 s of skew, a jti never seen before (claim_token_id: with the cache down, 503).
   */
  async function verifyInternal(headers: IncomingMessage['headers'], suffix: string, required: string[]): Promise<{ claims: JWTPayload } | { answer: OffboardCall }> {
    const invalid: OffboardCall = { status: 401, body: { error: 'invalid_assertion' } };
    if (!gateway) return { answer: { status: 503, body: { error: 'keys_unavailable' } } };
    const raw = headers[(gateway.header ?? 'X-Sentry-Gateway-Assertion').toLowerCase()];
    if (typeof raw !== 'string' || !raw) return { answer: invalid };
    jwks ??= createRemoteJWKSet(new URL(gateway.jwksUrl));
    let claims: JWTPayload;
    try {
      const [, payloadPart] = raw.split('.');
      const aud = (JSON.parse(Buffer.from(payloadPart ?? '', 'base64url').toString('utf8')) as JWTPayload).aud;
      if (typeof aud !== 'string') return { answer: invalid };
      ({ payload: claims } = await jwtVerify(raw, jwks, {
        issuer: gateway.issuer,
        audience: `${gateway.audience}${suffix}`,
        algorithms: ['ES256', 'EdDSA'],
        requiredClaims: required,
        currentDate: new Date(clock()),
        clockTolerance: 30,
      }));
    } catch {
      return { answer: invalid };
    }
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || claims.exp - claims.iat > 60) return { answer: invalid };
    if (suffix === ':offboard') {
      const reason = claims['reason'];
      if (reason !== 'disabled' && reason !== 'expired' && reason !== 'deleted') return { answer: invalid };
    }
    // cache.add answers False with memcached down (ignore_exc); the module's probe tells that from a replay.
    if (replayCacheDown) return { answer: { status: 503, body: { error: 'replay_cache_unavailable' }, claims } };
    if (seenJti.has(String(claims.jti))) return { answer: { ...invalid, claims } };
    seenJti.add(String(claims.jti));
    return { claims };
  }

  class Refused extends Error {
    constructor(readonly code: string, message: string) {
      super(message);
    }
  }

  /**
   * The module's resolve_adoptable_user for an unbound person: active users holding the address verified,
   * not bound to another AD person (several: narrowed to organization members, then to the primary address;
   * still several: ambiguous); none verified but an active account holds it unverified: refused, as
   * privileged (a superuser) or unverified, never passed over. A superuser found verified is refused too
   * (SUPERUSER_EMAILS is not modelled: it lists no one).
   */
  function resolveForModule(email: string, sub: string): User | null {
    const free = (u: User) => u.boundSub === undefined || u.boundSub === sub;
    let candidates = usersByEmail([email], { isActive: true, isVerified: true, orgMembers: false }).filter(free);
    if (candidates.length === 0) {
      const unverified = users.filter((u) => u.isActive && free(u) && (lower(u.email) === lower(email) || u.emails.some((e) => lower(e.email) === lower(email))));
      if (unverified.length > 1) throw new Refused('GW_ACCOUNT_AMBIGUOUS', 'more than one Sentry account has this email');
      if (unverified.length === 1) {
        const u = unverified[0]!;
        if (u.isSuperuser) throw new Refused('GW_ACCOUNT_PRIVILEGED', `Sentry account ${u.id} is a superuser or staff`);
        throw new Refused('GW_ACCOUNT_UNVERIFIED', `Sentry account ${u.id} holds this email unverified: an admin must verify or remove it`);
      }
      return null;
    }
    for (const step of [(cs: User[]) => cs.filter((u) => members.some((m) => m.user === u)), (cs: User[]) => cs.filter((u) => lower(u.email) === lower(email))]) {
      if (candidates.length === 1) break;
      const narrowed = step(candidates);
      if (narrowed.length) candidates = narrowed;
    }
    if (candidates.length > 1) throw new Refused('GW_ACCOUNT_AMBIGUOUS', 'more than one Sentry account has this verified email');
    const u = candidates[0]!;
    if (u.isSuperuser) throw new Refused('GW_ACCOUNT_PRIVILEGED', `Sentry account ${u.id} is a superuser or staff`);
    return u;
  }

  /**
   * The module's offboard view (offboard_user): the user bound to `sub`, else the one the sign-in would
   * adopt, then bound. Deactivated (with the gateway's mark), every ApiToken deleted; the org auth tokens it
   * created named (kept); with `remove_member_of` = this organization, its membership deleted. A refusal is
   * 409 with the code, not 404. Idempotent.
   */
  async function offboard(headers: IncomingMessage['headers'], rawBody: string): Promise<OffboardCall> {
    void rawBody;
    const v = await verifyInternal(headers, ':offboard', ['sub', 'email', 'preferred_username', 'iat', 'nbf', 'exp', 'jti', 'reason']);
    if ('answer' in v) return v.answer;
    const { claims } = v;
    const email = String(claims['email']);
    let u = users.find((x) => x.boundSub === claims.sub);
    if (!u) {
      try {
        const found = resolveForModule(email, String(claims.sub));
        if (!found) return { status: 404, body: { found: false }, claims };
        u = found;
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
        return { status: 409, body: { found: true, refused: e.code, detail: e.message }, claims };
      }
      u.boundSub = String(claims.sub);
    }
    const wasActive = u.isActive;
    u.isActive = false;
    if (wasActive) u.deactivatedByGateway = true;
    let revoked = 0;
    for (const [t, id] of [...apiTokens]) {
      if (id !== u.id) continue;
      apiTokens.delete(t);
      revoked++;
    }
    let memberRemoved: string | undefined;
    if (claims['remove_member_of'] === organization) {
      const m = members.find((x) => x.user === u);
      if (m) {
        members.splice(members.indexOf(m), 1);
        memberRemoved = String(m.id);
      }
    }
    const orgTokens = orgAuthTokens.filter((t) => t.createdBy === u.id).map((t) => ({ id: t.id, organizationId: orgId, name: t.name, lastCharacters: t.lastCharacters }));
    return {
      status: 200,
      body: { found: true, userId: u.id, deactivated: wasActive, tokensRevoked: revoked, orgTokens, ...(memberRemoved ? { memberRemoved } : {}) },
      claims,
    };
  }

  /** The module's reactivate view (reactivate_user): only a user bound to `sub` that the gateway's mark still holds. */
  async function reactivate(headers: IncomingMessage['headers']): Promise<OffboardCall> {
    const v = await verifyInternal(headers, ':reactivate', ['sub', 'email', 'preferred_username', 'iat', 'nbf', 'exp', 'jti']);
    if ('answer' in v) return v.answer;
    const { claims } = v;
    const u = users.find((x) => x.boundSub === claims.sub);
    if (!u) return { status: 404, body: { found: false }, claims };
    const wasInactive = !u.isActive;
    if (wasInactive && !u.deactivatedByGateway) {
      return { status: 409, body: { found: true, refused: 'GW_ACCOUNT_DISABLED', detail: `Sentry account ${u.id} was deactivated by an admin` }, claims };
    }
    u.isActive = true;
    u.deactivatedByGateway = false;
    return { status: 200, body: { found: true, userId: u.id, reactivated: wasInactive }, claims };
  }

  function recordViolation(method: string, path: string, messages: string[]): void {
    violations.push({ method, path, messages });
  }

  function violationReply(messages: string[]): Reply {
    return { status: 500, body: { detail: `fake Sentry contract violation: ${messages.join('; ')}` }, headers: { 'X-Fake-Sentry-Violation': '1' } };
  }

  function send(res: ServerResponse, reply: Reply): void {
    const headers: Record<string, string> = { ...rateLimitHeaders(), ...(reply.headers ?? {}) };
    if (reply.status === 204 || reply.body === undefined) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    let parsed: unknown;
    if (rawBody.trim()) {
      try {
        parsed = JSON.parse(rawBody);
      } catch {
        parsed = rawBody;
      }
    }
    const call: RecordedCall = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), body: parsed, status: 0 };
    calls.push(call);

    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    if (fault === 'hang') {
      hung.add(res);
      res.on('close', () => hung.delete(res));
      return;
    }
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault === 'error500' || fault === 'error503') {
      // A proxy-style failure in front of Sentry: not JSON, not part of the contract.
      call.status = fault === 'error500' ? 500 : 503;
      res.writeHead(call.status, { 'Content-Type': 'text/html' });
      res.end(`<html><body><h1>${call.status}</h1></body></html>`);
      return;
    }

    if (method === 'POST' && url.pathname === OFFBOARD_PATH) {
      const answer = await offboard(req.headers, rawBody);
      offboardCalls.push(answer);
      call.status = answer.status;
      send(res, { status: answer.status, body: answer.body });
      return;
    }
    if (method === 'POST' && url.pathname === REACTIVATE_PATH) {
      const answer = await reactivate(req.headers);
      reactivateCalls.push(answer);
      call.status = answer.status;
      send(res, { status: answer.status, body: answer.body });
      return;
    }

    requestUser = tokenUser;
    const { checked, reply: first } = dispatch(method, url.pathname, url.searchParams, rawBody, req.headers['content-type'], req.headers.authorization);
    let reply = first;
    if (checked) {
      if (tamper) reply = tamper({ method, path: url.pathname }, reply) ?? reply;
      const problems = validator.checkResponse(
        { method, pathname: url.pathname, status: reply.status, body: reply.body, hasBody: reply.body !== undefined },
        reply.unlistedStatusReason ? { unlistedStatusReason: reply.unlistedStatusReason } : {},
      );
      if (problems.length) {
        recordViolation(method, url.pathname, problems);
        reply = violationReply(problems);
      }
    }
    call.status = reply.status;
    send(res, reply);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      recordViolation(req.method ?? '?', req.url ?? '?', [`fake Sentry crashed: ${message}`]);
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ detail: `fake Sentry crashed: ${message}` }));
      } else res.destroy();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      for (const r of hung) r.destroy();
      hung.clear();
      server.close(() => resolve());
      // Keep-alive connections would otherwise keep being served after "going down".
      for (const s of sockets) s.destroy();
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  let urlPrefix = (opts.urlPrefix ?? url).replace(/\/+$/, '');

  const fake: FakeSentry = {
    url,
    organization,
    token,
    get urlPrefix() {
      return urlPrefix;
    },
    setUrlPrefix(prefix: string) {
      urlPrefix = prefix.replace(/\/+$/, '');
    },
    tokenUser: { userId: tokenUserId, email: tokenUserEmail, memberId: String(tokenMember.id) },
    calls,
    violations,
    writes: () => calls.filter((c) => c.method !== 'GET' && c.method !== 'HEAD'),
    reset: () => {
      calls.length = 0;
    },
    takeViolations: () => violations.splice(0, violations.length),
    async setFault(next: Fault) {
      const wasRefusing = fault === 'refuse';
      fault = next;
      if (next !== 'hang') {
        for (const r of hung) r.destroy();
        hung.clear();
      }
      if (next === 'refuse' && !wasRefusing) await stopListening();
      if (next !== 'refuse' && wasRefusing) await listen(port);
    },
    setDown: (down: boolean) => fake.setFault(down ? 'refuse' : null),
    setLatency: (ms: number) => {
      latencyMs = ms;
    },
    setSaasMode: (on: boolean) => {
      saasMode = on;
    },
    setRateLimited: (on: boolean) => {
      if (on && !saasMode) throw new Error('self-hosted Sentry never sends API 429s: call setSaasMode(true) first');
      rateLimited = on;
    },
    setInviteRateLimited: (on: boolean) => {
      inviteRateLimited = on;
    },
    setInviteRateLimitFeature: (on: boolean) => {
      inviteRateLimitFeature = on;
    },
    inviteRateLimitHits: () => inviteRateLimitHits,
    setGateway: (settings: FakeGatewaySettings) => {
      gateway = settings;
      jwks = undefined;
    },
    offboardCalls,
    reactivateCalls,
    addOrgAuthToken(userId: string, name: string): string {
      if (!users.some((x) => x.id === userId)) throw new Error(`fake Sentry: no user ${userId}`);
      const id = String(orgAuthTokens.length + 1);
      orgAuthTokens.push({ id, name, createdBy: userId, lastCharacters: randomBytes(2).toString('hex') });
      return id;
    },
    setUserActive(userId: string, active: boolean) {
      const u = users.find((x) => x.id === userId);
      if (!u) throw new Error(`fake Sentry: no user ${userId}`);
      u.isActive = active;
      // The module's post_save receiver: a user saved active is no longer held by the gateway.
      if (active) u.deactivatedByGateway = false;
    },
    setSuperuser(userId: string, on: boolean) {
      const u = users.find((x) => x.id === userId);
      if (!u) throw new Error(`fake Sentry: no user ${userId}`);
      u.isSuperuser = on;
    },
    setReplayCacheDown(on: boolean) {
      replayCacheDown = on;
    },
    addUserEmail(userId: string, email: string, verified: boolean) {
      const u = users.find((x) => x.id === userId);
      if (!u) throw new Error(`fake Sentry: no user ${userId}`);
      u.emails.push({ email, verified });
    },
    addApiToken(userId: string): string {
      if (!users.some((x) => x.id === userId)) throw new Error(`fake Sentry: no user ${userId}`);
      const t = randomBytes(32).toString('hex');
      apiTokens.set(t, userId);
      return t;
    },
    user: (id: string) => {
      const u = users.find((x) => x.id === id);
      return u ? userSnapshot(u) : undefined;
    },
    userByEmail: (email: string) => {
      const u = users.find((x) => lower(x.email) === lower(email));
      return u ? userSnapshot(u) : undefined;
    },
    expireInvite(email: string) {
      const m = members.find((x) => x.user === null && lower(x.email) === lower(email));
      if (!m) throw new Error(`fake Sentry: no pending invite for ${email}`);
      m.tokenExpiresAt = clock() - 1000;
    },
    setResponseTamper: (fn) => {
      tamper = fn;
    },
    addUser,
    addMember(input: AddMemberInput): MemberSnapshot {
      if (findByEmail(input.email)) throw new Error(`fake Sentry: ${input.email} is already a member`);
      const role = input.orgRole ?? 'member';
      const teamMap = new Map<string, TeamRole | null>(
        Array.isArray(input.teams) ? input.teams.map((s) => [s, null]) : Object.entries(input.teams ?? {}),
      );
      for (const slug of teamMap.keys()) if (!teams.some((t) => t.slug === slug)) throw new Error(`fake Sentry: no team ${slug}; addTeam it first`);
      const pending = input.pending ?? false;
      const m: Member = {
        id: nextMemberId++,
        email: input.email,
        user: pending ? null : ensureUser(input.email, input.name),
        orgRole: role,
        teams: teamMap,
        inviteToken: pending ? randomBytes(20).toString('hex') : null,
        sendInvite: false,
        invitesSent: 0,
        dateCreated: now(),
        inviterName: null,
        inviterUserId: null,
        tokenExpiresAt: pending ? clock() + (input.expired ? -1000 : INVITE_DAYS_VALID_MS) : null,
        idpProvisioned: input.idpProvisioned ?? false,
        inviteStatus: input.inviteRequest ? 'requested_to_be_invited' : 'approved',
      };
      members.push(m);
      return snapshot(m);
    },
    addTeam(slug, o = {}) {
      if (teams.some((t) => t.slug === slug)) throw new Error(`fake Sentry: team ${slug} exists`);
      insertTeam(slug, o.name ?? slug, o.idpProvisioned ?? false);
    },
    acceptInvite(email: string): MemberSnapshot {
      const m = members.find((x) => x.user === null && lower(x.email) === lower(email));
      if (!m) throw new Error(`fake Sentry: no pending invite for ${email}`);
      // An existing user who holds the address verified takes the invite; otherwise a new user is made.
      m.user = usersByEmail([email], { isActive: true, isVerified: true, orgMembers: false })[0] ?? ensureUser(email);
      m.inviteToken = null;
      m.tokenExpiresAt = null;
      return snapshot(m);
    },
    member: (email: string) => {
      const m = findByEmail(email);
      return m ? snapshot(m) : undefined;
    },
    members: () => members.map(snapshot),
    teamSlugs: () => teams.map((t) => t.slug).sort(),
    async close() {
      for (const r of hung) r.destroy();
      hung.clear();
      if (fault === 'refuse') return;
      await stopListening();
    },
  };
  return fake;
}
