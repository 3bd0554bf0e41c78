// Second factors in Redis, keyed by the AD objectGUID (never a name), under the one prefix `sag:mfa:` this file owns.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { RedisClient } from '../redis/createRedis.js';
import type { Clock } from '../shared/clock.js';
import type { FactorKind } from './mfaPolicy.js';
import { factorAad, SecretBox } from './secretBox.js';

export const MFA_PREFIX = 'sag:mfa:';
/** Everyone who has any factor: export, the durability check and `mfa list` start here. */
export const MFA_PEOPLE_KEY = `${MFA_PREFIX}people`;
export const RECOVERY_CODE_COUNT = 10;

/**
 * One person's keys share the hash tag `{guid}`, so the Lua steps below touch a single Redis Cluster slot:
 * factors (hash id → record), state (hash of `used:`, `step:`, `count:` per factor), recovery (set of code hashes).
 */
export const personKey = (guid: string, part: string) => `${MFA_PREFIX}{${guid}}:${part}`;

export interface WebauthnCredential {
  /** base64url, as the browser reports it. */
  credentialId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  counter: number;
  transports: string[];
}

export interface Factor {
  id: string;
  kind: FactorKind;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  webauthn?: WebauthnCredential;
}

/** What is stored under the factors hash: the seed sealed, counters and use times kept apart in the state hash. */
interface FactorRecord {
  id: string;
  kind: FactorKind;
  name: string;
  createdAt: number;
  /** TOTP only: the base32 seed sealed by SecretBox with the person and factor as associated data. */
  secret?: string;
  webauthn?: Omit<WebauthnCredential, 'counter'>;
}

