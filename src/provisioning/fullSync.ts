// Full reconciliation: every allowed AD user and every managed Sentry member, planned first, then applied.
import type { Logger } from 'pino';
import type { Directory, DirectoryUser } from '../directory/directory.js';
import { GatewayError } from '../errors.js';
import { managedTeams, type RuleStore } from '../mapping/ruleStore.js';
import { resolveAccess } from '../mapping/resolveAccess.js';
import { SentryApiError, type SentryAdmin, type SentryMember } from '../sentry/sentryAdmin.js';
import type { AuditLog } from '../audit/auditLog.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { TeamDirectory } from './applyPlan.js';
import type { PersonLink } from './links.js';
import type { Offboarder, OrgTokenRef } from './offboard.js';
import { describeChange, planMembership, planRemoval, type Action, type MembershipPlan, type OffboardReason } from './planMembership.js';
import { InviteLimitedError, type Person, type Provisioner } from './provisioner.js';

export interface SyncDeps {
  directory: Directory;
  admin: SentryAdmin;
  rules: RuleStore;
  provisioner: Provisioner;
  access: { allowGroups: string[]; denyGroups: string[]; adminGroups: string[] };
  removeMembers: boolean;
  maxRemovalsPercent: number;
  audit: AuditLog;
  logger: Logger;
  /** Takes Sentry access from disabled, expired and deleted AD accounts; without it they are only reported. */
  offboarder?: Offboarder;
  /** Ends every gateway session of a person (by username); returns how many there were. */
  /** Ends the gateway sessions of the person with this objectGUID. */
  endSessions?: (sub: string) => Promise<number>;
  clock?: Clock;
  /** Told every applied run's result (the gateway's metrics: periodic and console syncs). */
  onApplied?: (result: SyncResult) => void;
}

export interface SyncRow {
  user: string;
  email: string;
  changes: string[];
  skipped: string[];
  plan: MembershipPlan;
  /** The directory person behind an invite or update (the retry queue needs their groups). */
  person?: Person;
  /** The link an offboarding acts on. */
  link?: PersonLink;
}

export interface SyncPlan {
  rows: SyncRow[];
  counts: {
    directoryUsers: number;
    allowed: number;
    members: number;
    managed: number;
    invite: number;
    update: number;
    remove: number;
    unchanged: number;
    /** People the gateway linked whose AD account is disabled, expired or gone: their Sentry access goes. */
    offboard: number;
  };
  /** Set while Sentry's daily invite limit holds invites back (ms since epoch): invites are queued, not sent. */
  invitesWaitUntil?: number;
  /** Set when the run must not be applied without --force, with the reason. */
  refused?: string;
  ruleVersion: number;
}

export type Progress = (stage: string, done: number, total?: number) => void;

