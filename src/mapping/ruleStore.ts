// Mapping rules live in Redis, versioned with who changed them and when; seeded once from the config file.
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import { mappingRuleSchema, type MappingRule } from '../config/schema.js';
import type { RedisClient } from '../redis/createRedis.js';
import type { Clock } from '../shared/clock.js';
import type { OrgRole } from './resolveAccess.js';

export const RULES_KEY = 'sag:mapping:current';
export const HISTORY_KEY = 'sag:mapping:history';
const HISTORY_KEEP = 200;

export interface RuleSet {
  version: number;
  defaultOrgRole: OrgRole;
  rules: MappingRule[];
  updatedBy: string;
  updatedAt: string;
}

export const ruleFileSchema = z.strictObject({
  defaultOrgRole: z.enum(['member', 'manager', 'owner']).default('member'),
  rules: z.array(mappingRuleSchema).default([]),
});

/** Parses a `mappings import` document; every problem is reported with its path. */
export function parseRuleFile(text: string): { ok: true; value: z.output<typeof ruleFileSchema> } | { ok: false; problems: string[] } {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (e) {
    return { ok: false, problems: [`not valid YAML: ${(e as Error).message.split('\n')[0]}`] };
  }
  const r = ruleFileSchema.safeParse(doc);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, problems: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) };
}

export function formatRuleFile(set: Pick<RuleSet, 'defaultOrgRole' | 'rules' | 'version' | 'updatedBy' | 'updatedAt'>): string {
  const header = `# sentry-ad-gateway mapping rules, version ${set.version} (${set.updatedAt} by ${set.updatedBy})\n`;
  return header + toYaml({ defaultOrgRole: set.defaultOrgRole, rules: set.rules });
}

/** Teams any rule names: the only teams the gateway ever changes. */
export function managedTeams(rules: MappingRule[]): Set<string> {
  return new Set(rules.flatMap((r) => r.teams.map((t) => t.slug)));
}

export interface RuleStore {
  current(): Promise<RuleSet>;
  save(next: { defaultOrgRole: OrgRole; rules: MappingRule[] }, actor: string, expectedVersion?: number): Promise<RuleSet>;
  history(limit?: number): Promise<RuleSet[]>;
}

/** A short in-process cache keeps the hot path off Redis; edits on any replica show within `cacheMs`. */
export class RedisRuleStore implements RuleStore {
  private cached?: { set: RuleSet; at: number };

  constructor(
    private readonly redis: RedisClient,
    private readonly seed: { defaultOrgRole: OrgRole; rules: MappingRule[] },
    private readonly clock: Clock,
    private readonly cacheMs = 5000,
  ) {}

  async current(): Promise<RuleSet> {
    const now = this.clock.now();
    if (this.cached && now - this.cached.at < this.cacheMs) return this.cached.set;
    let raw = await this.redis.get(RULES_KEY);
    if (!raw) {
      const first: RuleSet = { version: 1, ...this.seed, updatedBy: 'config file', updatedAt: new Date(now).toISOString() };
      // NX: when replicas start together, exactly one seed wins and all read it back.
      await this.redis.set(RULES_KEY, JSON.stringify(first), 'NX');
      raw = (await this.redis.get(RULES_KEY)) as string;
    }
    const set = JSON.parse(raw) as RuleSet;
    this.cached = { set, at: now };
    return set;
  }

  async save(next: { defaultOrgRole: OrgRole; rules: MappingRule[] }, actor: string, expectedVersion?: number): Promise<RuleSet> {
    const cur = await this.readFresh();
    if (expectedVersion !== undefined && cur.version !== expectedVersion) {
      throw new RuleConflictError(cur.version);
    }
    const set: RuleSet = { version: cur.version + 1, ...next, updatedBy: actor, updatedAt: new Date(this.clock.now()).toISOString() };
    // Compare-and-set in one script, so two admins saving at once cannot both win. The script touches the current
    // rules only (the history is another hash slot on Redis Cluster); only the winner records what it replaced.
    const replaced = await this.redis.eval(
      `local cur = redis.call('GET', KEYS[1])
       if cur and cjson.decode(cur).version ~= tonumber(ARGV[2]) then return 0 end
       redis.call('SET', KEYS[1], ARGV[1])
       return cur or 1`,
      1,
      RULES_KEY,
      JSON.stringify(set),
      String(cur.version),
    );
    if (replaced === 0) throw new RuleConflictError(cur.version);
    if (typeof replaced === 'string') await this.redis.multi().lpush(HISTORY_KEY, replaced).ltrim(HISTORY_KEY, 0, HISTORY_KEEP - 1).exec();
    this.cached = { set, at: this.clock.now() };
    return set;
  }

  async history(limit = 50): Promise<RuleSet[]> {
    const rows = await this.redis.lrange(HISTORY_KEY, 0, limit - 1);
    return rows.map((r) => JSON.parse(r) as RuleSet);
  }

  private async readFresh(): Promise<RuleSet> {
    this.cached = undefined;
    return this.current();
  }
}

/** Without Redis (development only): the rules from the config file, editable in this process. */
export class MemoryRuleStore implements RuleStore {
  private set: RuleSet;
  private readonly past: RuleSet[] = [];
  constructor(seed: { defaultOrgRole: OrgRole; rules: MappingRule[] }, private readonly clock: Clock) {
    this.set = { version: 1, ...seed, updatedBy: 'config file', updatedAt: new Date(clock.now()).toISOString() };
  }
  async current(): Promise<RuleSet> {
    return this.set;
  }
  async save(next: { defaultOrgRole: OrgRole; rules: MappingRule[] }, actor: string, expectedVersion?: number): Promise<RuleSet> {
    if (expectedVersion !== undefined && expectedVersion !== this.set.version) throw new RuleConflictError(this.set.version);
    this.past.unshift(this.set);
    this.set = { version: this.set.version + 1, ...next, updatedBy: actor, updatedAt: new Date(this.clock.now()).toISOString() };
    return this.set;
  }
  async history(limit = 50): Promise<RuleSet[]> {
    return this.past.slice(0, limit);
  }
}

export class RuleConflictError extends GatewayError {
  constructor(readonly currentVersion: number) {
    super('GW_MAPPING_CONFLICT', `the mapping rules changed meanwhile (now version ${currentVersion}): reload and try again`);
    this.name = 'RuleConflictError';
  }
}
