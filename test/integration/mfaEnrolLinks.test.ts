// Enrolment links against the real redis-server: one use, only by the person named, expiring by the injected clock, audited without the token.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { EnrolLinks, ENROL_LINK_TTL_MS } from '../../src/mfa/enrolLinks.js';
import { AuditLog } from '../../src/audit/auditLog.js';
import { createLogger } from '../../src/shared/logger.js';
import { testRedisUrl } from '../support/gateway.js';

const clock = {
  t: Date.UTC(2027, 0, 4, 9, 0, 0),
  now() {
    return this.t;
  },
};
let redis: Redis;
let links: EnrolLinks;
let logged = '';
before(() => {
  redis = new Redis(testRedisUrl());
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => (logged += c.toString('utf8')));
  links = new EnrolLinks(redis, new AuditLog(createLogger('info', sink), redis), clock, 'https://sentry.example.com/');
});
after(() => redis?.disconnect());

const tokenOf = (url: string) => new URL(url).searchParams.get('link') as string;

test('a link works once, for its person, and is audited when issued and used, never with the token', async () => {
  const guid = randomUUID();
  const link = await links.issue(guid, { username: 'alice', actor: 'cli:root' });
  assert.match(link.url, /^https:\/\/sentry\.example\.com\/_gateway\/mfa\/enrol\?link=[A-Za-z0-9_-]{43}$/);
  assert.equal(link.expiresAt, clock.now() + ENROL_LINK_TTL_MS, '24 h by default');
  const token = tokenOf(link.url);

  await assert.rejects(links.consume(token, randomUUID()), { code: 'GW_MFA_LINK_INVALID' }, 'another person cannot use it');
  assert.deepEqual(await links.consume(token, guid, '203.0.113.9'), { issuedBy: 'cli:root' }, 'the wrong person did not spend it');
  await assert.rejects(links.consume(token, guid), { code: 'GW_MFA_LINK_INVALID' }, 'not twice');

  await new Promise((r) => setTimeout(r, 50));
  assert.match(logged, /"kind":"mfa.link_issued".*"user":"alice".*"actor":"cli:root"/);
  assert.match(logged, /"kind":"mfa.link_used".*"address":"203.0.113.9"/);
  assert.ok(!logged.includes(token), 'the token is never logged');
  assert.ok(!(await redis.keys('sag:mfa:*')).some((k) => k.includes(token)), 'stored only hashed');
});

test('used by two replicas at once: one gets it', async () => {
  const guid = randomUUID();
  const token = tokenOf((await links.issue(guid, { username: 'bob', actor: 'admin:carol' })).url);
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => links.consume(token, guid)));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
});

test('expired by the clock it is refused; a new link replaces the old one', async () => {
  const guid = randomUUID();
  const short = tokenOf((await links.issue(guid, { username: 'dave', actor: 'cli:root', ttlMs: 60_000 })).url);
  clock.t += 60_000;
  await assert.rejects(links.consume(short, guid), { code: 'GW_MFA_LINK_INVALID' });
  const first = tokenOf((await links.issue(guid, { username: 'dave', actor: 'cli:root' })).url);
  const second = tokenOf((await links.issue(guid, { username: 'dave', actor: 'cli:root' })).url);
  await assert.rejects(links.consume(first, guid), { code: 'GW_MFA_LINK_INVALID' });
  await links.consume(second, guid);
  const revoked = tokenOf((await links.issue(guid, { username: 'dave', actor: 'cli:root' })).url);
  await links.revoke(guid);
  await assert.rejects(links.consume(revoked, guid), { code: 'GW_MFA_LINK_INVALID' });
  await assert.rejects(links.consume('not-a-token', guid), { code: 'GW_MFA_LINK_INVALID' });
});

test('two links issued at once (a double click, two admins): one stays valid, and a reset revokes it', async () => {
  const guid = randomUUID();
  const tokens = (await Promise.all(Array.from({ length: 4 }, () => links.issue(guid, { username: 'fay', actor: 'admin:carol' })))).map((l) => tokenOf(l.url));
  const live = (await Promise.all(tokens.map((tk) => links.check(tk, guid)))).filter(Boolean).length;
  assert.equal(live, 1, 'only the last one written is a link');
  await links.revoke(guid);
  for (const tk of tokens) await assert.rejects(links.consume(tk, guid), { code: 'GW_MFA_LINK_INVALID' });
});

test('check: true only for a live link naming this person, and it spends nothing', async () => {
  const guid = randomUUID();
  const token = tokenOf((await links.issue(guid, { username: 'erin', actor: 'cli:root', ttlMs: 60_000 })).url);
  assert.equal(await links.check(token, guid), true);
  assert.equal(await links.check(token, guid), true, 'checking twice spends nothing');
  assert.equal(await links.check(token, randomUUID()), false, 'another person’s link');
  assert.equal(await links.check('A'.repeat(43), guid), false, 'a made-up token of the right shape');
  assert.equal(await links.check(undefined, guid), false);
  await links.consume(token, guid);
  assert.equal(await links.check(token, guid), false, 'a spent link');
  const late = tokenOf((await links.issue(guid, { username: 'erin', actor: 'cli:root', ttlMs: 60_000 })).url);
  clock.t += 60_000;
  assert.equal(await links.check(late, guid), false, 'expired by the clock');
});
