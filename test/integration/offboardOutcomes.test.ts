// What an admin sees when offboarding cannot simply be done: a refusal by the Sentry-side module (two accounts
// or a privileged one hold the address), Sentry's cache down, org auth tokens that stay valid, and a person AD
// lets in again after the gateway offboarded them (Sentry hides an inactive user's membership). Against the
// fake Sentry over HTTP (which answers as the module does), a real Samba DC and Redis.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { parse, stringify } from 'yaml';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { linksKey } from '../../src/provisioning/links.js';
import { runCli } from '../support/cli.js';
import { sambaTool } from '../support/dc.js';
import { assertNoViolations, startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { csrfOf, post, signedIn, textOf } from '../support/adminHelpers.js';
import { Client, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

const TOKEN = 'sntryu_provisioner_token_for_offboarding_outcomes';
const mail = (n: string) => `${n}@corp.example.com`;

let redis: Redis;
// One Sentry and one gateway per describe: with sentry.sync.removeMembers on, then off.
let ORG = '';
let fake: FakeSentry;
let t: TestGateway;

async function setup(org: string, removeMembers: boolean, people: string[]): Promise<void> {
  ORG = org;
  fake = await startFakeSentry({ organization: org, token: TOKEN, tokenUserEmail: `svc-${org}@corp.example.com` });
  const tokenFile = join(tmpdir(), `sag-${org}-token-${process.pid}`);
  writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
  for (const n of people) await person(n);
  t = await startTestGateway({
    upstream: { url: fake.url },
    sentry: { url: fake.url, organization: org, tokenFile, sync: { interval: '0', maxRemovalsPercent: 100, removeMembers } },
  });
  fake.setGateway({ jwksUrl: `${t.url}/_gateway/jwks.json`, issuer: t.config.server.publicUrl, audience: t.config.assertion.audience });
}

async function teardown(): Promise<void> {
  await t.close();
  await fake.close();
}

type AuditEntry = { kind: string; user?: string; reason?: string; detail?: Record<string, unknown> };
async function audit(kind: string, user: string): Promise<AuditEntry[]> {
  return (await redis.lrange('sag:audit', 0, 500)).map((e) => JSON.parse(e) as AuditEntry).filter((e) => e.kind === kind && e.user === user);
}

async function link(username: string): Promise<{ offboarded?: unknown } | undefined> {
  const all = Object.values(await redis.hgetall(linksKey(ORG))).map((v) => JSON.parse(v) as { username: string; offboarded?: unknown });
  return all.find((l) => l.username === username);
}

async function person(n: string): Promise<void> {
  await sambaTool(['user', 'create', n, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${mail(n)}`]);
  await sambaTool(['group', 'addmembers', 'Sentry Users', n]);
}

/** Signs in through the gateway (which links the person and provisions an invite), then accepts the invite in Sentry. */
async function member(n: string): Promise<string> {
  assert.equal((await new Client(t.url).login(n, DEMO_PASSWORD)).status, 303);
  return fake.acceptInvite(mail(n)).userId!;
}

const sync = (...args: string[]) => runCli(['sync', ...args, '--config', t.configFile]);

before(() => {
  redis = new Redis(testRedisUrl());
});
afterEach(() => assertNoViolations(fake));
after(() => redis.disconnect());

describe('offboarding outcomes an admin can see (sentry.sync.removeMembers on)', () => {
  before(() => setup('offq', true, ['oq-amb', 'oq-root', 'oq-tok', 'oq-cache', 'oq-con']));
  after(() => teardown());

  test('a refused offboarding is reported, kept open and retried; it never counts as done', async () => {
    // Two Sentry accounts hold oq-amb's address, neither a member, neither primary; oq-root's is a superuser
    // made by `sentry createuser` (src/sentry/runner/commands/createuser.py leaves the address unverified).
    assert.equal((await new Client(t.url).login('oq-amb', DEMO_PASSWORD)).status, 303);
    for (const other of ['oq-amb.old', 'oq-amb.older']) fake.addUser(mail(other), other, { emails: [{ email: mail('oq-amb'), verified: true }] });
    const root = fake.addUser('oq-root.local@corp.example.com', 'root', { emails: [{ email: mail('oq-root'), verified: false }] });
    fake.setSuperuser(root, true);
    assert.equal((await new Client(t.url).login('oq-root', DEMO_PASSWORD)).status, 303);

    await sambaTool(['user', 'disable', 'oq-amb']);
    await sambaTool(['user', 'disable', 'oq-root']);
    const run = await sync();
    assert.equal(run.code, 1, 'a refused offboarding fails the sync command');
    assert.match(run.stderr, /OFFBOARDING REFUSED oq-amb oq-amb@corp\.example\.com: GW_ACCOUNT_AMBIGUOUS/);
    assert.match(run.stderr, /OFFBOARDING REFUSED oq-root oq-root@corp\.example\.com: GW_ACCOUNT_PRIVILEGED/);
    assert.doesNotMatch(run.stdout, /Offboarded/);
    assert.equal(fake.user(root)?.isActive, true, 'the superuser is left alone');
    for (const [n, code] of [['oq-amb', 'GW_ACCOUNT_AMBIGUOUS'], ['oq-root', 'GW_ACCOUNT_PRIVILEGED']] as const) {
      assert.equal((await link(n))?.offboarded, undefined, `${n}: not marked done`);
      const ev = (await audit('provision.offboard', n)).at(0);
      assert.equal(ev?.detail?.refused, code, `${n}: the audit names the refusal`);
    }

    // The next sync asks again (and is refused again) until an admin resolves it in Sentry.
    const before = fake.offboardCalls.length;
    const again = await sync('--json');
    assert.equal(again.code, 1);
    const out = JSON.parse(again.stdout) as { counts: { offboard: number }; result: { offboardRefused: { user: string }[] } };
    assert.equal(out.counts.offboard, 2);
    assert.deepEqual(out.result.offboardRefused.map((r) => r.user).sort(), ['oq-amb', 'oq-root']);
    assert.equal(fake.offboardCalls.length, before + 2);
    assert.ok(fake.offboardCalls.slice(before).every((c) => c.status === 409));
  });

  test("Sentry's cache down is a retry, not an assertion problem", async () => {
    await member('oq-cache');
    await sambaTool(['user', 'disable', 'oq-cache']);
    fake.setReplayCacheDown(true);
    try {
      const run = await sync('--user', 'oq-cache');
      assert.equal(run.code, 1);
      assert.match(run.stderr, /FAILED oq-cache@corp\.example\.com: .*cache .*down.*retried at the next sync/);
      assert.doesNotMatch(run.stderr, /JWKS_URL/);
      assert.equal((await link('oq-cache'))?.offboarded, undefined, 'not marked done: retried');
    } finally {
      fake.setReplayCacheDown(false);
    }
    const run = await sync('--user', 'oq-cache');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Offboarded 1/);
    assert.equal(fake.userByEmail(mail('oq-cache'))?.isActive, false);
  });

  test('org auth tokens the person created are named in the output and the audit, and kept', async () => {
    const id = await member('oq-tok');
    fake.addOrgAuthToken(id, 'ci deploys');
    await sambaTool(['user', 'disable', 'oq-tok']);
    const run = await sync('--user', 'oq-tok');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /oq-tok created these org auth tokens, which stay valid: "ci deploys" \(…[0-9a-f]{4}, org 1\)\. Rotate them\./);
    const ev = (await audit('provision.offboard', 'oq-tok')).at(0);
    assert.deepEqual((ev?.detail?.orgTokensKept as { name: string }[]).map((x) => x.name), ['ci deploys']);
  });

  test("the console's run page lists the refused offboardings and the org tokens to rotate", async () => {
    const id = await member('oq-con');
    fake.addOrgAuthToken(id, 'release <script>');
    await sambaTool(['user', 'disable', 'oq-con']);
    const alice = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    const token = csrfOf(await (await alice.get('/_gateway/admin/sync')).text());
    const plan = await (await post(alice, '/_gateway/admin/sync/plan', { _csrf: token })).text();
    const fingerprint = /name="fingerprint" value="([^"]+)"/.exec(plan)![1]!;
    const apply = await post(alice, '/_gateway/admin/sync/apply', { _csrf: token, fingerprint });
    assert.equal(apply.status, 303);
    let html = '';
    for (let i = 0; i < 300; i++) {
      html = await (await alice.get(apply.headers.get('location')!)).text();
      if (!html.includes('http-equiv="refresh"')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const text = textOf(html);
    assert.match(text, /failed/);
    assert.match(text, /oq-amb \(oq-amb@corp\.example\.com\): Sentry refused the offboarding \(GW_ACCOUNT_AMBIGUOUS\)/);
    assert.match(text, /oq-root \(oq-root@corp\.example\.com\): Sentry refused the offboarding \(GW_ACCOUNT_PRIVILEGED\)/);
    assert.match(text, /oq-con created these org auth tokens, which stay valid after offboarding: "release <script>" \(…[0-9a-f]{4}\)\. Rotate them\./);
    assert.ok(html.includes('&quot;release &lt;script&gt;&quot;') || html.includes('"release &lt;script&gt;"'), 'escaped in the page');
    const metrics = (await t.gw.deps.metrics.text()).body;
    assert.match(metrics, /sag_sync_changes_total\{outcome="offboard_refused"\} 2\b/, 'the metric counts the refusals');
  });
});

describe('enabled in AD again after offboarding (sentry.sync.removeMembers off)', () => {
  before(() => setup('offr', false, ['oq-back', 'oq-sync', 'oq-admin', 'oq-gone']));
  after(() => teardown());

  test('signing in reactivates the Sentry user: no new invite, the membership is the old one', async () => {
    await member('oq-back');
    await sambaTool(['user', 'disable', 'oq-back']);
    const memberBefore = fake.member(mail('oq-back'))!;
    assert.equal((await sync('--user', 'oq-back')).code, 0);
    assert.equal(fake.userByEmail(mail('oq-back'))?.isActive, false);
    assert.equal(fake.member(mail('oq-back'))?.id, memberBefore.id, 'the membership stays (hidden from the API while inactive)');

    await sambaTool(['user', 'enable', 'oq-back']);
    fake.reset();
    assert.equal((await new Client(t.url).login('oq-back', DEMO_PASSWORD)).status, 303);
    assert.equal(fake.userByEmail(mail('oq-back'))?.isActive, true, 'reactivated');
    assert.deepEqual(fake.writes().filter((c) => c.method === 'POST' && c.path.endsWith('/members/')), [], 'no new invite');
    assert.equal(fake.members().filter((m) => m.email === mail('oq-back') || m.userId === memberBefore.userId).length, 1, 'one membership');
    assert.equal((await link('oq-back'))?.offboarded, undefined);
  });

  test('a sync reactivates them instead of inviting them', async () => {
    await member('oq-sync');
    await sambaTool(['user', 'disable', 'oq-sync']);
    assert.equal((await sync('--user', 'oq-sync')).code, 0);
    await sambaTool(['user', 'enable', 'oq-sync']);
    fake.reset();
    const run = await sync('--user', 'oq-sync');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Reactivated 1/);
    assert.deepEqual(fake.writes().filter((c) => c.method === 'POST' && c.path.endsWith('/members/')), [], 'no new invite');
    assert.equal(fake.userByEmail(mail('oq-sync'))?.isActive, true);
  });

  test("an admin's deactivation after the gateway's stands: no reactivation, no invite", async () => {
    const id = await member('oq-admin');
    await sambaTool(['user', 'disable', 'oq-admin']);
    assert.equal((await sync('--user', 'oq-admin')).code, 0);
    fake.setUserActive(id, true);
    fake.setUserActive(id, false);
    await sambaTool(['user', 'enable', 'oq-admin']);
    fake.reset();
    await new Client(t.url).login('oq-admin', DEMO_PASSWORD);
    assert.equal(fake.user(id)?.isActive, false, "the admin's decision stands");
    assert.deepEqual(fake.writes().filter((c) => c.method === 'POST' && c.path.endsWith('/members/')), [], 'no new invite');
    assert.equal(fake.reactivateCalls.at(-1)?.status, 409);
  });

  test('removeMembers turned on later: the module removes the membership Sentry hides for an offboarded user', async () => {
    const id = await member('oq-gone');
    await sambaTool(['user', 'disable', 'oq-gone']);
    assert.equal((await sync('--user', 'oq-gone')).code, 0);
    const kept = fake.member(mail('oq-gone'))!;
    assert.equal(kept.userId, id, 'kept while sentry.sync.removeMembers is off');
    // The operator turns sentry.sync.removeMembers on.
    const doc = parse(readFileSync(t.configFile, 'utf8')) as { sentry: { sync: Record<string, unknown> } };
    doc.sentry.sync.removeMembers = true;
    const onFile = join(dirname(t.configFile), 'gateway-remove-members.yaml');
    writeFileSync(onFile, stringify(doc));
    fake.reset();
    const dry = await runCli(['sync', '--dry-run', '--user', 'oq-gone', '--config', onFile]);
    assert.match(dry.stdout, /oq-gone\s+oq-gone@corp\.example\.com\s+remove from the organization/);
    const run = await runCli(['sync', '--user', 'oq-gone', '--config', onFile]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(fake.member(mail('oq-gone')), undefined, 'membership removed');
    const ev = (await audit('provision.offboard', 'oq-gone')).at(0);
    assert.equal(ev?.detail?.memberRemoved, kept.id);
    const again = await runCli(['sync', '--json', '--user', 'oq-gone', '--config', onFile]);
    assert.equal((JSON.parse(again.stdout) as { counts: { remove: number } }).counts.remove, 0, 'done once');
  });
});