/** Bounded parallelism for per-member reads: fast enough for thousands, gentle on Sentry. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export async function planSync(d: SyncDeps, opts: { user?: string; progress?: Progress } = {}): Promise<SyncPlan> {
  const progress = opts.progress ?? (() => undefined);
  const set = await d.rules.current();
  const policy = { ...d.access, defaultOrgRole: set.defaultOrgRole, rules: set.rules };
  const managed = managedTeams(set.rules);

  let users: DirectoryUser[];
  if (opts.user) {
    const one = await d.directory.lookup(opts.user);
    users = one ? [one] : [];
  } else {
    users = await d.directory.listUsers((n) => progress('directory users read', n));
  }
  const desired = new Map<string, { user: DirectoryUser; orgRole: ReturnType<typeof resolveAccess>['orgRole']; teams: { slug: string; role: 'contributor' | 'admin' }[] }>();
  for (const user of users) {
    if (user.blockedReason || !user.email) continue;
    const r = resolveAccess(user.groups, policy);
    if (!r.access.allowed) continue;
    const email = user.email.toLowerCase();
    if (desired.has(email)) {
      d.logger.warn({ email, users: [desired.get(email)!.user.sAMAccountName, user.sAMAccountName] }, 'two directory accounts share an email: the first one is used');
      continue;
    }
    desired.set(email, { user, orgRole: r.orgRole, teams: r.teams.map((t) => ({ slug: t.slug, role: t.role })) });
  }

  const [members, self] = await Promise.all([d.admin.listMembers(), d.admin.self()]);
  progress('sentry members read', members.length);
  const byEmail = new Map(members.map((m) => [m.email.toLowerCase(), m]));
  const selfEmail = self.email.toLowerCase();
  const managedEmails = await d.provisioner.managedEmails();
  const onlyUserEmails = opts.user ? new Set([...desired.keys(), ...users.map((u) => u.email.toLowerCase())]) : undefined;

  const rows: SyncRow[] = [];
  const entries = [...desired.entries()].filter(([email]) => email !== selfEmail);
  const links = await d.provisioner.links.all();
  // People the gateway offboarded whom AD lets in again: Sentry hides an inactive user's membership from its
  // member list (organization_member_index.py: user_is_active=True), so an invite would be planned; the
  // module reactivates the user instead and the membership is reconciled once it shows again.
  const offboardedBySub = new Map(links.filter((l) => l.offboarded).map((l) => [l.sub, l]));
  let planned = 0;
  const plans = await mapLimit(entries, 8, async ([email, want]) => {
    const listed = byEmail.get(email);
    // The list has no team details: read the member only when there is one.
    const u = want.user;
    const person: Person = { email, username: u.sAMAccountName, groups: u.groups.map((g) => ({ dn: g.dn, name: g.name, sid: g.sid })), sub: u.guid };
    const wasOffboarded = offboardedBySub.get(u.guid);
    if (!listed && wasOffboarded && d.offboarder) {
      const plan: MembershipPlan = { email, changes: [{ kind: 'reactivate' }], actions: [{ type: 'reactivate', sub: u.guid, email, username: u.sAMAccountName }], skipped: [] };
      return { user: u.sAMAccountName, email, plan, person };
    }
    const current: SentryMember | null = listed ? await d.admin.getMember(listed.id) : null;
    const plan = planMembership({ email, orgRole: want.orgRole, teams: want.teams }, current, managed);
    if (++planned % 500 === 0) progress('members planned', planned, entries.length);
    return { user: u.sAMAccountName, email, plan, person };
  });
  progress('members planned', entries.length, entries.length);
  for (const p of plans) rows.push({ ...p, changes: p.plan.changes.map(describeChange), skipped: p.plan.skipped });

  // Members the gateway manages who no longer have access. Members it never managed are not its business.
  const lost = members.filter((m) => {
    const email = m.email.toLowerCase();
    return email !== selfEmail && managedEmails.has(email) && !desired.has(email) && (!onlyUserEmails || onlyUserEmails.has(email));
  });
  let removals = 0;
  for (const m of lost) {
    const name = users.find((u) => u.email.toLowerCase() === m.email.toLowerCase())?.sAMAccountName ?? '(not in the directory)';
    if (!d.removeMembers) {
      const plan: MembershipPlan = { email: m.email, changes: [], actions: [], skipped: ['lost access; kept because sentry.sync.removeMembers is off'] };
      rows.push({ user: name, email: m.email.toLowerCase(), changes: [], skipped: plan.skipped, plan });
      continue;
    }
    const plan = planRemoval(await d.admin.getMember(m.id));
    if (plan.actions.length) removals++;
    rows.push({ user: name, email: m.email.toLowerCase(), changes: plan.changes.map(describeChange), skipped: plan.skipped, plan });
  }

  // Offboarding: people the gateway linked (signed in or provisioned) whose AD account is disabled, expired
  // or gone. Only linked people: a Sentry account that never came through the gateway is never touched.
  const byGuid = new Map(users.map((u) => [u.guid, u]));
  let absent = 0;
  let linkedActive = 0;
  let offboards = 0;
  const listedEmails = new Set(byEmail.keys());
  for (const link of links) {
    if (link.offboarded) {
      // Offboarded earlier (their Sentry user is inactive), still a managed member, and no longer allowed: Sentry's
      // member list and member endpoints skip inactive users, so the removal above never sees them. The module
      // removes that membership (the offboarding call again, idempotent, asking for the removal).
      const hidden = d.removeMembers && managedEmails.has(link.email) && !listedEmails.has(link.email) && !desired.has(link.email);
      if (!hidden || !d.offboarder || (onlyUserEmails && !onlyUserEmails.has(link.email))) continue;
      removals++;
      const change = { kind: 'remove' as const };
      const action: Action = { type: 'offboard', sub: link.sub, email: link.email, username: link.username, reason: link.offboarded.reason };
      rows.push({ user: link.username, email: link.email, changes: [describeChange(change)], skipped: [], plan: { email: link.email, changes: [change], actions: [action], skipped: [] }, link });
      continue;
    }
    linkedActive++;
    const u = byGuid.get(link.sub);
    let reason: OffboardReason | undefined;
    if (u?.blockedReason === 'account_disabled') reason = 'disabled';
    else if (u?.blockedReason === 'account_expired') reason = 'expired';
    else if (!u && (!opts.user || (users.length === 0 && link.username.toLowerCase() === opts.user.toLowerCase()))) reason = 'deleted';
    if (!reason) continue;
    if (reason === 'deleted') absent++;
    offboards++;
    const change = { kind: 'offboard' as const, reason };
    const action: Action = { type: 'offboard', sub: link.sub, email: link.email, username: link.username, reason };
    let row = rows.find((r) => r.email === link.email && !r.person);
    if (!row) {
      row = { user: u?.sAMAccountName ?? link.username, email: link.email, changes: [], skipped: [], plan: { email: link.email, changes: [], actions: [], skipped: [] } };
      rows.push(row);
    }
    row.link = link;
    if (!u) row.user = link.username;
    row.changes.push(describeChange(change));
    row.plan.changes.push(change);
    if (d.offboarder) row.plan.actions.push(action);
    else row.skipped.push('offboarding needs the gateway\'s signing keys (assertion.keysDir) and Sentry\'s address');
  }

  const managedMembers = members.filter((m) => managedEmails.has(m.email.toLowerCase())).length;
  const counts = {
    directoryUsers: users.length,
    allowed: desired.size,
    members: members.length,
    managed: managedMembers,
    invite: rows.filter((r) => r.plan.actions.some((a) => a.type === 'invite')).length,
    update: rows.filter((r) => r.plan.actions.some((a) => a.type === 'update' || a.type === 'renewInvite')).length,
    remove: removals,
    unchanged: rows.filter((r) => r.plan.actions.length === 0 && r.skipped.length === 0).length,
    offboard: offboards,
  };
  const pct = managedMembers ? (removals / managedMembers) * 100 : 0;
  // An account missing from AD looks the same as a broken base DN or filter: those offboardings share the limit.
  const absentPct = linkedActive ? (absent / linkedActive) * 100 : 0;
  const refused =
    removals > 0 && pct > d.maxRemovalsPercent
      ? `would remove ${removals} of ${managedMembers} managed members (${pct.toFixed(1)}%, limit ${d.maxRemovalsPercent}%): an emptied group or a broken filter must not empty Sentry; check, then use --force`
      : absent > 0 && absentPct > d.maxRemovalsPercent
        ? `would offboard ${absent} of ${linkedActive} linked people as deleted from AD (${absentPct.toFixed(1)}%, limit ${d.maxRemovalsPercent}%): a broken base DN or filter must not lock everyone out of Sentry; check, then use --force`
        : undefined;
  const waitUntil = counts.invite > 0 ? await d.provisioner.inviteLimit.waitUntil() : null;
  rows.sort((a, b) => a.user.localeCompare(b.user));
  return { rows, counts, ruleVersion: set.version, ...(refused ? { refused } : {}), ...(waitUntil ? { invitesWaitUntil: waitUntil } : {}) };
}

export interface SyncResult {
  applied: number;
  failed: { email: string; error: string }[];
  createdTeams: string[];
  /** Invites Sentry's daily limit held back: queued, sent by the retry queue from `invitesWaitUntil`. */
  waitingInvites?: number;
  invitesWaitUntil?: string;
  /** People whose Sentry user was deactivated and tokens revoked (or who had no Sentry user). */
  offboarded?: number;
  /** Offboardings the module refused (an account it must not touch holds the address): nothing done, retried every sync. */
  offboardRefused?: { user: string; email: string; code: string; detail: string }[];
  /** Org auth tokens offboarded people created: Sentry keeps them valid; an admin should rotate them. */
  orgTokensKept?: { user: string; email: string; tokens: OrgTokenRef[] }[];
  /** People AD let in again whose Sentry user the module reactivated (no new invite). */
  reactivated?: number;
}

