// Sign-in and sync keep Sentry memberships in step with AD: real Samba DC, real Redis, a fake Sentry checked against its OpenAPI.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD, USERS } from '../../src/dev/fixtures.js';
import { JOBS_KEY, LEGACY_JOBS_KEY, LEGACY_QUEUE_KEY, QUEUE_KEY } from '../../src/provisioning/retryQueue.js';
import { SYNC_LOCK_KEY } from '../../src/provisioning/syncScheduler.js';
import { runCli, type CliRun } from '../support/cli.js';
import { sambaTool } from '../support/dc.js';
import { assertNoViolations, startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { Client, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

const TOKEN = 'sntryu_provisioner_token_for_tests';
let fake: FakeSentry;
let redis: Redis;
const tokenFile = join(tmpdir(), `sag-sentry-token-${process.pid}`);

function sentryConfig(extra: Record<string, unknown> = {}) {
  return { sentry: { url: fake.url, organization: 'acme', tokenFile, loginTimeout: '10s', sync: { interval: '0' }, ...extra } };
}

before(async () => {
  fake = await startFakeSentry({ organization: 'acme', token: TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com' });
  writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
  redis = new Redis(testRedisUrl());
  // The retry queue is shared through the run's one Redis: a job another suite left queued (its
  // Sentry down on purpose) would be drained into this suite's Sentry and read as a write of ours.
  await redis.del(QUEUE_KEY, JOBS_KEY, LEGACY_QUEUE_KEY, LEGACY_JOBS_KEY);
  fake.addTeam('backend');
});
afterEach(() => assertNoViolations(fake));
after(async () => {
  redis.disconnect();
  await fake.close();
});

describe('provisioning at sign-in', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway(sentryConfig());
  });
  after(() => t.close());

  test('the first sign-in invites the person with their role and teams, creating a missing team', async () => {
    assert.equal((await new Client(t.url).login('alice', DEMO_PASSWORD)).status, 303);
    const m = fake.member(USERS.alice.email);
    assert.ok(m, 'alice is a member');
    assert.equal(m.pending, true);
    assert.equal(m.sendInvite, false, 'no invitation email: the gateway signs her in');
    assert.equal(m.orgRole, 'manager');
    assert.deepEqual(m.effectiveTeamRoles, { backend: 'admin', sre: 'admin' });
    assert.ok(fake.teamSlugs().includes('sre'), 'the team a rule names was created');
    assert.equal(fake.member('svc-sentry@corp.example.com')?.teams.sre, undefined, 'the provisioner took itself off the new team');
  });

  test('signing in again with unchanged groups writes nothing to Sentry', async () => {
    fake.reset();
    assert.equal((await new Client(t.url).login('alice', DEMO_PASSWORD)).status, 303);
    assert.deepEqual(fake.writes(), []);
  });

  test('joining and leaving an AD group adds and removes the team; a team no rule names survives', async () => {
    await sambaTool(['user', 'create', 'gina', DEMO_PASSWORD, '--userou=OU=People', '--mail-address=gina@corp.example.com']);
    await sambaTool(['group', 'addmembers', 'Sentry Users', 'gina']);
    await sambaTool(['group', 'addmembers', 'Backend Devs', 'gina']);
    assert.equal((await new Client(t.url).login('gina', DEMO_PASSWORD)).status, 303);
    assert.deepEqual(fake.member('gina@corp.example.com')?.effectiveTeamRoles, { backend: 'contributor' });
    fake.acceptInvite('gina@corp.example.com');
    fake.addTeam('handmade');
    const id = fake.member('gina@corp.example.com')!.id;
    await fetch(`${fake.url}/api/0/organizations/acme/members/${id}/teams/handmade/`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });

    await sambaTool(['group', 'addmembers', 'SRE', 'gina']);
    await new Client(t.url).login('gina', DEMO_PASSWORD);
    let m = fake.member('gina@corp.example.com')!;
    assert.equal(m.orgRole, 'manager');
    assert.deepEqual(Object.keys(m.teams).sort(), ['backend', 'handmade', 'sre']);

    await sambaTool(['group', 'removemembers', 'SRE', 'gina']);
    await sambaTool(['group', 'removemembers', 'Backend Devs', 'gina']);
    await new Client(t.url).login('gina', DEMO_PASSWORD);
    m = fake.member('gina@corp.example.com')!;
    assert.equal(m.orgRole, 'member');
    assert.deepEqual(Object.keys(m.teams), ['handmade'], 'managed teams gone, the hand-made one kept');
  });
});

