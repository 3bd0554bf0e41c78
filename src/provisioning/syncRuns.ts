// Full syncs started from the console: run in the background under the periodic sync's lock, with their progress
// and results kept in Redis so any replica can show them.
import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/createRedis.js';
import type { Clock } from '../shared/clock.js';
import { applySync, planSync, type SyncDeps, type SyncPlan, type SyncResult } from './fullSync.js';
import { extendSyncLock, SYNC_LOCK_KEY } from './syncScheduler.js';

export const SYNC_RUNS_KEY = 'sag:sync:runs';
const RUN_PREFIX = 'sag:sync:run:';
const KEEP_RUNS = 20;
const RUN_TTL_S = 30 * 24 * 3600;
/** Long enough for any sync, renewed on every progress report, so a crashed replica frees it soon. */
const LOCK_MS = 5 * 60_000;

export type SyncRunStatus = 'running' | 'done' | 'failed' | 'stale' | 'refused';

export interface SyncRun {
  id: string;
  actor: string;
  startedAt: string;
  finishedAt?: string;
  status: SyncRunStatus;
  forced: boolean;
  stage: string;
  done: number;
  total?: number;
  counts?: SyncPlan['counts'];
  result?: SyncResult;
  error?: string;
}

/** What the admin reviewed: the rule version and every change, so an apply never does something they did not see. */
export function planFingerprint(plan: SyncPlan): string {
  const changes = plan.rows.filter((r) => r.plan.actions.length > 0).map((r) => [r.email, r.changes]);
  return createHash('sha256').update(JSON.stringify({ v: plan.ruleVersion, changes })).digest('base64url').slice(0, 32);
}

export class SyncRunStore {
  private readonly memory = new Map<string, SyncRun>();
  private memoryLock?: string;

  constructor(private readonly redis: RedisClient | null) {}

  async save(run: SyncRun, isNew = false): Promise<void> {
    if (!this.redis) {
      this.memory.set(run.id, run);
      return;
    }
    // The record, then the list: on Redis Cluster they live in different hash slots, so no MULTI spans both.
    await this.redis.set(RUN_PREFIX + run.id, JSON.stringify(run), 'EX', RUN_TTL_S);
    if (isNew) await this.redis.multi().lpush(SYNC_RUNS_KEY, run.id).ltrim(SYNC_RUNS_KEY, 0, KEEP_RUNS - 1).exec();
  }

  async get(id: string): Promise<SyncRun | null> {
    if (!/^[\w-]{1,64}$/.test(id)) return null;
    if (!this.redis) return this.memory.get(id) ?? null;
    const raw = await this.redis.get(RUN_PREFIX + id);
    return raw ? (JSON.parse(raw) as SyncRun) : null;
  }

  async recent(limit = KEEP_RUNS): Promise<SyncRun[]> {
    if (!this.redis) return [...this.memory.values()].reverse().slice(0, limit);
    const ids = await this.redis.lrange(SYNC_RUNS_KEY, 0, limit - 1);
    if (ids.length === 0) return [];
    // One GET per run, not MGET: the records spread over hash slots on Redis Cluster.
    const raws = await Promise.all(ids.map((id) => this.redis!.get(RUN_PREFIX + id)));
    return raws.filter((r): r is string => !!r).map((r) => JSON.parse(r) as SyncRun);
  }

  /**
   * The periodic scheduler holds the lock for its whole round and marks it `done:` once its run finished,
   * so a console sync may start after a finished round but never beside a running one.
   */
  async acquire(owner: string): Promise<boolean> {
    if (!this.redis) {
      if (this.memoryLock) return false;
      this.memoryLock = owner;
      return true;
    }
    const ok = await this.redis.eval(
      `local cur = redis.call('GET', KEYS[1])
       if cur and string.sub(cur, 1, 5) ~= 'done:' then return 0 end
       redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
       return 1`,
      1,
      SYNC_LOCK_KEY,
      owner,
      String(LOCK_MS),
    );
    return ok === 1;
  }

  async renew(owner: string): Promise<void> {
    if (!this.redis) return;
    await extendSyncLock(this.redis, owner, LOCK_MS);
  }

  async release(owner: string): Promise<void> {
    if (!this.redis) {
      if (this.memoryLock === owner) this.memoryLock = undefined;
      return;
    }
    await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1`, 1, SYNC_LOCK_KEY, owner);
  }
}

export interface StartSyncOptions {
  runs: SyncRunStore;
  deps: SyncDeps;
  clock: Clock;
  actor: string;
  /** planFingerprint of the plan the admin approved. */
  fingerprint: string;
  force: boolean;
}

/**
 * Takes the lock and starts the run in the background; resolves with the run as soon as it is recorded,
 * or null when another sync holds the lock. The plan is made again under the lock and applied only if it
 * is still the one the admin approved.
 */
export async function startSyncRun(o: StartSyncOptions): Promise<SyncRun | null> {
  const id = randomUUID();
  if (!(await o.runs.acquire(id))) return null;
  const now = () => new Date(o.clock.now()).toISOString();
  const run: SyncRun = { id, actor: o.actor, startedAt: now(), status: 'running', forced: o.force, stage: 'planning', done: 0 };
  try {
    await o.runs.save(run, true);
  } catch (e) {
    await o.runs.release(id).catch(() => undefined);
    throw e;
  }
  let lastWrite = 0;
  const progress = (stage: string, done: number, total?: number) => {
    Object.assign(run, { stage, done, total });
    const t = o.clock.now();
    // Progress may come thousands of times; the page refreshes every 2 s, so a write a second is plenty.
    if (t - lastWrite < 1000) return;
    lastWrite = t;
    void o.runs.save(run).catch(() => undefined);
    void o.runs.renew(id).catch(() => undefined);
  };
  void (async () => {
    try {
      const plan = await planSync(o.deps, { progress });
      run.counts = plan.counts;
      if (planFingerprint(plan) !== o.fingerprint) {
        Object.assign(run, { status: 'stale', error: 'the plan changed since it was reviewed: nothing was applied; review the new plan' });
      } else if (plan.refused && !o.force) {
        Object.assign(run, { status: 'refused', error: plan.refused });
      } else {
        const result = await applySync(plan, o.deps, { force: o.force, actor: o.actor, progress });
        // A refused offboarding is not done: the run says so, as the sync command's exit status does.
        Object.assign(run, { status: result.failed.length || result.offboardRefused?.length ? 'failed' : 'done', result });
      }
    } catch (e) {
      Object.assign(run, { status: 'failed', error: (e as Error).message });
      o.deps.logger.error({ err: (e as Error).message, run: id }, 'console sync failed');
    } finally {
      run.finishedAt = now();
      run.stage = 'finished';
      // Free the lock first: whoever sees this run finished may start the next one at once.
      await o.runs.release(id).catch(() => undefined);
      await o.runs.save(run).catch((e: unknown) => o.deps.logger.error({ err: (e as Error).message }, 'sync run not recorded'));
    }
  })();
  return run;
}
