// Second-factor storage against the real redis-server: keyed by objectGUID, seeds sealed with the person and factor bound in, key rotation, one-time recovery codes.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { FactorStore, MFA_PEOPLE_KEY, personKey, recoveryCodeHash } from '../../src/mfa/factorStore.js';
import { SecretBox, factorAad } from '../../src/mfa/secretBox.js';
import { Redis } from 'ioredis';
import { testRedisUrl } from '../support/gateway.js';

const newKey = () => randomBytes(32).toString('base64');
const SEED = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const credential = (id = randomBytes(16).toString('base64url')) => ({ credentialId: id, publicKey: randomBytes(77).toString('base64url'), counter: 0, transports: [] as string[] });

/** People this file creates: removed at the end, so the shared Redis holds no factor another suite's `serve` would see. */
const made: string[] = [];
const person = () => {
  const g = randomUUID();
  made.push(g);
  return g;
};

let redis: Redis;
let keyLines: string[];
let store: FactorStore;
const clock = {
  t: 1_800_000_000_000,
  now() {
    return this.t;
  },
  advance(ms: number) {
    this.t += ms;
  },
};
before(async () => {
  redis = new Redis(testRedisUrl());
  await redis.ping();
  keyLines = [newKey()];
  store = new FactorStore(redis, new SecretBox(() => keyLines), clock);
});
after(async () => {
  for (const g of made) await store?.reset(g).catch(() => undefined);
  redis?.disconnect();
});

describe('factors keyed by objectGUID', () => {
  test('added, listed with kind, name, added and last used; renamed; removed; the last removal takes the recovery codes', async () => {
    const guid = person();
    const totp = await store.addTotp(guid.toUpperCase(), { name: 'Phone', secret: SEED });
    clock.advance(1000);
    const key = await store.addWebauthn(guid, { name: 'YubiKey', credential: credential() });
    const listed = await store.list(guid);
    assert.deepEqual(
      listed.map((f) => [f.id, f.kind, f.name, f.lastUsedAt]),
      [
        [totp.id, 'totp', 'Phone', null],
        [key.id, 'webauthn', 'YubiKey', null],
      ],
    );
    assert.ok(await redis.sismember(MFA_PEOPLE_KEY, guid), 'upper-case GUIDs are stored lower case, under the GUID');
    assert.equal(await store.rename(guid, key.id, '  Blue key  '), true);
    assert.equal((await store.list(guid))[1]?.name, 'Blue key');
    assert.deepEqual((await store.list(guid))[1]?.webauthn?.transports, [], 'a rename keeps an empty transports list a list');
    await assert.rejects(store.rename(guid, key.id, 'a\nb'), { code: 'GW_BAD_REQUEST' });
    assert.equal((await store.regenerateRecoveryCodes(guid)).length, 10);

    assert.equal(await store.remove(guid, key.id), 1);
    assert.equal(await store.recoveryCodesLeft(guid), 10, 'recovery codes stay while a factor does');
    assert.equal(await store.remove(guid, totp.id), 0);
    assert.equal(await store.recoveryCodesLeft(guid), 0);
    assert.equal(await redis.sismember(MFA_PEOPLE_KEY, guid), 0);
    assert.equal(await store.remove(guid, totp.id), -1);
  });

  test('a name is never a key: a username where the GUID belongs is refused', async () => {
    await assert.rejects(store.addTotp('alice', { name: 'Phone', secret: SEED }), { code: 'GW_BAD_REQUEST' });
  });

  test('the same security key cannot be enrolled twice by one person', async () => {
    const guid = person();
    const c = credential();
    await store.addWebauthn(guid, { name: 'Key', credential: c });
    await assert.rejects(store.addWebauthn(guid, { name: 'Again', credential: c }), { code: 'GW_BAD_REQUEST' });
  });
});

