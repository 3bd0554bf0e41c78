// Rotating every secret on a running pair of replicas: the bind password (CLI, by hand, mid-rotation,
// refused by AD), the signing keys, the session secret and the Sentry token, against the real Samba DC and Redis.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import signature from 'cookie-signature';
import { Redis } from 'ioredis';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { commitPassword, pendingPasswordPath, writePendingPassword } from '../../src/directory/bindPassword.js';
import { changeOwnPassword, generatePassword, verifyServiceBind } from '../../src/directory/changeOwnPassword.js';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { ROTATION_MARGIN_MS } from '../../src/keys/keyring.js';
import { AUDIT_KEY } from '../../src/audit/auditLog.js';
import { runCli, type CliRun } from '../support/cli.js';
import { sambaTool, testDc, testLdapConfig } from '../support/dc.js';
import { startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { alertOf, Client, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

const ACCOUNT = 'svc-rotate';
const FIRST_PASSWORD = 'Rot!Initial-Pass-0';

let dir: string;
let passwordFile: string;
let bindDn: string;
let overrides: Record<string, unknown>;
let a: TestGateway;
let b: TestGateway;
let redis: Redis;
const extra: TestGateway[] = [];
/** What the report quotes: sign-ins attempted and failed while each rotation ran. */
const figures: Record<string, { attempted: number; failed: number }> = {};

function cli(args: string[], stdin = ''): Promise<CliRun> {
  return runCli([...args, '--config', a.configFile], { env: { USER: 'rotation-test' }, stdin });
}

const ldap = () => testLdapConfig({ bindDn, bindPasswordFile: passwordFile });
const filePassword = () => readFileSync(passwordFile, 'utf8').trim();

/** A steady stream of sign-ins, two at a time on each replica, until `end()`. */
function signInStream(targets: TestGateway[]) {
  let stopping = false;
  const stats = { attempted: 0, failed: 0, failures: [] as string[] };
  const worker = async (t: TestGateway) => {
    while (!stopping) {
      stats.attempted++;
      try {
        const res = await new Client(t.url).login('alice', DEMO_PASSWORD);
        if (res.status !== 303) {
          stats.failed++;
          stats.failures.push(`${t.url}: ${res.status} ${alertOf(await res.text()) ?? ''}`);
        }
      } catch (e) {
        stats.failed++;
        stats.failures.push(`${t.url}: ${(e as Error).message}`);
      }
    }
  };
  const running = targets.flatMap((t) => [worker(t), worker(t)]);
  return {
    async end() {
      stopping = true;
      await Promise.all(running);
      return stats;
    },
  };
}

async function readyz(t: TestGateway) {
  const res = await fetch(`${t.url}/_gateway/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, { ok: boolean; error?: string; depth?: number }> } };
}

/** Polls until `check` holds (readiness caches the directory check for 5 s). */
async function eventually(what: string, check: () => Promise<boolean>, ms = 12_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(250);
  }
  assert.fail(`not within ${ms} ms: ${what}`);
}

async function auditKinds(kind: string) {
  const rows = (await redis.lrange(AUDIT_KEY, 0, 500)).map((r) => JSON.parse(r) as { kind: string; actor?: string; reason?: string; detail?: Record<string, unknown> });
  return rows.filter((r) => r.kind === kind);
}

before(async () => {
  // Its own account, so rotating it cannot break the other suites' svc-sentry.
  await sambaTool(['user', 'create', ACCOUNT, FIRST_PASSWORD, '--userou=OU=Service Accounts']);
  await sambaTool(['user', 'setexpiry', ACCOUNT, '--noexpiry']);
  bindDn = `CN=${ACCOUNT},OU=Service Accounts,${testDc().baseDn}`;
  dir = mkdtempSync(join(tmpdir(), 'sag-test-rotation-'));
  passwordFile = join(dir, 'ldap_bind_password');
  writeFileSync(passwordFile, FIRST_PASSWORD + '\n', { mode: 0o640 });
  // Both replicas share one keys directory, as they would share a volume.
  overrides = { ldap: { bindDn, bindPasswordFile: passwordFile }, assertion: { keysDir: join(dir, 'keys') } };
  a = await startTestGateway(overrides);
  b = await startTestGateway(overrides);
  redis = new Redis(testRedisUrl());
});

after(async () => {
  redis.disconnect();
  for (const t of [a, b, ...extra]) await t?.close();
  process.stdout.write(`# sign-ins during rotations: ${JSON.stringify(figures)}\n`);
});

describe('bind password', () => {
  test('`bind-password rotate --generate` under a stream of sign-ins through two replicas: none fails; AD takes the new password and refuses the old', async () => {
    const before = filePassword();
    // Warm both replicas' service connections, as on a running cluster.
    assert.equal((await new Client(a.url).login('alice', DEMO_PASSWORD)).status, 303);
    assert.equal((await new Client(b.url).login('alice', DEMO_PASSWORD)).status, 303);
    const stream = signInStream([a, b]);
    await sleep(1000);
    const run = await cli(['bind-password', 'rotate', '--generate', '--json']);
    await sleep(1500);
    const stats = await stream.end();
    figures['cli --generate'] = { attempted: stats.attempted, failed: stats.failed };
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { ok: boolean; dc: string };
    assert.equal(out.ok, true);
    assert.equal(stats.failed, 0, stats.failures.join('\n'));
    assert.ok(stats.attempted >= 10, `a real stream ran (${stats.attempted})`);

    const after = filePassword();
    assert.notEqual(after, before);
    assert.ok(after.length >= 32);
    assert.doesNotMatch(run.stdout + run.stderr, new RegExp(after.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the new password is never printed');
    assert.equal(statSync(passwordFile).mode & 0o777, 0o640, 'same mode as the file it replaced');
    assert.equal(existsSync(pendingPasswordPath(passwordFile)), false, 'no parked password left behind');
    assert.equal((await verifyServiceBind(ldap(), after)).ok, true, 'AD accepts the new password');
    const old = await verifyServiceBind(ldap(), before);
    assert.equal(old.ok, false);
    assert.equal(old.results[0]!.refused, true, 'AD refuses the old one');

    await eventually('both replicas report a working bind credential', async () => (await readyz(a)).body.checks['bindCredential']!.ok && (await readyz(b)).body.checks['bindCredential']!.ok);
    // A replica started now binds with the new file from the start.
    const c = await startTestGateway(overrides);
    extra.push(c);
    assert.equal((await new Client(c.url).login('alice', DEMO_PASSWORD)).status, 303);

    const audit = await auditKinds('bind_password.rotated');
    assert.ok(audit.some((e) => e.actor === 'cli:rotation-test' && e.detail?.['bindDn'] === bindDn), 'audited with who ran it');
  });

  test('between AD taking the new password and the file being replaced, a replica that must bind afresh uses the parked password', async () => {
    const current = filePassword();
    const next = generatePassword();
    writePendingPassword(passwordFile, next);
    await changeOwnPassword(ldap(), current, next);
    // A new replica has no bound connection: the file's password is refused now, the parked one works.
    const fresh = await startTestGateway(overrides);
    extra.push(fresh);
    const res = await new Client(fresh.url).login('alice', DEMO_PASSWORD);
    assert.equal(res.status, 303, alertOf(await res.text()));
    commitPassword(passwordFile, next);
    assert.equal(filePassword(), next);
    assert.equal(existsSync(pendingPasswordPath(passwordFile)), false);
  });

  test('rotating by hand (password changed elsewhere, then the file written) under a stream of sign-ins: none fails, replicas pick the file up', async () => {
    const before = filePassword();
    const next = generatePassword();
    const stream = signInStream([a, b]);
    await sleep(800);
    // As an operator would: change it in AD with an administrator's tool, then write the file in place.
    await sambaTool(['user', 'setpassword', ACCOUNT, `--newpassword=${next}`]);
    await sleep(700);
    writeFileSync(passwordFile, next + '\n');
    await sleep(1500);
    const stats = await stream.end();
    figures['by hand'] = { attempted: stats.attempted, failed: stats.failed };
    assert.equal(stats.failed, 0, stats.failures.join('\n'));
    assert.ok(stats.attempted >= 10);
    assert.equal((await verifyServiceBind(ldap(), before)).results[0]!.refused, true, 'the old password is refused');
    await eventually('both replicas bind with the hand-written file', async () => (await readyz(a)).body.checks['bindCredential']!.ok && (await readyz(b)).body.checks['bindCredential']!.ok);
    const reloaded = await auditKinds('secret.reloaded');
    assert.ok(reloaded.some((e) => e.detail?.['secret'] === 'bind_password'), 'each replica records what it took up');
  });

  test('AD refusing the change (password history) changes nothing and says why', async () => {
    const current = filePassword();
    const run = await cli(['bind-password', 'rotate'], FIRST_PASSWORD + '\n');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /NOT rotated/);
    assert.match(run.stderr, /0000052D|history|already used/i, 'AD reason shown plainly');
    assert.match(run.stderr, /PSO|fine-grained/);
    assert.equal(filePassword(), current, 'the file is untouched');
    assert.equal(existsSync(pendingPasswordPath(passwordFile)), false);
    assert.equal((await verifyServiceBind(ldap(), current)).ok, true, 'the current password still works');
    for (const t of [a, b]) assert.equal((await new Client(t.url).login('alice', DEMO_PASSWORD)).status, 303);
    const failed = await auditKinds('bind_password.rotation_failed');
    assert.ok(failed.some((e) => e.actor === 'cli:rotation-test' && e.reason === 'GW_PASSWORD_POLICY'));
  });

  test('a password on stdin is used as given; an empty one is a usage error', async () => {
    const next = generatePassword();
    const ok = await cli(['bind-password', 'rotate'], next + '\n');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(filePassword(), next);
    const empty = await cli(['bind-password', 'rotate'], '\n');
    assert.equal(empty.code, 2);
  });
});

describe('signing keys', () => {
  async function assertionVia(t: TestGateway, c: Client): Promise<string> {
    const res = await c.get('/organizations/acme/issues/', { accept: 'application/json' });
    assert.equal(res.status, 200);
    return ((await res.json()) as { headers: Record<string, string> }).headers['x-sentry-gateway-assertion']!;
  }
  const jwksOf = async (t: TestGateway) => (await (await fetch(`${t.url}/_gateway/jwks.json`)).json()) as JSONWebKeySet;
  const setClocks = (at: number) => {
    for (const t of [a, b]) t.clock.offset = at - Date.now();
  };

  test('`keys rotate`: published by both replicas at once, both switch after ttl + margin, the old key verifies tokens until they expire', async () => {
    const ca = new Client(a.url);
    const cb = new Client(b.url);
    assert.equal((await ca.login('alice', DEMO_PASSWORD)).status, 303);
    assert.equal((await cb.login('alice', DEMO_PASSWORD)).status, 303);
    const oldKid = decodeProtectedHeader(await assertionVia(a, ca)).kid!;

    const run = await cli(['keys', 'rotate', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const { rotated } = JSON.parse(run.stdout) as { rotated: { kid: string; activatesAt: string } };
    const activatesAt = Date.parse(rotated.activatesAt);
    const ttl = a.config.assertion.ttl;
    assert.ok(Math.abs(activatesAt - (Date.now() + ttl + ROTATION_MARGIN_MS)) < 30_000);

    // Published by both replicas within their refresh period, before either signs with it.
    await eventually('both JWKS publish the new key', async () => (await jwksOf(a)).keys.some((k) => k.kid === rotated.kid) && (await jwksOf(b)).keys.some((k) => k.kid === rotated.kid));
    assert.equal(decodeProtectedHeader(await assertionVia(b, cb)).kid, oldKid, 'still signing with the old key');

    // The last token signed with the old key, two seconds before the switch.
    setClocks(activatesAt - 2000);
    const lastOld = await assertionVia(a, ca);
    assert.equal(decodeProtectedHeader(lastOld).kid, oldKid);

    setClocks(activatesAt + 1000);
    const newA = await assertionVia(a, ca);
    const newB = await assertionVia(b, cb);
    assert.equal(decodeProtectedHeader(newA).kid, rotated.kid, 'replica A signs with the new key after the switch');
    assert.equal(decodeProtectedHeader(newB).kid, rotated.kid, 'replica B too');

    const opts = (at: number) => ({ issuer: a.config.server.publicUrl, audience: 'sentry', currentDate: new Date(at) });
    await jwtVerify(newA, createLocalJWKSet(await jwksOf(a)), opts(activatesAt + 1000));
    await jwtVerify(newB, createLocalJWKSet(await jwksOf(b)), { ...opts(activatesAt + 1000), issuer: b.config.server.publicUrl });
    // The token signed before the switch verifies against the JWKS for its whole life.
    const lastExp = (activatesAt - 2000) + ttl;
    setClocks(lastExp - 1000);
    await jwtVerify(lastOld, createLocalJWKSet(await jwksOf(b)), opts(lastExp - 1000));

    // Then the old key leaves the JWKS (ttl + margin after the switch) on both replicas.
    setClocks(activatesAt + ttl + ROTATION_MARGIN_MS + 1000);
    for (const t of [a, b]) assert.deepEqual((await jwksOf(t)).keys.map((k) => k.kid), [rotated.kid]);
    setClocks(Date.now());

    const list = await cli(['keys', 'list', '--json']);
    const keys = (JSON.parse(list.stdout) as { keys: { kid: string; state: string }[] }).keys;
    assert.equal(keys.find((k) => k.kid === rotated.kid)?.state, 'pending', 'by the real clock the new key is not signing yet');
    assert.ok((await auditKinds('key.rotated')).some((e) => e.actor === 'cli:rotation-test' && e.detail?.['kid'] === rotated.kid));

    const again = await cli(['keys', 'rotate']);
    assert.equal(again.code, 1, 'a second rotation while one is under way is refused');
    assert.match(again.stderr, /already under way/);
  });
});

describe('session secret and Sentry token', () => {
  test('a new first line in session.secretFile signs new sessions while cookies signed with the old line keep working', async () => {
    const secretFile = a.config.session.secretFile!;
    const oldSecret = readFileSync(secretFile, 'utf8').trim();
    const oldClient = new Client(a.url);
    assert.equal((await oldClient.login('alice', DEMO_PASSWORD)).status, 303);
    const newSecret = 'rotated-' + generatePassword();
    writeFileSync(secretFile, `${newSecret}\n${oldSecret}\n`);
    await eventually('new sign-ins are signed with the new first line', async () => {
      const c = new Client(a.url);
      await c.login('alice', DEMO_PASSWORD);
      const cookie = decodeURIComponent(c.cookies.get('sag_session') ?? '');
      return signature.unsign(cookie.slice(2), newSecret) !== false;
    });
    assert.equal((await oldClient.get('/_gateway/me', { accept: 'application/json' })).status, 200, 'the old cookie still verifies');
    assert.equal((await oldClient.get('/organizations/acme/', { accept: 'application/json' })).status, 200, 'and still reaches Sentry');
    // Dropping the old line ends the sessions it signed, on the gateway's pages and on the proxy
    // (which remembers cookies it has verified).
    writeFileSync(secretFile, `${newSecret}\n`);
    await eventually('the old cookie stops working', async () => (await oldClient.get('/_gateway/me', { accept: 'application/json' })).status === 401);
    assert.equal((await oldClient.get('/organizations/acme/', { accept: 'application/json' })).status, 401, 'the proxy no longer lets it through');
    assert.ok((await auditKinds('secret.reloaded')).some((e) => e.detail?.['secret'] === 'session_secret'));
  });

  test('a new Sentry token in sentry.tokenFile is used without a restart; readiness reports the API with it', async () => {
    const token = 'sntryu_' + 'a'.repeat(32);
    const fake: FakeSentry = await startFakeSentry({ organization: 'acme', token });
    try {
      const tokenFile = join(dir, 'sentry_token');
      writeFileSync(tokenFile, 'sntryu_wrong\n', { mode: 0o600 });
      const s = await startTestGateway({ ...overrides, sentry: { url: fake.url, organization: 'acme', tokenFile, provisionOnLogin: false, sync: { interval: '0' } } });
      extra.push(s);
      const first = await readyz(s);
      assert.equal(first.status, 200, 'Sentry refusing the token does not stop sign-in');
      assert.equal(first.body.status, 'degraded');
      assert.equal(first.body.checks['sentry']!.ok, false);
      writeFileSync(tokenFile, token + '\n');
      await eventually('readiness sees Sentry accept the new token', async () => (await readyz(s)).body.checks['sentry']!.ok);
      assert.equal((await readyz(s)).body.status, 'ready');
    } finally {
      await fake.close();
    }
  });
});
