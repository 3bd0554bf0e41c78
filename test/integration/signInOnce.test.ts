// One sign-in walks one path: the rules are read once, what they resolved is what Sentry gets, the link is written once.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD, USERS } from '../../src/dev/fixtures.js';
import type { RuleSet, RuleStore } from '../../src/mapping/ruleStore.js';
import { linksKey } from '../../src/provisioning/links.js';
import { JOBS_KEY, QUEUE_KEY } from '../../src/provisioning/retryQueue.js';
import { assertNoViolations, startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { Client, decodeHtml, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

// An organization of its own: the run's one Redis holds other suites' links under theirs.
const ORG = 'one-path';
const TOKEN = 'sntryu_one_sign_in_path_token_for_tests';
const tokenFile = join(tmpdir(), `sag-one-path-token-${process.pid}`);
let fake: FakeSentry;
let redis: Redis;
let t: TestGateway;
let saved: RuleSet;

before(async () => {
  fake = await startFakeSentry({ organization: ORG, token: TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com' });
  writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
  redis = new Redis(testRedisUrl());
  await redis.del(QUEUE_KEY, JOBS_KEY, linksKey(ORG));
  fake.addTeam('backend');
  t = await startTestGateway({ sentry: { url: fake.url, organization: ORG, tokenFile, loginTimeout: '10s', sync: { interval: '0' } } });
  saved = await t.gw.deps.rules.current();
});
afterEach(async () => {
  assertNoViolations(fake);
  // Back to the store's own read and the rules as they were: later suites share this Redis.
  delete (t.gw.deps.rules as Partial<RuleStore>).current;
  const now = await t.gw.deps.rules.current();
  if (now.version !== saved.version) saved = await t.gw.deps.rules.save({ defaultOrgRole: saved.defaultOrgRole, rules: saved.rules }, 'test cleanup', now.version);
});
after(async () => {
  await redis.del(linksKey(ORG));
  redis.disconnect();
  await t?.close();
  await fake.close();
});

/** Loads the sign-in form, runs `beforePost` (the form's own reads are over by then), then posts the password. */
async function signIn(username: string, beforePost: () => void | Promise<void> = () => undefined): Promise<Client> {
  const c = new Client(t.url);
  const page = await (await c.get('/_gateway/login')).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(csrf, 'the sign-in form carries a CSRF token');
  await beforePost();
  const body = new URLSearchParams({ _csrf: decodeHtml(csrf), next: '/', username, password: DEMO_PASSWORD });
  const res = await c.request('/_gateway/login', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(res.status, 303, 'signed in');
  return c;
}

/** Counts the store's reads from now on; the store itself answers them. */
function countReads(store: RuleStore): { reads: number } {
  const counter = { reads: 0 };
  const read = Object.getPrototypeOf(store).current as RuleStore['current'];
  store.current = () => {
    counter.reads++;
    return read.call(store);
  };
  return counter;
}

describe('one sign-in path', () => {
  test('a sign-in that provisions reads the mapping rules once', async () => {
    let counter = { reads: 0 };
    await signIn('bob', () => {
      counter = countReads(t.gw.deps.rules);
    });
    assert.ok(fake.member(USERS.bob.email), 'bob was provisioned at sign-in');
    assert.equal(counter.reads, 1);
  });

  test("an admin's rule change between resolution and provisioning cannot split the session from Sentry's membership", async () => {
    const store = t.gw.deps.rules;
    const read = Object.getPrototypeOf(store).current as RuleStore['current'];
    let changed = false;
    const c = await signIn('carol', () => {
      // Right after the sign-in's first read of the rules, another admin makes 研发部 managers and rnd admins.
      store.current = async () => {
        const set = await read.call(store);
        if (!changed) {
          changed = true;
          const promoted = set.rules.map((r) => (r.group === '研发部' ? { ...r, orgRole: 'manager' as const, teams: r.teams.map((tm) => ({ ...tm, role: 'admin' as const })) } : r));
          await store.save({ defaultOrgRole: set.defaultOrgRole, rules: promoted }, 'another admin', set.version);
        }
        return set;
      };
    });
    assert.equal(changed, true, 'the rules changed during the sign-in');
    const me = (await (await c.get('/_gateway/me', { accept: 'application/json' })).json()) as { orgRole: string; teams: { slug: string; role: string }[] };
    assert.deepEqual([me.orgRole, me.teams], ['member', [{ slug: 'rnd', role: 'contributor' }]], 'the session holds what the sign-in resolved');
    const m = fake.member(USERS.carol.email);
    assert.ok(m, 'carol was provisioned at sign-in');
    assert.deepEqual(
      [m.orgRole, m.effectiveTeamRoles],
      [me.orgRole, Object.fromEntries(me.teams.map((tm) => [tm.slug, tm.role]))],
      "Sentry's membership is the one the session was signed in with",
    );
  });

  test('a sign-in records the person’s link once', async () => {
    const monitor = await redis.monitor();
    const writes: string[][] = [];
    let marked: () => void = () => undefined;
    const seenMarker = new Promise<void>((resolve) => (marked = resolve));
    const marker = `one-path-marker-${process.pid}`;
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'hset' && args[1] === linksKey(ORG)) writes.push(args);
      if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) marked();
    });
    try {
      await signIn('dave');
      // Everything the sign-in wrote was sent before its answer; the marker shows MONITOR has passed it all on.
      await redis.echo(marker);
      await seenMarker;
    } finally {
      monitor.disconnect();
    }
    assert.ok(fake.member(USERS.dave.email), 'dave was provisioned at sign-in');
    assert.equal(writes.length, 1, `link writes: ${writes.map((w) => w.slice(0, 3).join(' ')).join('; ')}`);
    const link = JSON.parse((await redis.hget(linksKey(ORG), writes[0]![2]!))!) as { email: string; username: string };
    assert.deepEqual([link.email, link.username], [USERS.dave.email, 'dave']);
  });
});