describe('when Sentry is down', () => {
  test('sign-in still succeeds, and the queued change is applied when Sentry returns, even after a restart', async () => {
    await sambaTool(['user', 'create', 'hank', DEMO_PASSWORD, '--userou=OU=People', '--mail-address=hank@corp.example.com']);
    await sambaTool(['group', 'addmembers', 'Sentry Users', 'hank']);
    await fake.setFault('refuse');
    let t = await startTestGateway(sentryConfig());
    try {
      const res = await new Client(t.url).login('hank', DEMO_PASSWORD);
      assert.equal(res.status, 303, 'signed in although Sentry is unreachable');
      assert.equal(await redis.zscore(QUEUE_KEY, 'hank@corp.example.com') !== null, true, 'the change waits in the queue');
    } finally {
      await t.close();
    }
    await fake.setFault(null);
    t = await startTestGateway(sentryConfig());
    try {
      t.clock.advance(30_000);
      await t.gw.deps.provisioner!.drainOnce();
      assert.ok(fake.member('hank@corp.example.com'), 'applied by a new gateway process');
      assert.equal(await redis.zscore(QUEUE_KEY, 'hank@corp.example.com'), null, 'and gone from the queue');
    } finally {
      await t.close();
    }
  });

  test('a hanging Sentry holds sign-in no longer than sentry.loginTimeout', async () => {
    await fake.setFault('hang');
    const t = await startTestGateway(sentryConfig({ loginTimeout: '1s' }));
    try {
      const started = Date.now();
      assert.equal((await new Client(t.url).login('carol', DEMO_PASSWORD)).status, 303);
      assert.ok(Date.now() - started < 5000);
      assert.notEqual(await redis.zscore(QUEUE_KEY, USERS.carol.email.toLowerCase()), null);
    } finally {
      await fake.setFault(null);
      await t.close();
    }
  });
});

const cli = (args: string[], configFile: string): Promise<CliRun> => runCli([...args, '--config', configFile]);

