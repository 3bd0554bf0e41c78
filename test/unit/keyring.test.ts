// Key rotation on a pinned clock: publication at once, the switch after ttl + margin, retirement after the last token expires.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { AssertionSigner } from '../../src/keys/assertionSigner.js';
import { Keyring, KeyringError, RETIRED_KEEP_MS, ROTATION_MARGIN_MS } from '../../src/keys/keyring.js';
import { alice, pinned } from '../support/keysFixtures.js';

const TTL = 60_000;

function setup() {
  const dir = join(mkdtempSync(join(tmpdir(), 'sag-keyring-')), 'keys');
  const clock = pinned();
  return { dir, clock, ring: new Keyring(dir, 'ES256', clock) };
}

const kids = (ring: Keyring) => ring.jwks().keys.map((k) => k.kid);
const verify = (token: string, ring: Keyring, at: number) =>
  jwtVerify(token, createLocalJWKSet(ring.jwks()), { issuer: 'https://gw', audience: 'sentry', currentDate: new Date(at) });

test('rotate publishes the new key at once and keeps signing with the old one until ttl + margin', async () => {
  const { clock, ring } = setup();
  await ring.load();
  const old = ring.current();
  const { added, retiring } = await ring.rotate(TTL);
  assert.deepEqual(kids(ring).sort(), [old.kid, added.kid].sort(), 'both public keys are in the JWKS right away');
  assert.equal(added.activatesAt, clock.t + TTL + ROTATION_MARGIN_MS);
  assert.deepEqual(retiring.map((k) => k.kid), [old.kid]);
  assert.equal(retiring[0]!.retiresAt, added.activatesAt + TTL + ROTATION_MARGIN_MS);
  assert.equal(ring.current().kid, old.kid);
  assert.equal(ring.stateOf(added), 'pending');
  assert.equal(ring.stateOf(ring.list().find((k) => k.kid === old.kid)!), 'signing');

  clock.t = added.activatesAt - 1;
  assert.equal(ring.current().kid, old.kid, 'one millisecond before the switch, still the old key');
  clock.t = added.activatesAt;
  assert.equal(ring.current().kid, added.kid, 'the switch happens at activatesAt');
  assert.equal(ring.stateOf(ring.list().find((k) => k.kid === old.kid)!), 'verifying');
});

test('a token signed with the old key just before the switch verifies until it expires; the old key leaves the JWKS after that', async () => {
  const { clock, ring } = setup();
  await ring.load();
  const signer = new AssertionSigner(ring, { issuer: 'https://gw', audience: 'sentry', ttlMs: TTL }, clock);
  const oldKid = ring.current().kid;
  const { added } = await ring.rotate(TTL);

  clock.t = added.activatesAt - 1000;
  const lastOld = await signer.assertionFor(alice, 's1');
  assert.equal(decodeProtectedHeader(lastOld).kid, oldKid);

  // The cached token is replaced as soon as signing moves, though it still has most of its life.
  clock.t = added.activatesAt;
  const fresh = await signer.assertionFor(alice, 's1');
  assert.equal(decodeProtectedHeader(fresh).kid, added.kid);
  await verify(fresh, ring, clock.t);

  // The old token keeps verifying against the published keys for its whole life.
  clock.t = added.activatesAt - 1000 + TTL - 1000;
  await verify(lastOld, ring, clock.t);
  assert.ok(kids(ring).includes(oldKid));

  const retiresAt = ring.list().find((k) => k.kid === oldKid)!.retiresAt!;
  clock.t = retiresAt - 1;
  assert.ok(kids(ring).includes(oldKid), 'still published up to the margin');
  clock.t = retiresAt;
  assert.deepEqual(kids(ring), [added.kid], 'gone once every token it signed has expired plus the margin');
});

test('a second rotate while one is under way is refused with a stable code and changes nothing', async () => {
  const { dir, ring } = setup();
  await ring.load();
  await ring.rotate(TTL);
  const before = readdirSync(dir).sort();
  await assert.rejects(ring.rotate(TTL), (e: unknown) => e instanceof KeyringError && e.code === 'GW_KEY_ROTATION_PENDING');
  assert.deepEqual(readdirSync(dir).sort(), before);
});

test('rotating again after the switch retires every older key, and deletes keys retired long ago', async () => {
  const { dir, clock, ring } = setup();
  await ring.load();
  const first = ring.current().kid;
  const r1 = await ring.rotate(TTL);
  clock.t = r1.added.activatesAt;
  const r2 = await ring.rotate(TTL);
  assert.deepEqual(r2.retiring.map((k) => k.kid), [r1.added.kid], 'the first key already has an earlier retirement');
  assert.equal(ring.list().length, 3);

  clock.t = r2.added.activatesAt + RETIRED_KEEP_MS + 10 * TTL;
  const r3 = await ring.rotate(TTL);
  assert.ok(r3.deleted.includes(first));
  assert.ok(!readdirSync(dir).some((f) => f.includes(first)), 'the old key file is gone');
});

test('a replica sharing keysDir sees a rotation at its next refresh and switches on its own clock', async () => {
  const { dir, clock, ring } = setup();
  await ring.load();
  const other = new Keyring(dir, 'ES256', clock);
  await other.load();
  const { added } = await ring.rotate(TTL);
  assert.ok(!kids(other).includes(added.kid), 'not before it looks');
  other.refresh();
  assert.ok(kids(other).includes(added.kid));
  clock.t = added.activatesAt;
  assert.equal(other.current().kid, added.kid);
  assert.equal((await other.signingKey()).kid, added.kid);
});

test('an unreadable key file does not empty a running keyring', async () => {
  const { dir, ring } = setup();
  await ring.load();
  const kid = ring.current().kid;
  const file = join(dir, readdirSync(dir)[0]!);
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, '{ half a ke');
  ring.refresh();
  assert.equal(ring.current().kid, kid);
  writeFileSync(file, good);
});
