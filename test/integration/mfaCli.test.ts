// `mfa list|reset|enrol-link|export|import|reencrypt` as an operator runs them: a child process, the test DC and Redis.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { EnrolLinks } from '../../src/mfa/enrolLinks.js';
import { FactorStore } from '../../src/mfa/factorStore.js';
import { SecretBox } from '../../src/mfa/secretBox.js';
import { AuditLog, AUDIT_KEY } from '../../src/audit/auditLog.js';
import { silentLogger } from '../../src/shared/logger.js';
import { systemClock } from '../../src/shared/clock.js';
import { signedIn } from '../support/adminHelpers.js';
import { runCli, type CliRun } from '../support/cli.js';
import { testDc } from '../support/dc.js';
import { startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

const SEED = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const PASSPHRASE = 'correct horse battery staple';
let dir: string;
let keyFile: string;
let t: TestGateway;
let redis: Redis;
let store: FactorStore;
const outputs: CliRun[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sag-test-mfa-cli-'));
  keyFile = join(dir, 'mfa_key');
  writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  t = await startTestGateway({ mfa: { keyFile } });
  redis = new Redis(testRedisUrl());
  store = new FactorStore(redis, new SecretBox(() => readFileSync(keyFile, 'utf8').split('\n').filter(Boolean)), systemClock);
});
after(async () => {
  for (const u of ['alice', 'bob']) await cli(['mfa', 'reset', '--user', u]).catch(() => undefined);
  redis?.disconnect();
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], stdin?: string): Promise<CliRun> {
  const r = await runCli([...args, '--config', t.configFile], { timeoutMs: 60_000, ...(stdin !== undefined ? { stdin } : {}) });
  outputs.push(r);
  return r;
}