export async function applySync(plan: SyncPlan, d: SyncDeps, opts: { force?: boolean; actor: string; progress?: Progress }): Promise<SyncResult> {
  if (plan.refused && !opts.force) throw new SyncRefusedError(plan.refused);
  const todo = plan.rows.filter((r) => r.plan.actions.length > 0);
  const teams = new TeamDirectory(d.admin);
  const clock = d.clock ?? systemClock;
  const result: SyncResult = { applied: 0, failed: [], createdTeams: [], waitingInvites: 0, offboarded: 0, offboardRefused: [], orgTokensKept: [], reactivated: 0 };
  let waitUntil = 0;
  let done = 0;
  await mapLimit(todo, 4, async (row) => {
    const offboard = row.plan.actions.find((a): a is Extract<Action, { type: 'offboard' }> => a.type === 'offboard');
    const reactivate = row.plan.actions.find((a): a is Extract<Action, { type: 'reactivate' }> => a.type === 'reactivate');
    const membership: MembershipPlan = { ...row.plan, actions: row.plan.actions.filter((a) => a.type !== 'offboard' && a.type !== 'reactivate') };
    try {
      if (reactivate && d.offboarder && row.person) {
        const r = await d.offboarder.reactivate(reactivate);
        if (r.refused) throw new Error(`Sentry refused to reactivate the user (${r.refused.code}): ${r.refused.detail}`);
        if (r.reactivated) result.reactivated = (result.reactivated ?? 0) + 1;
        d.audit.record({ kind: 'provision.change', user: row.user, actor: opts.actor, detail: { email: row.email, changes: row.changes, found: r.found, reactivated: r.reactivated === true } });
        // The membership shows in Sentry's list again: reconcile it (no invite when it is there); this records the link afresh.
        await d.provisioner.reconcile(row.person, opts.actor);
      }
      if (membership.actions.length) {
        try {
          const r = await d.provisioner.applyWithinInviteLimit(membership, teams);
          result.createdTeams.push(...r.createdTeams);
        } catch (e) {
          // A duplicate invite (someone invited them since the plan was made): read again and reconcile.
          if (!(e instanceof SentryApiError && e.code === 'SENTRY_CONFLICT' && row.person)) throw e;
          await d.provisioner.reconcile(row.person, opts.actor);
        }
        if (membership.actions.some((a) => a.type === 'remove')) await d.provisioner.forgetManaged(row.email);
        else await d.provisioner.markManaged(row.email);
        if (row.person?.sub) await d.provisioner.links.record(row.person.sub, row.email, row.person.username, clock.now());
      }
      if (offboard && d.offboarder && row.link) {
        // Their gateway sessions go first, so no request of theirs reaches Sentry while it is being done.
        const sessionsEnded = d.endSessions ? await d.endSessions(offboard.sub) : 0;
        const r = await d.offboarder.offboard(offboard);
        // With removeMembers on, the module was asked to remove the membership: whatever it found, it is not ours to manage any more.
        if (!r.refused && d.removeMembers) await d.provisioner.forgetManaged(row.email);
        if (r.refused) {
          // Not done: the link stays open, so every sync asks again until an admin resolves it in Sentry.
          result.offboardRefused!.push({ user: row.user, email: row.email, code: r.refused.code, detail: r.refused.detail });
          d.logger.warn({ user: row.user, code: r.refused.code, detail: r.refused.detail }, 'Sentry refused an offboarding: nothing was taken away');
        } else {
          await d.provisioner.links.markOffboarded(row.link, offboard.reason, clock.now());
          result.offboarded = (result.offboarded ?? 0) + 1;
          if (r.orgTokens?.length) result.orgTokensKept!.push({ user: row.user, email: row.email, tokens: r.orgTokens });
        }
        d.audit.record({
          kind: 'provision.offboard',
          user: row.user,
          actor: opts.actor,
          reason: offboard.reason,
          detail: {
            email: row.email,
            sub: offboard.sub,
            gatewaySessionsEnded: sessionsEnded,
            found: r.found,
            ...(r.refused ? { refused: r.refused.code, refusedDetail: r.refused.detail } : {}),
            ...(r.found && !r.refused ? { sentryUserId: r.userId, deactivated: r.deactivated, tokensRevoked: r.tokensRevoked, orgTokensKept: r.orgTokens ?? [] } : {}),
            ...(r.memberRemoved ? { memberRemoved: r.memberRemoved } : {}),
          },
        });
      }
      result.applied++;
      if (membership.actions.length) d.audit.record({ kind: 'provision.change', user: row.user, actor: opts.actor, detail: { email: row.email, changes: row.changes } });
    } catch (e) {
      if (e instanceof InviteLimitedError && row.person) {
        // Held back by Sentry's daily invite limit: not a failure, and no retry before the next window.
        waitUntil = Math.max(waitUntil, e.until);
        result.waitingInvites = (result.waitingInvites ?? 0) + 1;
        await d.provisioner.enqueue(row.person, e.until);
      } else {
        result.failed.push({ email: row.email, error: (e as Error).message });
      }
    }
    if (++done % 100 === 0) opts.progress?.('changes applied', done, todo.length);
  });
  opts.progress?.('changes applied', done, todo.length);
  if (waitUntil) result.invitesWaitUntil = new Date(waitUntil).toISOString();
  d.onApplied?.(result);
  d.audit.record({
    kind: 'sync.run',
    actor: opts.actor,
    detail: {
      ...plan.counts,
      applied: result.applied,
      failed: result.failed.length,
      waitingInvites: result.waitingInvites,
      offboarded: result.offboarded,
      offboardRefused: result.offboardRefused?.length ?? 0,
      reactivated: result.reactivated,
      forced: !!opts.force,
      ruleVersion: plan.ruleVersion,
    },
  });
  return result;
}

export class SyncRefusedError extends GatewayError {
  constructor(reason: string) {
    super('GW_SYNC_REFUSED', reason);
    this.name = 'SyncRefusedError';
  }
}