describe('TOTP seeds at rest', () => {
  test('the seed is not in Redis in clear, and carries the id of the key that sealed it', async () => {
    const guid = person();
    const f = await store.addTotp(guid, { name: 'Phone', secret: SEED });
    const raw = (await redis.hget(personKey(guid, 'factors'), f.id)) as string;
    assert.ok(!raw.includes(SEED));
    assert.equal(SecretBox.keyIdOf((JSON.parse(raw) as { secret: string }).secret), store.box.currentKeyId());
    assert.deepEqual(await store.totpSecrets(guid), [{ id: f.id, secret: SEED }]);
  });

  test('a sealed seed copied to another person, or to another factor, does not open', async () => {
    const alice = person();
    const mallory = person();
    const fa = await store.addTotp(alice, { name: 'Phone', secret: SEED });
    const fm = await store.addTotp(mallory, { name: 'Phone', secret: 'KRSXG5CTMVRXEZLU' });
    const aliceRaw = (await redis.hget(personKey(alice, 'factors'), fa.id)) as string;
    const aliceSecret = (JSON.parse(aliceRaw) as { secret: string }).secret;
    // Moved to mallory, under mallory's own factor id.
    const moved = { ...(JSON.parse((await redis.hget(personKey(mallory, 'factors'), fm.id)) as string) as object), secret: aliceSecret };
    await redis.hset(personKey(mallory, 'factors'), fm.id, JSON.stringify(moved));
    await assert.rejects(store.totpSecrets(mallory), { code: 'GW_MFA_SECRET_UNREADABLE' });
    // Moved to another factor of alice's own.
    const other = await store.addTotp(alice, { name: 'Tablet', secret: 'KRSXG5CTMVRXEZLU' });
    const otherRec = JSON.parse((await redis.hget(personKey(alice, 'factors'), other.id)) as string) as object;
    await redis.hset(personKey(alice, 'factors'), other.id, JSON.stringify({ ...otherRec, secret: aliceSecret }));
    await assert.rejects(store.totpSecrets(alice), { code: 'GW_MFA_SECRET_UNREADABLE' });
  });

  test('rotation: a new first key seals, the old one still opens until reencryptAll, then the old key may go', async () => {
    const localKeys = [newKey()];
    const s = new FactorStore(redis, new SecretBox(() => localKeys), clock);
    const guid = person();
    const f = await s.addTotp(guid, { name: 'Phone', secret: SEED });
    const oldId = s.box.currentKeyId();
    localKeys.unshift(newKey());
    assert.notEqual(s.box.currentKeyId(), oldId);
    assert.deepEqual(await s.totpSecrets(guid), [{ id: f.id, secret: SEED }], 'the old key still decrypts');
    const r = await s.reencryptAll();
    // Other tests' people share this Redis under keys this box does not hold: reported, not fatal.
    assert.ok(r.reencrypted >= 1 && r.checked >= r.reencrypted && !r.unreadable.includes(guid), JSON.stringify(r));
    const raw = JSON.parse((await redis.hget(personKey(guid, 'factors'), f.id)) as string) as { secret: string };
    assert.equal(SecretBox.keyIdOf(raw.secret), s.box.currentKeyId());
    localKeys.pop();
    assert.deepEqual(await s.totpSecrets(guid), [{ id: f.id, secret: SEED }], 'readable without the retired key');
    // Without the key a seed was sealed under, it is an error naming the key id, not an empty list.
    const lost = new FactorStore(redis, new SecretBox(() => [newKey()]), clock);
    await assert.rejects(lost.totpSecrets(guid), (e: Error & { code?: string }) => e.code === 'GW_MFA_SECRET_UNREADABLE' && !e.message.includes(localKeys[0] as string));
  });

  test('a key file line that is not 32 bytes of base64 is refused naming the line, not its content', () => {
    assert.throws(() => new SecretBox(() => [newKey(), 'hunter2-not-a-key']), (e: Error) => /line 2/.test(e.message) && !e.message.includes('hunter2'));
    assert.throws(() => new SecretBox(() => []), /no key/);
  });

  test('the associated data names the person and the factor', () => {
    const box = new SecretBox(() => keyLines);
    const sealed = box.seal('x', factorAad('a', 'b'));
    assert.equal(box.open(sealed, factorAad('a', 'b')), 'x');
    assert.throws(() => box.open(sealed, factorAad('a', 'c')), { code: 'GW_MFA_SECRET_UNREADABLE' });
  });
});