async function guidOf(user: string): Promise<string> {
  const r = await cli(['mfa', 'list', '--user', user, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { guid: string }).guid;
}

interface Listed {
  user: string;
  guid: string;
  factors: { kind: string; name: string; createdAt: string; lastUsedAt: string | null }[];
  recoveryCodesLeft: number;
}

describe('mfa list / reset', () => {
  test('every name form finds the same person by objectGUID; reset removes the factors and ends the sessions, audited', async () => {
    await cli(['mfa', 'reset', '--user', 'alice']);
    const guid = await guidOf('alice');
    assert.match(guid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // Signed in before the factor exists: with a factor, the password alone would open only the second-factor step.
    const session = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    assert.equal((await session.get('/organizations/acme/')).status, 200);
    await store.addTotp(guid, { name: 'Phone', secret: SEED });
    await store.regenerateRecoveryCodes(guid);

    for (const name of ['alice', `${testDc().netbios}\\alice`, 'ALICE@corp.example.com']) {
      const r = await cli(['mfa', 'list', '--user', name, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Listed;
      assert.equal(out.guid, guid, name);
      assert.deepEqual(
        out.factors.map((f) => [f.kind, f.name, f.lastUsedAt]),
        [['totp', 'Phone', null]],
        name,
      );
      assert.equal(out.recoveryCodesLeft, 10);
    }
    const human = await cli(['mfa', 'list', '--user', 'alice']);
    assert.match(human.stdout, /^kind\s+name\s+added\s+last used$/m);
    assert.match(human.stdout, /^totp\s+Phone\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+never$/m);
    assert.match((await cli(['mfa', 'list', '--json'])).stdout, new RegExp(guid));

    const reset = await cli(['mfa', 'reset', '--user', 'alice@corp.example.com', '--json']);
    assert.equal(reset.code, 0, reset.stderr);
    assert.deepEqual(JSON.parse(reset.stdout), { user: 'alice', guid, removed: 1, sessionsEnded: 1 });
    assert.deepEqual(await store.list(guid), []);
    assert.equal(await store.recoveryCodesLeft(guid), 0);
    let status = 0;
    for (let i = 0; i < 40 && status !== 302; i++) {
      status = (await session.get('/organizations/acme/')).status;
      if (status !== 302) await sleep(50);
    }
    assert.equal(status, 302, 'the person\'s session is over');
    const audit = (await redis.lrange(AUDIT_KEY, 0, 50)).map((l) => JSON.parse(l) as { kind: string; user?: string; actor?: string; detail?: { guid?: string } });
    assert.ok(audit.some((a) => a.kind === 'mfa.reset' && a.user === 'alice' && a.actor?.startsWith('cli:') && a.detail?.guid === guid));
  });

  test('an unknown person is exit 1; a missing --user or subcommand is exit 2', async () => {
    const r = await cli(['mfa', 'reset', '--user', 'nobody-here']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such user/);
    assert.equal((await cli(['mfa', 'reset'])).code, 2);
    assert.equal((await cli(['mfa', 'enrol-link'])).code, 2);
    assert.equal((await cli(['mfa'])).code, 2);
    assert.equal((await cli(['mfa', 'import'])).code, 2);
  });
});

describe('explain', () => {
  test('shows the second-factor decision with its reason code, judged from --from', async () => {
    const env = { SAG_MFA__REQUIRE: 'outside', SAG_MFA__TRUSTED_NETWORKS: '["10.0.0.0/8"]', SAG_MFA__METHODS: '["totp"]' };
    const run = async (from: string) => {
      const r = await runCli(['explain', 'alice', '--from', from, '--json', '--config', t.configFile], { env, timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { mfa: { required: boolean; reason: Record<string, unknown>; enrolment: Record<string, unknown> } }).mfa;
    };
    const outside = await run('203.0.113.9');
    assert.deepEqual([outside.required, outside.reason], [true, { code: 'outside', address: '203.0.113.9' }]);
    assert.deepEqual(outside.enrolment, { kind: 'first', withoutLink: false, address: '203.0.113.9' });
    const inside = await run('10.1.2.3');
    assert.deepEqual([inside.required, inside.reason], [false, { code: 'trusted_network', address: '10.1.2.3', network: '10.0.0.0/8' }]);
    const human = await runCli(['explain', 'alice', '--from', '203.0.113.9', '--config', t.configFile], { env, timeoutMs: 60_000 });
    assert.match(human.stdout, /^2nd factor: REQUIRED from 203\.0\.113\.9 \(203\.0\.113\.9 is in no mfa\.trustedNetworks network\)/m);
  });
});

describe('mfa enrol-link', () => {
  test('prints a one-time link for the person; it works once, for them', async () => {
    const r = await cli(['mfa', 'enrol-link', '--user', 'bob', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { user: string; guid: string; url: string; expiresAt: string };
    assert.equal(out.user, 'bob');
    assert.ok(out.url.startsWith(`${t.url}/_gateway/mfa/enrol?link=`), out.url);
    assert.ok(Date.parse(out.expiresAt) - Date.now() > 23 * 3600_000);
    const token = new URL(out.url).searchParams.get('link') as string;
    const links = new EnrolLinks(redis, new AuditLog(silentLogger(), redis), systemClock, t.url);
    await links.consume(token, out.guid);
    await assert.rejects(links.consume(token, out.guid), { code: 'GW_MFA_LINK_INVALID' });
    const audit = (await redis.lrange(AUDIT_KEY, 0, 50)).join('\n');
    assert.ok(!audit.includes(token), 'the token is not in the audit log');
    // The console's audit page offers the family and names each event, in both languages.
    const admin = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    const en = await (await admin.get('/_gateway/admin/audit?kind=mfa&user=bob')).text();
    assert.match(en, /Second factor \(all\)/);
    assert.match(en, /Enrolment link issued/);
    assert.match(en, /Enrolment link used/);
    assert.ok(!en.includes(token));
    const zh = await (await admin.get('/_gateway/admin/audit?kind=mfa&user=bob&lang=zh-CN')).text();
    assert.match(zh, /已签发注册链接/);
  });
});

describe('mfa export / import', () => {
  test('the export is encrypted and 0600; a wrong passphrase or a changed byte is refused; the right one restores every factor', async () => {
    await cli(['mfa', 'reset', '--user', 'bob']);
    const guid = await guidOf('bob');
    await store.addTotp(guid, { name: 'Phone', secret: SEED });
    const codes = await store.regenerateRecoveryCodes(guid);
    const file = join(dir, 'factors.json');
    assert.equal((await cli(['mfa', 'export', file], 'short\n')).code, 1, 'a short passphrase is refused');
    const exp = await cli(['mfa', 'export', file, '--json'], PASSPHRASE + '\n');
    assert.equal(exp.code, 0, exp.stderr);
    const text = readFileSync(file, 'utf8');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(!text.includes(SEED) && !text.includes(guid), 'neither seeds nor objectGUIDs in clear');

    await cli(['mfa', 'reset', '--user', 'bob']);
    const wrong = await cli(['mfa', 'import', file], 'not the passphrase\n');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /GW_MFA_EXPORT_INVALID/);
    const env = JSON.parse(text) as { ciphertext: string };
    const bytes = Buffer.from(env.ciphertext, 'base64');
    bytes.writeUInt8((bytes.readUInt8(bytes.length >> 1) ^ 1) & 0xff, bytes.length >> 1);
    const tampered = join(dir, 'tampered.json');
    writeFileSync(tampered, JSON.stringify({ ...env, ciphertext: bytes.toString('base64') }));
    const bad = await cli(['mfa', 'import', tampered], PASSPHRASE + '\n');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /altered/);
    assert.deepEqual(await store.list(guid), [], 'nothing imported from a refused file');

    const imp = await cli(['mfa', 'import', file], PASSPHRASE + '\n');
    assert.equal(imp.code, 0, imp.stderr);
    assert.deepEqual((await store.list(guid)).map((f) => f.name), ['Phone']);
    assert.equal((await store.totpSecrets(guid))[0]?.secret, SEED);
    assert.equal(await store.consumeRecoveryCode(guid, codes[0] as string), 9, 'recovery codes came along');
  });

  test('reencrypt moves seeds to a new first key, after which the old key can leave the file', async () => {
    const guid = await guidOf('bob');
    if ((await store.list(guid)).length === 0) await store.addTotp(guid, { name: 'Phone', secret: SEED });
    const old = readFileSync(keyFile, 'utf8').trim();
    writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n${old}\n`);
    const r = await cli(['mfa', 'reencrypt', '--json']);
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    assert.ok(!(JSON.parse(r.stdout) as { unreadable: string[] }).unreadable.includes(guid));
    writeFileSync(keyFile, readFileSync(keyFile, 'utf8').split('\n')[0] + '\n');
    assert.equal((await store.totpSecrets(guid))[0]?.secret, SEED);
  });

  test('no output carries a seed or the passphrase', () => {
    for (const o of outputs) {
      assert.ok(!o.stdout.includes(SEED) && !o.stderr.includes(SEED));
      assert.ok(!o.stdout.includes(PASSPHRASE) && !o.stderr.includes(PASSPHRASE));
    }
  });
});
