import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { AssertionSigner } from '../../src/keys/assertionSigner.js';
import { Keyring } from '../../src/keys/keyring.js';
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
    const token = await signer.assertionFor(alice, 'session-1', signedInAt);
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: 'https://sentry.example.com', audience: 'sentry', currentDate: new Date(clock.t) });
    assert.equal(payload.sub, alice.sub);
    assert.equal(payload.preferred_username, 'alice');
    assert.equal(payload.exp! - payload.iat!, 60);
    assert.equal(payload.nbf, payload.iat);
    assert.equal(payload.auth_time, Math.floor(signedInAt / 1000), 'when AD checked the password, for sudo and reactivation');
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
