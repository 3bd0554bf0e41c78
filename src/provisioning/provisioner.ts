// Reconciles one person's Sentry membership with their AD groups: on sign-in (bounded, queued on failure) and from the queue.
import type { Logger } from 'pino';
import { managedTeams, type RuleStore } from '../mapping/ruleStore.js';
import { resolveAccess, type GroupRef, type OrgRole, type TeamRole } from '../mapping/resolveAccess.js';
import type { RedisClient } from '../redis/createRedis.js';
import { SentryApiError, type SentryAdmin } from '../sentry/sentryAdmin.js';
import type { AuditLog } from '../audit/auditLog.js';
import type { Clock } from '../shared/clock.js';
import { applyPlan, TeamDirectory } from './applyPlan.js';
import { InviteLimit } from './inviteLimit.js';
import { LinkStore } from './links.js';
import type { Offboarder } from './offboard.js';
import { describeChange, planMembership, type MembershipPlan } from './planMembership.js';
import type { RetryQueue } from './retryQueue.js';

/** Emails the gateway provisioned, per organization: removal only ever considers these. */
export const managedKey = (organization: string) => `sag:provision:managed:${organization}`;

export interface Person {
  email: string;
  username: string;
  groups: GroupRef[];
  /** AD objectGUID, when known: the person is then remembered as linked (offboarding considers only those). */
  sub?: string;
}

/**
 * The role and teams a person is to have, resolved under one reading of the rules, with the teams those rules manage.
 * A sign-in hands over the one its session holds, so the session and Sentry's membership cannot disagree.
 */
export interface PersonAccess {
  orgRole: OrgRole;
  teams: { slug: string; role: TeamRole }[];
  managedTeams: Set<string>;
}

/** Sentry's daily invite limit holds this invite back until `until`. */
export class InviteLimitedError extends SentryApiError {
  constructor(readonly until: number) {
    super('SENTRY_INVITE_LIMITED', `Sentry's daily invite limit is reached: invites wait until ${new Date(until).toISOString()}`, 429);
  }
}

export interface ProvisionerDeps {
  admin: SentryAdmin;
  rules: RuleStore;
  access: { allowGroups: string[]; denyGroups: string[]; adminGroups: string[] };
  queue: RetryQueue;
  redis: RedisClient | null;
  audit: AuditLog;
  logger: Logger;
  clock: Clock;
  loginTimeoutMs: number;
  organization: string;
  onResult?: (result: 'applied' | 'unchanged' | 'queued' | 'failed') => void;
}

export type ProvisionOutcome = { status: 'unchanged' | 'applied' | 'skipped'; plan?: MembershipPlan } | { status: 'queued'; error: string };

export class Provisioner {
  private readonly teams: TeamDirectory;
  private readonly memoryManaged = new Set<string>();
  private draining?: NodeJS.Timeout;
  readonly inviteLimit: InviteLimit;
  readonly links: LinkStore;
  /** The module's reactivation (needs the gateway's signing keys): set once the keyring exists. */
  reactivator?: Pick<Offboarder, 'reactivate'>;

  constructor(private readonly d: ProvisionerDeps) {
    this.teams = new TeamDirectory(d.admin, () => d.clock.now());
    this.inviteLimit = new InviteLimit(d.redis, d.organization, d.clock);
    this.links = new LinkStore(d.redis, d.organization);
  }

  /** Applies a plan, holding invites back while Sentry's invite limit is reached; throws InviteLimitedError then. */
  async applyWithinInviteLimit(plan: MembershipPlan, teams: TeamDirectory = this.teams): Promise<{ createdTeams: string[] }> {
    const invites = plan.actions.some((a) => a.type === 'invite' || a.type === 'renewInvite');
    if (invites) {
      const until = await this.inviteLimit.waitUntil();
      if (until) throw new InviteLimitedError(until);
    }
    try {
      return await applyPlan(plan, this.d.admin, teams);
    } catch (e) {
      if (e instanceof SentryApiError && e.code === 'SENTRY_INVITE_LIMITED' && !(e instanceof InviteLimitedError)) {
        const until = await this.inviteLimit.reached();
        this.d.logger.warn({ until: new Date(until).toISOString() }, "Sentry's daily invite limit is reached: invites wait for the next window");
        throw new InviteLimitedError(until);
      }
      throw e;
    }
  }

