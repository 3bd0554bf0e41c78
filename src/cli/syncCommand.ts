// `sync [--dry-run] [--force] [--user USER]`: plan Sentry memberships against AD, print the plan, then apply it.
import { randomUUID } from 'node:crypto';
import { buildBackends, buildKeyring } from '../compositionRoot.js';
import { buildSyncDeps } from '../provisioning/buildSyncDeps.js';
import { systemClock } from '../shared/clock.js';
import { revokeSessions, SessionIndex } from '../session/sessionIndex.js';
import { createSessionStore } from '../session/sessionStore.js';
import { applySync, planSync, SyncRefusedError, type SyncPlan } from '../provisioning/fullSync.js';
import { SyncRunStore } from '../provisioning/syncRuns.js';
import { cliLogger, loadOrExit, table, type CommonFlags } from './common.js';

export interface SyncFlags extends CommonFlags {
  dryRun?: boolean;
  force?: boolean;
  user?: string;
}

function printPlan(plan: SyncPlan): void {
  const c = plan.counts;
  const out = process.stdout;
  out.write(`Sync plan (mapping rules v${plan.ruleVersion}): ${c.allowed} of ${c.directoryUsers} directory users have access; Sentry has ${c.members} members, ${c.managed} managed by the gateway\n\n`);
  const rows = plan.rows.filter((r) => r.changes.length || r.skipped.length);
  if (rows.length) {
    out.write(table([['user', 'email', 'change'], ...rows.map((r) => [r.user, r.email, [...r.changes, ...r.skipped.map((s) => `(${s})`)].join('; ')])]) + '\n\n');
  }
  out.write(`${c.invite} to invite, ${c.update} to update, ${c.remove} to remove, ${c.offboard} to offboard, ${c.unchanged} unchanged\n`);
  if (plan.invitesWaitUntil) {
    out.write(`Sentry's daily invite limit is reached: invites are queued, not sent, until ${new Date(plan.invitesWaitUntil).toISOString()}\n`);
  }
}

export async function syncCommand(flags: SyncFlags): Promise<number> {
  const { config } = loadOrExit(flags);
  const logger = cliLogger(config);
  const b = buildBackends(config, logger);
  const runs = new SyncRunStore(b.redis);
  const lockOwner = `cli-${randomUUID()}`;
  let locked = false;
  try {
    await b.ready();
    // The keys the running gateways sign with (read only: the command line never makes a key).
    const store = createSessionStore(b.redis, { idleMs: config.session.idleTimeout, absoluteMs: config.session.absoluteTimeout });
    const index = new SessionIndex(b.redis, config.session.absoluteTimeout);
    const keyring = buildKeyring(config, systemClock);
    keyring.refresh();
    const deps = buildSyncDeps({
      config,
      directory: b.directory,
      rules: b.rules,
      sentry: b.sentry,
      provisioner: b.provisioner,
      audit: b.audit,
      logger,
      keyring,
      clock: systemClock,
      ...(b.redis ? { endSessions: async (sub: string) => (await revokeSessions(index, store, sub)).length } : {}),
    });
    if (!deps) {
      process.stderr.write('sync needs sentry.organization and sentry.tokenFile in the config\n');
      return 1;
    }
    // A run that writes takes the lock the periodic and console syncs take, so two never apply at once;
    // the plan is made under it too, so what is applied is what was printed.
    if (!flags.dryRun) {
      if (!(await runs.acquire(lockOwner))) {
        const busy = 'another sync is running (the periodic sync or one started from the admin console); nothing was changed: try again when it has finished';
        if (flags.json) process.stdout.write(JSON.stringify({ refused: busy }, null, 2) + '\n');
        else process.stderr.write(`REFUSED: ${busy}\n`);
        return 1;
      }
      locked = true;
    }
    let renewedAt = Date.now();
    // Progress goes to stderr so stdout stays the plan (and valid JSON with --json).
    const progress = (stage: string, done: number, total?: number) => {
      process.stderr.write(`  … ${stage}: ${done}${total ? `/${total}` : ''}\n`);
      if (locked && Date.now() - renewedAt > 30_000) {
        renewedAt = Date.now();
        void runs.renew(lockOwner).catch(() => undefined);
      }
    };
    const plan = await planSync(deps, { user: flags.user, progress });
    if (flags.json && flags.dryRun) {
      process.stdout.write(JSON.stringify({ dryRun: true, ...summary(plan) }, null, 2) + '\n');
      return plan.refused && !flags.force ? 1 : 0;
    }
    if (!flags.json) printPlan(plan);
    if (plan.refused && !flags.force) {
      if (flags.json) process.stdout.write(JSON.stringify({ refused: plan.refused, ...summary(plan) }, null, 2) + '\n');
      else process.stderr.write(`\nREFUSED: ${plan.refused}\n`);
      return 1;
    }
    if (flags.dryRun) {
      process.stdout.write('\n--dry-run: nothing was changed.\n');
      return 0;
    }
    const actor = `cli:${process.env.USER ?? 'unknown'}`;
    const result = await applySync(plan, deps, { force: flags.force, actor, progress });
    if (flags.json) process.stdout.write(JSON.stringify({ ...summary(plan), result }, null, 2) + '\n');
    else {
      process.stdout.write(`\nApplied ${result.applied} change${result.applied === 1 ? '' : 's'}${result.createdTeams.length ? `, created teams: ${result.createdTeams.join(', ')}` : ''}.\n`);
      if (result.offboarded) process.stdout.write(`Offboarded ${result.offboarded}: Sentry user deactivated and API tokens revoked.\n`);
      if (result.reactivated) process.stdout.write(`Reactivated ${result.reactivated}: enabled in AD again; their Sentry user is active again, without a new invite.\n`);
      for (const k of result.orgTokensKept ?? []) {
        const names = k.tokens.map((t) => `"${t.name}" (…${t.lastCharacters}, org ${t.organizationId})`).join(', ');
        process.stdout.write(`${k.user} created these org auth tokens, which stay valid: ${names}. Rotate them.\n`);
      }
      if (result.waitingInvites) {
        process.stdout.write(
          `${result.waitingInvites} invite${result.waitingInvites === 1 ? '' : 's'} wait${result.waitingInvites === 1 ? 's' : ''} for Sentry's daily invite limit (100 a day): ` +
            `queued, sent automatically from ${result.invitesWaitUntil}. Nothing is lost; people who sign in before then are provisioned then too.\n`,
        );
      }
      for (const f of result.failed) process.stderr.write(`FAILED ${f.email}: ${f.error}\n`);
      for (const r of result.offboardRefused ?? []) {
        process.stderr.write(`OFFBOARDING REFUSED ${r.user} ${r.email}: ${r.code}: ${r.detail}. Nothing was taken away; retried at every sync until resolved in Sentry.\n`);
      }
    }
    return result.failed.length || result.offboardRefused?.length ? 1 : 0;
  } catch (e) {
    if (e instanceof SyncRefusedError) {
      process.stderr.write(`REFUSED: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    if (locked) await runs.release(lockOwner).catch(() => undefined);
    await b.close();
  }
}

function summary(plan: SyncPlan) {
  return {
    ruleVersion: plan.ruleVersion,
    counts: plan.counts,
    changes: plan.rows.filter((r) => r.changes.length || r.skipped.length).map((r) => ({ user: r.user, email: r.email, changes: r.changes, skipped: r.skipped })),
    ...(plan.refused ? { refused: plan.refused } : {}),
  };
}
