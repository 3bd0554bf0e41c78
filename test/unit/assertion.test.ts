import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { AssertionSigner } from '../../src/keys/assertionSigner.js';
import { Keyring } from '../../src/keys/keyring.js';
import { signInFacts } from '../../src/session/signInFacts.js';
import { alice, pinned } from '../support/keysFixtures.js';

for (const alg of ['ES256', 'EdDSA'] as const) {
  test(`${alg}: the first start makes a private key file and publishes its public half`, async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sag-keys-')), 'keys');
    const clock = pinned();
    const ring = new Keyring(dir, alg, clock);
    assert.equal(await ring.load(), true);
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    assert.equal(statSync(join(dir, files[0]!)).mode & 0o777, 0o600, 'key file readable by the owner only');
    assert.equal(await new Keyring(dir, alg, clock).load(), false, 'a second start reuses the key');
    const jwks = ring.jwks();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.d, undefined, 'no private material in the JWKS');

    const signer = new AssertionSigner(ring, { issuer: 'https://sentry.example.com', audience: 'sentry', ttlMs: 60_000 }, clock);
    const signedInAt = clock.t - 90_000;
    const token = await signer.assertionFor(alice, 'session-1', { authTime: signedInAt, amr: ['pwd'] });
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: 'https://sentry.example.com', audience: 'sentry', currentDate: new Date(clock.t) });
    assert.equal(payload.sub, alice.sub);
    assert.equal(payload.preferred_username, 'alice');
    assert.equal(payload.exp! - payload.iat!, 60);
    assert.equal(payload.nbf, payload.iat);
    assert.equal(payload.auth_time, Math.floor(signedInAt / 1000), 'when AD checked the password, for sudo and reactivation');
    assert.deepEqual(payload.amr, ['pwd'], 'a password sign-in: Sentry keeps its own 2FA');
    assert.equal(payload.mfa_time, undefined, 'no second factor checked: no mfa_time');
    assert.equal(payload.sid, AssertionSigner.sessionHash('session-1'));
    assert.notEqual(payload.sid, 'session-1');
    assert.equal(decodeProtectedHeader(token).kid, jwks.keys[0]!.kid);
  });
}

test('an assertion is reused while fresh and re-signed before it expires', async () => {
  const clock = pinned();
  const ring = new Keyring(join(mkdtempSync(join(tmpdir(), 'sag-keys-')), 'k'), 'ES256', clock);
  await ring.load();
  const signer = new AssertionSigner(ring, { issuer: 'https://s', audience: 'sentry', ttlMs: 60_000 }, clock);
  const first = await signer.assertionFor(alice, 's1');
  clock.t += 20_000;
  assert.equal(await signer.assertionFor(alice, 's1'), first, 'still fresh: same token');
  assert.notEqual(await signer.assertionFor(alice, 's2'), first, 'another session gets its own');
  clock.t += 15_000;
  const renewed = await signer.assertionFor(alice, 's1');
  assert.notEqual(renewed, first, 'past half its life: re-signed');
  const { payload } = await jwtVerify(renewed, createLocalJWKSet(ring.jwks()), { currentDate: new Date(clock.t) });
  assert.ok(payload.exp! * 1000 - clock.t >= 59_000);
});

test('concurrent requests for one session share one signature', async () => {
  const clock = pinned();
  const ring = new Keyring(join(mkdtempSync(join(tmpdir(), 'sag-keys-')), 'k'), 'ES256', clock);
  await ring.load();
  const signer = new AssertionSigner(ring, { issuer: 'https://s', audience: 'sentry', ttlMs: 60_000 }, clock);
  const tokens = await Promise.all(Array.from({ length: 20 }, () => signer.assertionFor(alice, 's1')));
  assert.equal(new Set(tokens).size, 1);
});

test('the assertion states how and when the person proved who they are, from the session record', async () => {
  const clock = pinned();
  const ring = new Keyring(join(mkdtempSync(join(tmpdir(), 'sag-keys-')), 'k'), 'ES256', clock);
  await ring.load();
  const signer = new AssertionSigner(ring, { issuer: 'https://s', audience: 'sentry', ttlMs: 60_000 }, clock);
  const claimsOf = async (sid: string, record: Parameters<typeof signInFacts>[0]) => {
    const { payload } = await jwtVerify(await signer.assertionFor(alice, sid, signInFacts(record)), createLocalJWKSet(ring.jwks()), { currentDate: new Date(clock.t) });
    return payload;
  };
  const signedIn = clock.t - 3_600_000;
  // A record from before re-authentication existed: a password sign-in at authenticatedAt.
  const old = await claimsOf('s-old', { authenticatedAt: signedIn });
  assert.equal(old.auth_time, Math.floor(signedIn / 1000));
  assert.deepEqual(old.amr, ['pwd']);
  // Re-authenticated: auth_time moves, the absolute timeout's start does not matter to Sentry.
  const again = await claimsOf('s-again', { authenticatedAt: signedIn, passwordCheckedAt: clock.t - 5_000, amr: ['pwd'] });
  assert.equal(again.auth_time, Math.floor((clock.t - 5_000) / 1000));
  // A second factor recorded by the session: mfa_time and the methods.
  const mfa = await claimsOf('s-mfa', { authenticatedAt: signedIn, passwordCheckedAt: signedIn, mfaAt: clock.t - 1_000, amr: ['pwd', 'otp', 'mfa'] });
  assert.equal(mfa.mfa_time, Math.floor((clock.t - 1_000) / 1000));
  assert.deepEqual(mfa.amr, ['pwd', 'otp', 'mfa']);
  // No sign-in time at all (a record being written): no claims the module could mistake for a sign-in.
  const none = await claimsOf('s-none', {});
  assert.equal(none.auth_time, undefined);
  assert.equal(none.amr, undefined);
});