  /**
   * One reconcile: read Sentry, plan, write only what differs. Throws SentryApiError on failure. Without `resolved`
   * (full sync, the retry queue, the console) it resolves the person against the current rules and records their
   * link; only the sign-in path hands over what it resolved, and it has recorded the link itself.
   */
  async reconcile(person: Person, actor = 'sign-in', resolved?: PersonAccess): Promise<{ status: 'unchanged' | 'applied' | 'skipped'; plan?: MembershipPlan }> {
    const access = resolved ?? (await this.resolve(person));
    if (!access) return { status: 'skipped' };
    const email = person.email.toLowerCase();
    const desired = { email, orgRole: access.orgRole, teams: access.teams.map((t) => ({ slug: t.slug, role: t.role })) };
    const managed = access.managedTeams;
    let plan = planMembership(desired, await this.d.admin.findMemberByEmail(email), managed);
    try {
      if (plan.actions.length) await this.applyWithinInviteLimit(plan);
    } catch (e) {
      // Someone (another replica, an admin) invited them between our read and our write: read again and reconcile.
      if (!(e instanceof SentryApiError && e.code === 'SENTRY_CONFLICT')) throw e;
      plan = planMembership(desired, await this.d.admin.findMemberByEmail(email), managed);
      if (plan.actions.length) await this.applyWithinInviteLimit(plan);
    }
    await this.markManaged(email);
    if (person.sub && !resolved) await this.links.record(person.sub, email, person.username, this.d.clock.now());
    if (plan.actions.length === 0) return { status: 'unchanged', plan };
    this.d.audit.record({ kind: 'provision.change', user: person.username, actor, detail: { email, changes: plan.changes.map(describeChange), skipped: plan.skipped } });
    return { status: 'applied', plan };
  }

  /** The person's access under the rules as they are now; null when the access lists refuse them. */
  private async resolve(person: Person): Promise<PersonAccess | null> {
    const set = await this.d.rules.current();
    const r = resolveAccess(person.groups, { ...this.d.access, defaultOrgRole: set.defaultOrgRole, rules: set.rules });
    if (!r.access.allowed) return null;
    return { orgRole: r.orgRole, teams: r.teams, managedTeams: managedTeams(set.rules) };
  }

  /**
   * A person signed in through AD. If the gateway had offboarded them, their Sentry user is inactive and Sentry's
   * member list hides its membership, so provisioning would invite them anew: the module reactivates the user
   * first. Returns false when that did not happen (refused: an admin deactivated the account; or failed): the
   * link then stays offboarded and no provisioning runs for this sign-in, so no invite is made. The link is recorded
   * here, once; `provision` (sentry.provisionOnLogin) then applies what the sign-in resolved (`access`).
   */
  async signedIn(person: Person & { sub: string }, access: PersonAccess, provision: boolean): Promise<boolean> {
    const before = await this.links.get(person.sub);
    if (before?.offboarded && this.reactivator) {
      try {
        const r = await this.reactivator.reactivate({ sub: person.sub, email: person.email, username: person.username });
        if (r.refused) {
          this.d.logger.warn({ user: person.username, code: r.refused.code }, 'Sentry refused to reactivate an offboarded person: no provisioning');
          return false;
        }
        if (r.reactivated) this.d.audit.record({ kind: 'provision.change', user: person.username, actor: 'sign-in', detail: { email: person.email.toLowerCase(), changes: ['reactivate the Sentry user the gateway deactivated'] } });
      } catch (e) {
        this.d.logger.warn({ user: person.username, err: (e as Error).message }, 'reactivation failed: no provisioning at this sign-in');
        return false;
      }
    }
    await this.links.record(person.sub, person.email, person.username, this.d.clock.now());
    if (provision) await this.provisionOnLogin(person, access);
    return true;
  }