describe('replay and clone refusal, in one atomic Redis step', () => {
  test('a TOTP time step is accepted once, and never one not later than the last', async () => {
    const guid = person();
    const f = await store.addTotp(guid, { name: 'Phone', secret: SEED });
    const results = await Promise.all(Array.from({ length: 8 }, () => store.acceptTotpStep(guid, f.id, 1000)));
    assert.equal(results.filter((r) => r === 'accepted').length, 1, 'eight replicas racing: one wins');
    assert.equal(await store.acceptTotpStep(guid, f.id, 999), 'replayed');
    assert.equal(await store.acceptTotpStep(guid, f.id, 1001), 'accepted');
    assert.equal((await store.list(guid))[0]?.lastUsedAt, clock.now());
    await store.remove(guid, f.id);
    assert.equal(await store.acceptTotpStep(guid, f.id, 1002), 'gone');
  });

  test('a WebAuthn signature counter must grow where it is used; 0 stays allowed for keys that keep none', async () => {
    const guid = person();
    const f = await store.addWebauthn(guid, { name: 'Key', credential: { ...credential(), counter: 5 } });
    assert.equal(await store.acceptWebauthnCounter(guid, f.id, 5), 'cloned');
    assert.equal(await store.acceptWebauthnCounter(guid, f.id, 6), 'accepted');
    assert.equal((await store.list(guid))[0]?.webauthn?.counter, 6);
    const passkey = await store.addWebauthn(guid, { name: 'Passkey', credential: credential() });
    assert.equal(await store.acceptWebauthnCounter(guid, passkey.id, 0), 'accepted');
    assert.equal(await store.acceptWebauthnCounter(guid, passkey.id, 0), 'accepted');
  });
});

describe('recovery codes', () => {
  test('ten codes, stored hashed, each works once (also when replicas race), any case or dash', async () => {
    const guid = person();
    await store.addTotp(guid, { name: 'Phone', secret: SEED });
    const codes = await store.regenerateRecoveryCodes(guid);
    assert.equal(new Set(codes).size, 10);
    const stored = await redis.smembers(personKey(guid, 'recovery'));
    for (const c of codes) assert.ok(!stored.some((h) => h.includes(c) || h.includes(c.replace('-', ''))), 'not stored in clear');
    assert.ok(stored.includes(recoveryCodeHash(guid, codes[0] as string)));

    const raced = await Promise.all(Array.from({ length: 6 }, () => store.consumeRecoveryCode(guid, codes[0] as string)));
    assert.deepEqual(raced.filter((r) => r !== null), [9]);
    assert.equal(await store.consumeRecoveryCode(guid, (codes[1] as string).toUpperCase().replace('-', ' ')), 8);
    assert.equal(await store.consumeRecoveryCode(guid, codes[1] as string), null, 'not twice');
    assert.equal(await store.consumeRecoveryCode(guid, 'aaaaa-aaaaa'), null);
    // Another person's code is not this person's.
    const other = person();
    await store.addTotp(other, { name: 'Phone', secret: SEED });
    assert.equal(await store.consumeRecoveryCode(other, codes[2] as string), null);
  });

  test('regenerating replaces the old codes; without a factor there are none to have', async () => {
    const guid = person();
    await assert.rejects(store.regenerateRecoveryCodes(guid), { code: 'GW_BAD_REQUEST' });
    await store.addTotp(guid, { name: 'Phone', secret: SEED });
    const first = await store.regenerateRecoveryCodes(guid);
    const second = await store.regenerateRecoveryCodes(guid);
    assert.equal(await store.consumeRecoveryCode(guid, first[0] as string), null);
    assert.equal(await store.consumeRecoveryCode(guid, second[0] as string), 9);
  });

  test('reset removes every factor and code of the person and no one else’s', async () => {
    const a = person();
    const b = person();
    await store.addTotp(a, { name: 'Phone', secret: SEED });
    await store.addWebauthn(a, { name: 'Key', credential: credential() });
    await store.regenerateRecoveryCodes(a);
    await store.addTotp(b, { name: 'Phone', secret: SEED });
    assert.equal(await store.reset(a), 2);
    assert.deepEqual(await store.list(a), []);
    assert.equal(await store.recoveryCodesLeft(a), 0);
    assert.equal((await store.list(b)).length, 1);
  });
});
