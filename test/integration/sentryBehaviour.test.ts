// Provisioning and offboarding against a fake Sentry that behaves as Sentry's source does: its daily invite
// limits, addresses resolved through every UserEmail, 400 duplicate invites, expiring invites, token
// authentication, and the Sentry-side module's offboard endpoint. Real Samba DC, real Redis, real HTTP.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Attribute, Change, Client as LdapClient } from 'ldapts';
import { ADMIN_PASSWORD, BASE_DN, DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { nextInviteWindow } from '../../src/provisioning/inviteLimit.js';
import { QUEUE_KEY } from '../../src/provisioning/retryQueue.js';
import { SessionIndex } from '../../src/session/sessionIndex.js';
import { runCli } from '../support/cli.js';
import { sambaTool, testDc } from '../support/dc.js';
import { assertNoViolations, startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { Client, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

const TOKEN = 'sntryu_provisioner_token_for_behaviour_tests';
let redis: Redis;
before(() => {
  redis = new Redis(testRedisUrl());
});
after(() => redis.disconnect());

function tokenFileFor(name: string): string {
  const file = join(tmpdir(), `sag-${name}-token-${process.pid}`);
  writeFileSync(file, TOKEN + '\n', { mode: 0o600 });
  return file;
}

/** The directory's Administrator over LDAPS: adds many accounts at once (samba-tool takes a second each). */
async function withDirectoryAdmin<T>(fn: (c: LdapClient) => Promise<T>): Promise<T> {
  const dc = testDc();
  const { readFileSync } = await import('node:fs');
  const c = new LdapClient({ url: dc.ldapsUrl, tlsOptions: { ca: [readFileSync(dc.caFile)], servername: dc.serverName } });
  try {
    await c.bind(dc.adminDn, ADMIN_PASSWORD);
    return await fn(c);
  } finally {
    await c.unbind();
  }
}

const unicodePwd = (pw: string) => Buffer.from(`"${pw}"`, 'utf16le');

async function queueScore(email: string): Promise<number | null> {
  const s = await redis.zscore(QUEUE_KEY, email);
  return s === null ? null : Number(s);
}

describe('a first sync under Sentry invite limits', () => {
  const N = 150;
  const emails = Array.from({ length: N }, (_, i) => `bulk${String(i).padStart(3, '0')}@corp.example.com`);
  let fake: FakeSentry;
  let t: TestGateway;
  // The fake's clock follows the gateway's test clock when the test moves it a day on.
  let shift = 0;
  before(async () => {
    fake = await startFakeSentry({ organization: 'bulk', token: TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com', now: () => Date.now() + shift });
    await sambaTool(['group', 'add', 'Bulk Rollout', '--groupou=OU=Groups']);
    await withDirectoryAdmin(async (c) => {
      const groupDn = `CN=Bulk Rollout,OU=Groups,${BASE_DN}`;
      for (let i = 0; i < N; i++) {
        const name = `bulk${String(i).padStart(3, '0')}`;
        const dn = `CN=${name},OU=People,${BASE_DN}`;
        await c.add(dn, [
          new Attribute({ type: 'objectClass', values: ['top', 'person', 'organizationalPerson', 'user'] }),
          new Attribute({ type: 'sAMAccountName', values: [name] }),
          new Attribute({ type: 'userPrincipalName', values: [`${name}@corp.example.com`] }),
          new Attribute({ type: 'mail', values: [`${name}@corp.example.com`] }),
          new Attribute({ type: 'unicodePwd', values: [unicodePwd(DEMO_PASSWORD)] }),
          new Attribute({ type: 'userAccountControl', values: ['512'] }),
        ]);
        await c.modify(groupDn, new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [dn] }) }));
      }
    });
    t = await startTestGateway({
      sentry: { url: fake.url, organization: 'bulk', tokenFile: tokenFileFor('bulk'), provisionOnLogin: false, sync: { interval: '0' } },
      access: { allowGroups: ['Bulk Rollout'] },
      mapping: { rules: [] },
    });
  });
  afterEach(() => assertNoViolations(fake));
  after(async () => {
    await t.close();
    await fake.close();
  });

  test('100 are provisioned, 50 wait and are reported; no retry storm; the next window provisions the rest; nothing is lost', async () => {
    const invitePosts = () => fake.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/members/')).length;
    const run = await runCli(['sync', '--config', t.configFile]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Applied 100 changes/);
    assert.match(run.stdout, /50 invites wait for Sentry's daily invite limit \(100 a day\): queued, sent automatically from \d{4}-\d\d-\d\dT/);
    const invited = () => emails.filter((e) => fake.member(e));
    assert.equal(invited().length, 100);
    // Sentry refused an invite, and the gateway stopped asking (at most the few already under way).
    assert.ok(fake.inviteRateLimitHits() >= 1 && fake.inviteRateLimitHits() <= 4, `429s: ${fake.inviteRateLimitHits()}`);
    assert.ok(invitePosts() <= 104, `invite POSTs: ${invitePosts()}`);

    // The 50 wait in the durable queue until Sentry's next daily window, not seconds from now.
    const waiting = emails.filter((e) => !fake.member(e));
    const window = nextInviteWindow(Date.now());
    for (const e of waiting) assert.ok(((await queueScore(e)) ?? 0) >= window - 60_000, `${e} queued for the next window`);

    // Syncing again before the window sends nothing to Sentry and says why.
    fake.reset();
    const again = await runCli(['sync', '--config', t.configFile]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /invites are queued, not sent, until/);
    assert.deepEqual(fake.writes(), [], 'no invite is retried before the window');
    // Nor does the retry queue, however often it runs.
    await t.gw.deps.provisioner!.drainOnce(200);
    assert.deepEqual(fake.writes(), []);

    // The next day: the queue provisions the rest.
    const ahead = window - Date.now() + 60_000;
    t.clock.advance(ahead);
    shift = ahead;
    for (let i = 0; i < 20 && invited().length < N; i++) await t.gw.deps.provisioner!.drainOnce(50);
    assert.equal(invited().length, N, 'all 150 provisioned, none lost');
    for (const e of emails) assert.equal(await queueScore(e), null, `${e} left the queue`);
    assert.equal(fake.members().filter((m) => m.email.startsWith('bulk')).length, N, 'and nobody twice');
  });
});

describe('sign-in provisioning as Sentry matches people', () => {
  let fake: FakeSentry;
  let t: TestGateway;
  before(async () => {
    fake = await startFakeSentry({ organization: 'match', token: TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com' });
    for (const n of ['mx-dana', 'mx-race', 'mx-exp']) {
      await sambaTool(['user', 'create', n, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${n}@corp.example.com`]);
      await sambaTool(['group', 'addmembers', 'Sentry Users', n]);
    }
    t = await startTestGateway({ sentry: { url: fake.url, organization: 'match', tokenFile: tokenFileFor('match'), loginTimeout: '5s', sync: { interval: '0' } } });
  });
  afterEach(() => assertNoViolations(fake));
  after(async () => {
    await t.close();
    await fake.close();
  });

  test('a member whose Sentry user has the AD address as a secondary one is found, not invited again', async () => {
    const uid = fake.addUser('dana.personal@example.org', 'Dana', { emails: [{ email: 'mx-dana@corp.example.com', verified: true }] });
    fake.addMember({ email: 'dana.personal@example.org', orgRole: 'member' });
    fake.reset();
    assert.equal((await new Client(t.url).login('mx-dana', DEMO_PASSWORD)).status, 303);
    assert.equal(fake.calls.filter((c) => c.method === 'POST').length, 0, 'no invite: she is a member already');
    assert.equal(await queueScore('mx-dana@corp.example.com'), null, 'nothing left failing in the retry queue');
    const members = fake.members().filter((m) => m.userId === uid);
    assert.equal(members.length, 1);
  });

  test('an invite made by someone else between the read and the write is reconciled, not queued', async () => {
    let armed = true;
    fake.setResponseTamper((call, reply) => {
      if (armed && call.method === 'GET' && call.path.endsWith('/members/')) {
        armed = false;
        // An admin invites her in Sentry's own UI just after the gateway looked.
        fake.addMember({ email: 'mx-race@corp.example.com', pending: true });
      }
      return reply;
    });
    try {
      assert.equal((await new Client(t.url).login('mx-race', DEMO_PASSWORD)).status, 303);
    } finally {
      fake.setResponseTamper(null);
    }
    const refused = fake.calls.find((c) => c.method === 'POST' && c.path.endsWith('/members/'));
    assert.equal(refused?.status, 400, 'Sentry refused the second invite');
    assert.equal(await queueScore('mx-race@corp.example.com'), null, 'reconciled at once, not left to the retry queue');
    assert.equal(fake.members().filter((m) => m.email === 'mx-race@corp.example.com').length, 1);
  });

  test('an invite past its expiry is renewed at sign-in, never left expired', async () => {
    fake.addMember({ email: 'mx-exp@corp.example.com', pending: true, expired: true });
    fake.reset();
    assert.equal((await new Client(t.url).login('mx-exp', DEMO_PASSWORD)).status, 303);
    const put = fake.calls.find((c) => c.method === 'PUT');
    assert.deepEqual(put?.body, { reinvite: true, regenerate: true });
    assert.equal(fake.member('mx-exp@corp.example.com')?.expired, false);
    fake.reset();
    assert.equal((await new Client(t.url).login('mx-exp', DEMO_PASSWORD)).status, 303);
    assert.deepEqual(fake.writes(), [], 'renewed once');
  });
});

describe('offboarding: AD says no, Sentry follows', () => {
  let fake: FakeSentry;
  let t: TestGateway;
  const people = { 'ofb-dis': 'disabled', 'ofb-exp': 'expired', 'ofb-del': 'deleted' } as const;
  const tokens = new Map<string, string>();
  /** Each person's objectGUID: their sessions are indexed under it. */
  const guids = new Map<string, string>();
  before(async () => {
    fake = await startFakeSentry({ organization: 'offb', token: TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com' });
    for (const n of [...Object.keys(people), 'ofb-stay']) {
      await sambaTool(['user', 'create', n, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${n}@corp.example.com`]);
      await sambaTool(['group', 'addmembers', 'Sentry Users', n]);
    }
    // Sentry is the gateway's upstream: a Bearer token goes through the gateway to it untouched.
    t = await startTestGateway({
      upstream: { url: fake.url },
      sentry: { url: fake.url, organization: 'offb', tokenFile: tokenFileFor('offb'), sync: { interval: '0', maxRemovalsPercent: 50 } },
    });
    fake.setGateway({ jwksUrl: `${t.url}/_gateway/jwks.json`, issuer: t.config.server.publicUrl, audience: t.config.assertion.audience });
  });
  afterEach(() => assertNoViolations(fake));
  after(async () => {
    await t.close();
    await fake.close();
  });

  const viaGateway = (token: string) => fetch(`${t.url}/api/0/organizations/offb/`, { headers: { Authorization: `Bearer ${token}` } });

  test('a disabled, an expired and a deleted account lose their API tokens at the next sync; the audit shows it', async () => {
    for (const n of [...Object.keys(people), 'ofb-stay']) {
      assert.equal((await new Client(t.url).login(n, DEMO_PASSWORD)).status, 303);
      guids.set(n, (await t.gw.deps.directory.lookup(n))!.guid);
      const email = `${n}@corp.example.com`;
      fake.acceptInvite(email);
      const token = fake.addApiToken(fake.member(email)!.userId!);
      tokens.set(n, token);
      assert.equal((await viaGateway(token)).status, 200, `${n}'s token works before`);
    }

    await sambaTool(['user', 'disable', 'ofb-dis']);
    await withDirectoryAdmin((c) =>
      c.modify(`CN=ofb-exp,OU=People,${BASE_DN}`, new Change({ operation: 'replace', modification: new Attribute({ type: 'accountExpires', values: ['132223104000000000'] }) })),
    );
    await sambaTool(['user', 'delete', 'ofb-del']);

    const dry = await runCli(['sync', '--dry-run', '--config', t.configFile]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /ofb-dis\s+ofb-dis@corp\.example\.com\s+deactivate the Sentry user and revoke its API tokens \(disabled in AD\)/);
    assert.match(dry.stdout, /ofb-exp\s+ofb-exp@corp\.example\.com\s+.*\(expired in AD\)/);
    assert.match(dry.stdout, /ofb-del\s+ofb-del@corp\.example\.com\s+.*\(deleted in AD\)/);
    assert.match(dry.stdout, /3 to offboard/);
    assert.equal((await viaGateway(tokens.get('ofb-dis')!)).status, 200, 'a dry run takes nothing away');

    // A Sentry account that never came through the gateway is never touched.
    const local = fake.addUser('local-admin@corp.example.com', 'Local admin');
    fake.addApiToken(local);

    const run = await runCli(['sync', '--config', t.configFile]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Offboarded 3/);
    assert.equal(fake.user(local)?.isActive, true);
    assert.equal(fake.user(local)?.tokens, 1);
    for (const [n, reason] of Object.entries(people)) {
      const res = await viaGateway(tokens.get(n)!);
      assert.equal(res.status, 401, `${n}'s token is refused after the sync`);
      assert.equal(fake.userByEmail(`${n}@corp.example.com`)?.isActive, false, `${n}'s Sentry user is deactivated`);
      const events = (await redis.lrange('sag:audit', 0, 200)).map((e) => JSON.parse(e) as { kind: string; user?: string; reason?: string; detail?: Record<string, unknown> });
      const ev = events.find((e) => e.kind === 'provision.offboard' && e.user === n);
      assert.ok(ev, `${n}: offboarding audited`);
      assert.equal(ev.reason, reason);
      assert.equal(ev.detail?.tokensRevoked, 1);
    }
    assert.equal((await viaGateway(tokens.get('ofb-stay')!)).status, 200, 'an account AD still lets in keeps its token');
    const sessions = new SessionIndex(redis);
    for (const n of Object.keys(people)) assert.deepEqual(await sessions.ids(guids.get(n)!), [], `${n}'s gateway sessions ended`);
    assert.notDeepEqual(await sessions.ids(guids.get('ofb-stay')!), [], 'the others keep theirs');

    // Once done, nothing more to do: the second sync writes nothing anywhere.
    fake.reset();
    const calls = fake.offboardCalls.length;
    const again = await runCli(['sync', '--json', '--config', t.configFile]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { counts: { offboard: number } }).counts.offboard, 0);
    assert.deepEqual(fake.writes(), []);
    assert.equal(fake.offboardCalls.length, calls);
  });
});