describe('sync', () => {
  let t: TestGateway;
  // Its own organization, so the members other suites provisioned are not this one's business.
  let pilot: FakeSentry;
  const pilotToken = join(tmpdir(), `sag-pilot-token-${process.pid}`);
  before(async () => {
    pilot = await startFakeSentry({ organization: 'pilot', token: TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com' });
    writeFileSync(pilotToken, TOKEN + '\n', { mode: 0o600 });
    pilot.addTeam('backend');
    await sambaTool(['group', 'add', 'Sync Pilot', '--groupou=OU=Groups']);
    for (const n of ['sp1', 'sp2', 'sp3']) {
      await sambaTool(['user', 'create', n, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${n}@corp.example.com`]);
    }
    await sambaTool(['group', 'addmembers', 'Sync Pilot', 'sp1,sp2,sp3']);
    await sambaTool(['group', 'addmembers', 'Backend Devs', 'sp2']);
    // A gateway whose allow group is the pilot group, so emptying it touches no other suite.
    t = await startTestGateway({
      sentry: { url: pilot.url, organization: 'pilot', tokenFile: pilotToken, sync: { interval: '0', removeMembers: true, maxRemovalsPercent: 10 } },
      access: { allowGroups: ['Sync Pilot'] },
    });
  });
  afterEach(() => assertNoViolations(pilot));
  after(async () => {
    await t.close();
    await pilot.close();
  });

  test('--dry-run prints the plan and changes nothing; the real run applies it; a second run writes nothing', async () => {
    pilot.reset();
    const dry = await cli(['sync', '--dry-run'], t.configFile);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /sp1\s+sp1@corp\.example\.com\s+invite as member/);
    assert.match(dry.stdout, /sp2\s+sp2@corp\.example\.com\s+invite as member; \+ team backend \(contributor\)/);
    assert.match(dry.stdout, /nothing was changed/);
    assert.deepEqual(pilot.writes(), []);
    assert.equal(pilot.member('sp1@corp.example.com'), undefined);

    const run = await cli(['sync'], t.configFile);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Applied \d+ changes/);
    assert.ok(pilot.member('sp1@corp.example.com') && pilot.member('sp3@corp.example.com'));
    assert.deepEqual(Object.keys(pilot.member('sp2@corp.example.com')!.teams), ['backend']);

    pilot.reset();
    const again = await cli(['sync', '--json'], t.configFile);
    assert.equal(again.code, 0, again.stderr);
    const out = JSON.parse(again.stdout) as { counts: { invite: number; update: number; remove: number } };
    assert.deepEqual([out.counts.invite, out.counts.update, out.counts.remove], [0, 0, 0]);
    assert.deepEqual(pilot.writes(), [], 'nothing written the second time');
  });

  test('a sync while another one runs is refused and changes nothing; a dry run still plans', async () => {
    const redis = new Redis(testRedisUrl());
    try {
      await redis.set(SYNC_LOCK_KEY, 'console-run-in-progress', 'PX', 60_000);
      pilot.reset();
      const busy = await cli(['sync'], t.configFile);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /REFUSED: another sync is running/);
      assert.deepEqual(pilot.writes(), []);
      assert.equal((await cli(['sync', '--dry-run'], t.configFile)).code, 0, 'a dry run writes nothing and needs no lock');
      assert.equal(await redis.get(SYNC_LOCK_KEY), 'console-run-in-progress', 'the other run keeps its lock');
      // A finished periodic round leaves its mark; that does not block a sync from the command line.
      await redis.set(SYNC_LOCK_KEY, 'done:periodic', 'PX', 60_000);
      const run = await cli(['sync'], t.configFile);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(await redis.get(SYNC_LOCK_KEY), null, 'the command line releases the lock it took');
    } finally {
      await redis.del(SYNC_LOCK_KEY);
      redis.disconnect();
    }
  });

  test('an emptied allow group is refused without --force, and --force removes them', async () => {
    await sambaTool(['group', 'removemembers', 'Sync Pilot', 'sp1,sp2,sp3']);
    pilot.reset();
    const refused = await cli(['sync'], t.configFile);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /REFUSED: would remove 3 of 3 managed members/);
    assert.deepEqual(pilot.writes(), []);
    assert.ok(pilot.member('sp1@corp.example.com'));
    const forced = await cli(['sync', '--force'], t.configFile);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(pilot.member('sp1@corp.example.com'), undefined);
    assert.ok(pilot.member('svc-sentry@corp.example.com'), 'the provisioner itself is never removed');
  });

  test('mappings export and import move the rules as YAML, versioned', async () => {
    const exported = await cli(['mappings', 'export'], t.configFile);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /group: SRE/);
    const file = join(tmpdir(), `sag-rules-${process.pid}.yaml`);
    writeFileSync(file, exported.stdout.replace('group: SRE', 'group: Platform Oncall'));
    const imported = await cli(['mappings', 'import', file], t.configFile);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /version \d+ → \d+/);
    assert.match((await cli(['mappings', 'export'], t.configFile)).stdout, /group: Platform Oncall/);
    writeFileSync(file, 'rules:\n  - group: ""\n    orgRole: king\n');
    const bad = await cli(['mappings', 'import', file], t.configFile);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /rules\.0\.group/);
    assert.match(bad.stderr, /rules\.0\.orgRole/);
    // Put the rules back for any later suite.
    writeFileSync(file, exported.stdout);
    assert.equal((await cli(['mappings', 'import', file], t.configFile)).code, 0);
  });
});
