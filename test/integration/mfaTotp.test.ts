// TOTP and recovery codes against the real redis-server, time from an injected clock: each code once, ±1 step, throttled per account apart from AD.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { generate } from 'otplib';
import { FactorStore } from '../../src/mfa/factorStore.js';
import { MFA_CODE_LIMIT, MfaThrottle } from '../../src/mfa/mfaThrottle.js';
import { SecretBox } from '../../src/mfa/secretBox.js';
import { Totp } from '../../src/mfa/totp.js';
import { testRedisUrl } from '../support/gateway.js';

const clock = {
  t: Date.UTC(2027, 0, 4, 9, 0, 0),
  now() {
    return this.t;
  },
  advance(ms: number) {
    this.t += ms;
  },
};
const WINDOW = 15 * 60_000;
const codeAt = (secret: string, ms: number) => generate({ secret, epoch: Math.floor(ms / 1000) });

/** People this file creates: removed at the end, so the shared Redis holds no factor another suite's `serve` would see. */
const made: string[] = [];
const person = () => {
  const g = randomUUID();
  made.push(g);
  return g;
};

let redis: Redis;
let store: FactorStore;
let totp: Totp;
const replica = () => new Totp({ redis, store, throttle: new MfaThrottle(redis, WINDOW, clock), clock, issuer: 'ACME Sentry' });
before(async () => {
  redis = new Redis(testRedisUrl());
  const keys = [randomBytes(32).toString('base64')];
  store = new FactorStore(redis, new SecretBox(() => keys), clock);
  totp = replica();
});
after(async () => {
  for (const g of made) await store?.reset(g).catch(() => undefined);
  redis?.disconnect();
});

/** A person with a confirmed authenticator app; the clock moved past the step that confirmed it. */
async function enrolled(): Promise<{ guid: string; secret: string }> {
  const guid = person();
  const { secret } = await totp.begin(guid, 'alice@corp.example.com');
  await totp.confirm(guid, await codeAt(secret, clock.now()), 'Phone');
  clock.advance(30_000);
  return { guid, secret };
}

describe('enrolment', () => {
  test('a new seed with its otpauth URI; the first code confirms it once; that code cannot sign in afterwards', async () => {
    const guid = person();
    const { secret, uri } = await totp.begin(guid, 'alice@corp.example.com');
    assert.match(uri, /^otpauth:\/\/totp\/ACME%20Sentry:alice%40corp\.example\.com\?/);
    assert.ok(uri.includes(`secret=${secret}`));
    assert.ok(!(await redis.get(`sag:mfa:{${guid}}:pending-totp`))?.includes(secret), 'the pending seed is sealed');
    await assert.rejects(totp.confirm(guid, '000000', 'Phone'), { code: 'GW_MFA_CODE_INVALID' });
    const code = await codeAt(secret, clock.now());
    const f = await totp.confirm(guid, code, 'Phone');
    assert.equal(f.kind, 'totp');
    await assert.rejects(totp.confirm(guid, code, 'Phone'), { code: 'GW_MFA_CHALLENGE_INVALID' });
    await assert.rejects(totp.verify(guid, code), { code: 'GW_MFA_CODE_INVALID' }, 'the confirming code is spent');
    assert.equal((await store.list(guid)).length, 1);
  });
});

describe('verification', () => {
  test('a code works once; an earlier step never after a later one; one step either side of the clock', async () => {
    const { guid, secret } = await enrolled();
    const now = await codeAt(secret, clock.now());
    const previous = await codeAt(secret, clock.now() - 30_000);
    assert.ok((await totp.verify(guid, ` ${now.slice(0, 3)} ${now.slice(3)} `)).factorId);
    await assert.rejects(totp.verify(guid, now), { code: 'GW_MFA_CODE_INVALID' }, 'not twice');
    await assert.rejects(totp.verify(guid, previous), { code: 'GW_MFA_CODE_INVALID' }, 'a step before the last accepted');
    clock.advance(30_000);
    const late = await codeAt(secret, clock.now() - 30_000);
    await assert.rejects(totp.verify(guid, late), { code: 'GW_MFA_CODE_INVALID' }, 'the same step as the last accepted');
    const ahead = await codeAt(secret, clock.now() + 30_000);
    assert.ok(await totp.verify(guid, ahead), 'a phone one step ahead');
    clock.advance(120_000);
    const stale = await codeAt(secret, clock.now() - 60_000);
    await assert.rejects(totp.verify(guid, stale), { code: 'GW_MFA_CODE_INVALID' }, 'two steps old');
    assert.equal((await store.list(guid))[0]?.lastUsedAt !== null, true);
  });

  test('two replicas given the same code at once: one accepts it', async () => {
    const { guid, secret } = await enrolled();
    const code = await codeAt(secret, clock.now());
    const results = await Promise.allSettled([replica().verify(guid, code), replica().verify(guid, code), replica().verify(guid, code)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  });

  test('another person’s code does not work for this person', async () => {
    const a = await enrolled();
    const b = await enrolled();
    await assert.rejects(totp.verify(b.guid, await codeAt(a.secret, clock.now())), { code: 'GW_MFA_CODE_INVALID' });
  });
});

describe('throttle', () => {
  test(`after ${MFA_CODE_LIMIT} wrong codes even the right one is refused with Retry-After, in Redis, never on the AD counts; a quiet window frees it`, async () => {
    const { guid, secret } = await enrolled();
    const before = await redis.keys('sag:throttle:user:*');
    for (let i = 0; i < MFA_CODE_LIMIT; i++) await assert.rejects(totp.verify(guid, '000000'), { code: 'GW_MFA_CODE_INVALID' });
    await assert.rejects(replica().verify(guid, await codeAt(secret, clock.now())), (e: { code?: string; headers?: Record<string, string> }) => e.code === 'GW_THROTTLED' && Number(e.headers?.['Retry-After']) > 0);
    await assert.rejects(totp.recover(guid, 'aaaaa-aaaaa'), { code: 'GW_THROTTLED' }, 'recovery codes share the count');
    assert.equal(await redis.hget(`sag:throttle:mfa:${guid}`, 'n'), String(MFA_CODE_LIMIT));
    assert.deepEqual(await redis.keys('sag:throttle:user:*'), before, 'nothing counted against the account’s AD lockout');
    clock.advance(WINDOW);
    assert.ok(await totp.verify(guid, await codeAt(secret, clock.now())));
  });

  test('a right code gives its attempt back', async () => {
    const { guid, secret } = await enrolled();
    await assert.rejects(totp.verify(guid, '000000'));
    await totp.verify(guid, await codeAt(secret, clock.now()));
    assert.equal(await redis.hget(`sag:throttle:mfa:${guid}`, 'n'), '1');
  });
});

describe('recovery codes', () => {
  test('one works once and not twice, and says how many are left', async () => {
    const { guid } = await enrolled();
    const codes = await store.regenerateRecoveryCodes(guid);
    assert.deepEqual(await totp.recover(guid, codes[3] as string), { left: 9 });
    await assert.rejects(totp.recover(guid, codes[3] as string), { code: 'GW_MFA_CODE_INVALID' });
  });
});