  /**
   * Sign-in path: waits at most loginTimeout; anything slower or failing goes to the durable queue, whose retry
   * resolves against the rules current then.
   */
  async provisionOnLogin(person: Person, access: PersonAccess): Promise<ProvisionOutcome> {
    const work = this.reconcile(person, 'sign-in', access);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.d.loginTimeoutMs);
    });
    try {
      const r = await Promise.race([work, timeout]);
      if (r === 'timeout') {
        // The slow attempt may still finish; the queued job then finds nothing to do, which counts as done.
        work.catch(() => undefined);
        return await this.queue(person, 'Sentry did not answer within sentry.loginTimeout');
      }
      this.d.onResult?.(r.status === 'applied' ? 'applied' : 'unchanged');
      return r;
    } catch (e) {
      return await this.queue(person, (e as Error).message, e instanceof InviteLimitedError ? e.until : undefined);
    } finally {
      clearTimeout(timer);
    }
  }

  private async queue(person: Person, error: string, dueAt?: number): Promise<ProvisionOutcome> {
    this.d.logger.warn({ user: person.username, err: error }, 'provisioning deferred to the retry queue');
    await this.enqueue(person, dueAt);
    this.d.onResult?.('queued');
    return { status: 'queued', error };
  }

  /** Puts the person in the durable retry queue, due at `dueAt` or after the usual short backoff. */
  async enqueue(person: Person, dueAt?: number): Promise<void> {
    await this.d.queue.enqueue(
      { email: person.email.toLowerCase(), username: person.username, groups: person.groups, ...(person.sub ? { sub: person.sub } : {}) },
      this.d.clock.now(),
      0,
      dueAt,
    );
  }

  /** Runs due jobs; any replica may call this, the queue leases each job to one of them. */
  async drainOnce(limit = 20): Promise<number> {
    const jobs = await this.d.queue.claimDue(this.d.clock.now(), limit);
    for (const job of jobs) {
      try {
        await this.reconcile(job, 'retry queue');
        await this.d.queue.done(job.email);
        this.d.onResult?.('applied');
      } catch (e) {
        this.d.onResult?.(e instanceof InviteLimitedError ? 'queued' : 'failed');
        this.d.logger.warn({ user: job.username, attempts: job.attempts + 1, err: (e as Error).message }, 'provisioning retry failed');
        // Held back by Sentry's invite limit: due again when the next window opens, not in seconds.
        await this.d.queue.retryLater(job, (e as Error).message, this.d.clock.now(), e instanceof InviteLimitedError ? e.until : undefined);
      }
    }
    return jobs.length;
  }

  startDraining(everyMs = 2000): void {
    const tick = () => {
      this.drainOnce()
        .catch((e: unknown) => this.d.logger.warn({ err: (e as Error).message }, 'retry queue unavailable'))
        .finally(() => {
          if (this.draining) this.draining = setTimeout(tick, everyMs).unref();
        });
    };
    this.draining = setTimeout(tick, everyMs).unref();
  }

  stopDraining(): void {
    if (this.draining) clearTimeout(this.draining);
    this.draining = undefined;
  }

  async markManaged(email: string): Promise<void> {
    if (this.d.redis) await this.d.redis.sadd(managedKey(this.d.organization), email);
    else this.memoryManaged.add(email);
  }

  async managedEmails(): Promise<Set<string>> {
    if (this.d.redis) return new Set(await this.d.redis.smembers(managedKey(this.d.organization)));
    return new Set(this.memoryManaged);
  }

  async forgetManaged(email: string): Promise<void> {
    if (this.d.redis) await this.d.redis.srem(managedKey(this.d.organization), email);
    else this.memoryManaged.delete(email);
  }
}
