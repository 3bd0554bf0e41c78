// Full reconciliation: every allowed AD user and every managed Sentry member, planned first, then applied.
import type { Logger } from 'pino';
import type { Directory, DirectoryUser } from '../directory/directory.js';
import { managedTeams, type RuleStore } from '../mapping/ruleStore.js';
import { resolveAccess } from '../mapping/resolveAccess.js';
import type { SentryAdmin, SentryMember } from '../sentry/sentryAdmin.js';
import type { AuditLog } from '../shared/audit.js';
import { applyPlan, TeamDirectory } from './applyPlan.js';
import { describeChange, planMembership, planRemoval, type MembershipPlan } from './planMembership.js';
import type { Provisioner } from './provisioner.js';

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
}

export interface SyncRow {
  user: string;
  email: string;
  changes: string[];
  skipped: string[];
  plan: MembershipPlan;
}

export interface SyncPlan {
  rows: SyncRow[];
  counts: { directoryUsers: number; allowed: number; members: number; managed: number; invite: number; update: number; remove: number; unchanged: number };
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
  let planned = 0;
  const plans = await mapLimit(entries, 8, async ([email, want]) => {
    const listed = byEmail.get(email);
    // The list has no team details: read the member only when there is one.
    const current: SentryMember | null = listed ? await d.admin.getMember(listed.id) : null;
    const plan = planMembership({ email, orgRole: want.orgRole, teams: want.teams }, current, managed);
    if (++planned % 500 === 0) progress('members planned', planned, entries.length);
    return { user: want.user.sAMAccountName, email, plan };
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

  const managedMembers = members.filter((m) => managedEmails.has(m.email.toLowerCase())).length;
  const counts = {
    directoryUsers: users.length,
    allowed: desired.size,
    members: members.length,
    managed: managedMembers,
    invite: rows.filter((r) => r.plan.actions.some((a) => a.type === 'invite')).length,
    update: rows.filter((r) => r.plan.actions.some((a) => a.type === 'update')).length,
    remove: removals,
    unchanged: rows.filter((r) => r.plan.actions.length === 0 && r.skipped.length === 0).length,
  };
  const pct = managedMembers ? (removals / managedMembers) * 100 : 0;
  const refused =
    removals > 0 && pct > d.maxRemovalsPercent
      ? `would remove ${removals} of ${managedMembers} managed members (${pct.toFixed(1)}%, limit ${d.maxRemovalsPercent}%): an emptied group or a broken filter must not empty Sentry; check, then use --force`
      : undefined;
  rows.sort((a, b) => a.user.localeCompare(b.user));
  return { rows, counts, ruleVersion: set.version, ...(refused ? { refused } : {}) };
}

export interface SyncResult {
  applied: number;
  failed: { email: string; error: string }[];
  createdTeams: string[];
}

export async function applySync(plan: SyncPlan, d: SyncDeps, opts: { force?: boolean; actor: string; progress?: Progress }): Promise<SyncResult> {
  if (plan.refused && !opts.force) throw new SyncRefusedError(plan.refused);
  const todo = plan.rows.filter((r) => r.plan.actions.length > 0);
  const teams = new TeamDirectory(d.admin);
  const result: SyncResult = { applied: 0, failed: [], createdTeams: [] };
  let done = 0;
  await mapLimit(todo, 4, async (row) => {
    try {
      const r = await applyPlan(row.plan, d.admin, teams);
      result.createdTeams.push(...r.createdTeams);
      if (row.plan.actions.some((a) => a.type === 'remove')) await d.provisioner.forgetManaged(row.email);
      else await d.provisioner.markManaged(row.email);
      result.applied++;
      d.audit.record({ kind: 'provision.change', user: row.user, actor: opts.actor, detail: { email: row.email, changes: row.changes } });
    } catch (e) {
      result.failed.push({ email: row.email, error: (e as Error).message });
    }
    if (++done % 100 === 0) opts.progress?.('changes applied', done, todo.length);
  });
  opts.progress?.('changes applied', done, todo.length);
  d.audit.record({ kind: 'sync.run', actor: opts.actor, detail: { ...plan.counts, applied: result.applied, failed: result.failed.length, forced: !!opts.force, ruleVersion: plan.ruleVersion } });
  return result;
}

export class SyncRefusedError extends Error {
  readonly code = 'GW_SYNC_REFUSED';
}