/** A person's factors with the seeds in clear: `mfa export` only, which encrypts the whole file. */
export interface PersonDump {
  guid: string;
  factors: (Omit<FactorRecord, 'secret'> & { totpSecret?: string; lastUsedAt: number | null; counter?: number; lastStep?: number })[];
  recoveryHashes: string[];
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function normaliseGuid(guid: string): string {
  const g = guid.trim().toLowerCase();
  if (!GUID.test(g)) throw new GatewayError('GW_BAD_REQUEST', 'not an objectGUID');
  return g;
}

export function validFactorName(name: string): string {
  const n = name.normalize('NFC').trim();
  if (n.length < 1 || [...n].length > 64 || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u.test(n)) throw new GatewayError('GW_BAD_REQUEST', 'a factor name is 1 to 64 printable characters');
  return n;
}

/** Recovery codes: 10 letters and digits without look-alikes, shown as xxxxx-xxxxx (about 50 bits each). */
const CODE_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
function newRecoveryCode(): string {
  let s = '';
  for (let i = 0; i < 10; i++) s += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}
/** The code as typed (any case, with or without the dash and spaces) → its stored hash, salted with the person. */
export function recoveryCodeHash(guid: string, code: string): string {
  const norm = code.toLowerCase().replace(/[\s-]/g, '');
  return createHash('sha256').update(`sag-mfa-recovery\0${guid}\0${norm}`).digest('base64url');
}

// Accepts a TOTP time step only if it is later than the last one accepted for that factor, and only while the factor exists.
const ACCEPT_STEP = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
local last = tonumber(redis.call('HGET', KEYS[2], 'step:' .. ARGV[1]) or '-1')
local step = tonumber(ARGV[2])
if step <= last then return 0 end
redis.call('HSET', KEYS[2], 'step:' .. ARGV[1], step, 'used:' .. ARGV[1], ARGV[3])
return 1`;

// WebAuthn signature counter: where either the stored or the new one is non-zero, the new one must be greater (a clone otherwise).
const ACCEPT_COUNTER = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
local last = tonumber(redis.call('HGET', KEYS[2], 'count:' .. ARGV[1]) or '0')
local n = tonumber(ARGV[2])
if (n ~= 0 or last ~= 0) and n <= last then return 0 end
redis.call('HSET', KEYS[2], 'count:' .. ARGV[1], n, 'used:' .. ARGV[1], ARGV[3])
return 1`;

// Removing the last factor takes the recovery codes with it: they only ever stand in for a factor.
const REMOVE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('HDEL', KEYS[2], 'step:' .. ARGV[1], 'count:' .. ARGV[1], 'used:' .. ARGV[1])
local left = redis.call('HLEN', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[2], KEYS[3]) end
return left`;

// Replace a record only if it is still the one read (re-encryption never undoes a rename or a removal).
const REPLACE_IF = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

// A recovery code counts only while a factor exists; SREM makes it single use across replicas.
const CONSUME_RECOVERY = `
if redis.call('HLEN', KEYS[1]) == 0 then return 0 end
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return 0 end
return 1 + redis.call('SCARD', KEYS[2])`;

export class FactorStore {
  constructor(
    private readonly redis: RedisClient,
    readonly box: SecretBox,
    private readonly clock: Clock,
  ) {}

  async list(guid: string): Promise<Factor[]> {
    const g = normaliseGuid(guid);
    const [records, state] = await Promise.all([this.redis.hgetall(personKey(g, 'factors')), this.redis.hgetall(personKey(g, 'state'))]);
    return Object.values(records)
      .map((raw) => JSON.parse(raw) as FactorRecord)
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
      .map((r) => {
        const used = state[`used:${r.id}`];
        return {
          id: r.id,
          kind: r.kind,
          name: r.name,
          createdAt: r.createdAt,
          lastUsedAt: used ? Number(used) : null,
          ...(r.webauthn ? { webauthn: { ...r.webauthn, counter: Number(state[`count:${r.id}`] ?? 0) } } : {}),
        };
      });
  }

  async kinds(guid: string): Promise<FactorKind[]> {
    return (await this.list(guid)).map((f) => f.kind);
  }

  async #add(g: string, record: FactorRecord, state: Record<string, string | number>): Promise<void> {
    const m = this.redis.multi().hset(personKey(g, 'factors'), record.id, JSON.stringify(record));
    if (Object.keys(state).length) m.hset(personKey(g, 'state'), state);
    const res = await m.exec();
    for (const [err] of res ?? []) if (err) throw err;
    if (!res) throw new Error('factor not stored');
    await this.redis.sadd(MFA_PEOPLE_KEY, g);
  }

  /** Stores a confirmed TOTP factor; the seed is sealed under the current key with this person and factor bound in. */
  async addTotp(guid: string, opts: { name: string; secret: string; lastStep?: number }): Promise<Factor> {
    const g = normaliseGuid(guid);
    const id = randomBytes(9).toString('base64url');
    const createdAt = this.clock.now();
    const record: FactorRecord = { id, kind: 'totp', name: validFactorName(opts.name), createdAt, secret: this.box.seal(opts.secret, factorAad(g, id)) };
    // The code that confirmed enrolment is spent: it may not sign in afterwards.
    await this.#add(g, record, opts.lastStep !== undefined ? { [`step:${id}`]: opts.lastStep, [`used:${id}`]: createdAt } : {});
    return { id, kind: 'totp', name: record.name, createdAt, lastUsedAt: opts.lastStep !== undefined ? createdAt : null };
  }

  async addWebauthn(guid: string, opts: { name: string; credential: WebauthnCredential }): Promise<Factor> {
    const g = normaliseGuid(guid);
    if ((await this.list(g)).some((f) => f.webauthn?.credentialId === opts.credential.credentialId)) throw new GatewayError('GW_BAD_REQUEST', 'this security key is already enrolled');
    const id = randomBytes(9).toString('base64url');
    const createdAt = this.clock.now();
    const { counter, ...cred } = opts.credential;
    const record: FactorRecord = { id, kind: 'webauthn', name: validFactorName(opts.name), createdAt, webauthn: cred };
    await this.#add(g, record, { [`count:${id}`]: counter });
    return { id, kind: 'webauthn', name: record.name, createdAt, lastUsedAt: null, webauthn: opts.credential };
  }

  async rename(guid: string, factorId: string, name: string): Promise<boolean> {
    const g = normaliseGuid(guid);
    const n = validFactorName(name);
    // Read, change, write back only if unchanged meanwhile (the record is JSON; Lua's cjson would turn [] into {}).
    for (let i = 0; i < 5; i++) {
      const raw = await this.redis.hget(personKey(g, 'factors'), factorId);
      if (raw === null) return false;
      const next = JSON.stringify({ ...(JSON.parse(raw) as FactorRecord), name: n });
      if (Number(await this.redis.eval(REPLACE_IF, 1, personKey(g, 'factors'), factorId, raw, next)) === 1) return true;
    }
    throw new GatewayError('GW_INTERNAL', 'the factor kept changing while it was renamed');
  }

  /** Removes one factor; returns how many are left, or -1 when there was no such factor. */
  async remove(guid: string, factorId: string): Promise<number> {
    const g = normaliseGuid(guid);
    const left = Number(await this.redis.eval(REMOVE, 3, personKey(g, 'factors'), personKey(g, 'state'), personKey(g, 'recovery'), factorId));
    if (left === 0) await this.redis.srem(MFA_PEOPLE_KEY, g);
    return left;
  }

  /** Removes every factor and recovery code of the person; returns how many factors there were. */
  async reset(guid: string): Promise<number> {
    const g = normaliseGuid(guid);
    const n = await this.redis.hlen(personKey(g, 'factors'));
    await this.redis.del(personKey(g, 'factors'), personKey(g, 'state'), personKey(g, 'recovery'), personKey(g, 'pending-totp'));
    await this.redis.srem(MFA_PEOPLE_KEY, g);
    return n;
  }

  /** The TOTP seed of one factor, decrypted (throws GW_MFA_SECRET_UNREADABLE when no key opens it). */
  async totpSecrets(guid: string): Promise<{ id: string; secret: string }[]> {
    const g = normaliseGuid(guid);
    const records = Object.values(await this.redis.hgetall(personKey(g, 'factors'))).map((raw) => JSON.parse(raw) as FactorRecord);
    return records.filter((r) => r.kind === 'totp' && r.secret).map((r) => ({ id: r.id, secret: this.box.open(r.secret as string, factorAad(g, r.id)) }));
  }

  /** 'accepted', 'replayed' (the step is not later than the last accepted one) or 'gone' (the factor was removed meanwhile). */
  async acceptTotpStep(guid: string, factorId: string, step: number): Promise<'accepted' | 'replayed' | 'gone'> {
    const g = normaliseGuid(guid);
    const r = Number(await this.redis.eval(ACCEPT_STEP, 2, personKey(g, 'factors'), personKey(g, 'state'), factorId, String(step), String(this.clock.now())));
    return r === 1 ? 'accepted' : r === 0 ? 'replayed' : 'gone';
  }

  async acceptWebauthnCounter(guid: string, factorId: string, counter: number): Promise<'accepted' | 'cloned' | 'gone'> {
    const g = normaliseGuid(guid);
    const r = Number(await this.redis.eval(ACCEPT_COUNTER, 2, personKey(g, 'factors'), personKey(g, 'state'), factorId, String(counter), String(this.clock.now())));
    return r === 1 ? 'accepted' : r === 0 ? 'cloned' : 'gone';
  }

  /** New set of recovery codes (the old ones stop working at once); shown to the person once, stored only hashed. */
  async regenerateRecoveryCodes(guid: string): Promise<string[]> {
    const g = normaliseGuid(guid);
    if ((await this.redis.hlen(personKey(g, 'factors'))) === 0) throw new GatewayError('GW_BAD_REQUEST', 'recovery codes come with a factor: enrol one first');
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const res = await this.redis
      .multi()
      .del(personKey(g, 'recovery'))
      .sadd(personKey(g, 'recovery'), ...codes.map((c) => recoveryCodeHash(g, c)))
      .exec();
    for (const [err] of res ?? []) if (err) throw err;
    return codes;
  }

  /** Uses one recovery code once, atomically across replicas; returns how many are left after it, or null when it is not valid. */
  async consumeRecoveryCode(guid: string, code: string): Promise<number | null> {
    const g = normaliseGuid(guid);
    const r = Number(await this.redis.eval(CONSUME_RECOVERY, 2, personKey(g, 'factors'), personKey(g, 'recovery'), recoveryCodeHash(g, code)));
    return r === 0 ? null : r - 1;
  }

  async recoveryCodesLeft(guid: string): Promise<number> {
    return this.redis.scard(personKey(normaliseGuid(guid), 'recovery'));
  }

  async people(): Promise<string[]> {
    return (await this.redis.smembers(MFA_PEOPLE_KEY)).sort();
  }

  /** Whether anyone has a factor (the durability check applies then even with the policy off). */
  async anyEnrolled(): Promise<boolean> {
    return (await this.redis.scard(MFA_PEOPLE_KEY)) > 0;
  }

  /**
   * Re-encrypts every TOTP seed not under the first key of mfa.keyFile (after a key was added at the top).
   * Once it reports nothing left under an old key, that key may leave the file.
   */
  async reencryptAll(): Promise<{ checked: number; reencrypted: number; unreadable: string[] }> {
    const current = this.box.currentKeyId();
    let checked = 0;
    let reencrypted = 0;
    // One seed no key opens (a key removed too early) is reported by person, and does not stop the others.
    const unreadable: string[] = [];
    for (const g of await this.people()) {
      const records = await this.redis.hgetall(personKey(g, 'factors'));
      for (const [id, raw] of Object.entries(records)) {
        const rec = JSON.parse(raw) as FactorRecord;
        if (!rec.secret) continue;
        checked++;
        if (SecretBox.keyIdOf(rec.secret) === current) continue;
        let seed: string;
        try {
          seed = this.box.open(rec.secret, factorAad(g, id));
        } catch {
          unreadable.push(g);
          continue;
        }
        const next = JSON.stringify({ ...rec, secret: this.box.seal(seed, factorAad(g, id)) });
        if (Number(await this.redis.eval(REPLACE_IF, 1, personKey(g, 'factors'), id, raw, next)) === 1) reencrypted++;
      }
    }
    return { checked, reencrypted, unreadable: [...new Set(unreadable)] };
  }

  /** One person's factors with seeds in clear, for `mfa export` (which encrypts the file as a whole). */
  async dump(guid: string): Promise<PersonDump> {
    const g = normaliseGuid(guid);
    const [records, state, recovery] = await Promise.all([this.redis.hgetall(personKey(g, 'factors')), this.redis.hgetall(personKey(g, 'state')), this.redis.smembers(personKey(g, 'recovery'))]);
    const factors = Object.values(records).map((raw) => {
      const { secret, ...rec } = JSON.parse(raw) as FactorRecord;
      const n = (k: string) => (state[`${k}:${rec.id}`] === undefined ? undefined : Number(state[`${k}:${rec.id}`]));
      return {
        ...rec,
        ...(secret ? { totpSecret: this.box.open(secret, factorAad(g, rec.id)) } : {}),
        lastUsedAt: n('used') ?? null,
        ...(n('count') !== undefined ? { counter: n('count') } : {}),
        ...(n('step') !== undefined ? { lastStep: n('step') } : {}),
      };
    });
    return { guid: g, factors: factors.sort((a, b) => a.createdAt - b.createdAt), recoveryHashes: recovery.sort() };
  }

  /** Writes a dumped person over whatever this Redis holds for them (`mfa import`); seeds are sealed under this deployment's key. */
  async restore(d: PersonDump): Promise<void> {
    const g = normaliseGuid(d.guid);
    const m = this.redis.multi().del(personKey(g, 'factors'), personKey(g, 'state'), personKey(g, 'recovery'));
    for (const f of d.factors) {
      const { totpSecret, lastUsedAt, counter, lastStep, ...rec } = f;
      const record: FactorRecord = { ...rec, ...(totpSecret !== undefined ? { secret: this.box.seal(totpSecret, factorAad(g, rec.id)) } : {}) };
      m.hset(personKey(g, 'factors'), rec.id, JSON.stringify(record));
      const state: Record<string, number> = {};
      if (lastUsedAt !== null) state[`used:${rec.id}`] = lastUsedAt;
      if (counter !== undefined) state[`count:${rec.id}`] = counter;
      if (lastStep !== undefined) state[`step:${rec.id}`] = lastStep;
      if (Object.keys(state).length) m.hset(personKey(g, 'state'), state);
    }
    if (d.recoveryHashes.length && d.factors.length) m.sadd(personKey(g, 'recovery'), ...d.recoveryHashes);
    const res = await m.exec();
    for (const [err] of res ?? []) if (err) throw err;
    if (d.factors.length) await this.redis.sadd(MFA_PEOPLE_KEY, g);
    else await this.redis.srem(MFA_PEOPLE_KEY, g);
  }
}
