// Two replicas on one Redis (docs/design.md §11): a session made on one works on the other, sign-out on one
// ends it on both, failed sign-ins are counted together, and only one replica runs each periodic sync.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { assertNoViolations, startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { Client, sharedReplicaConfig, startTestGateway, type TestGateway } from '../support/gateway.js';

const TOKEN = 'sntryu_replica_test_token';

let fake: FakeSentry;
let a: TestGateway;
let b: TestGateway;

before(async () => {
  fake = await startFakeSentry({ organization: 'acme', token: TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com' });
  const dir = mkdtempSync(join(tmpdir(), 'sag-replicas-'));
  // Replicas share what a deployment shares: the Redis, the session secret and the signing keys.
  const shared = sharedReplicaConfig(dir, { url: fake.url, token: TOKEN }, '1s');
  a = await startTestGateway(shared);
  b = await startTestGateway(shared);
});
after(async () => {
  await a?.close();
  await b?.close();
  assertNoViolations(fake);
  await fake?.close();
});

async function echoed(res: Response): Promise<{ url: string; headers: Record<string, string> }> {
  assert.equal(res.status, 200, `expected the upstream's 200, got ${res.status}`);
  return (await res.json()) as { url: string; headers: Record<string, string> };
}

describe('sessions', () => {
  test('a session made on one replica works on the other, and signing out on either ends it on both', async () => {
    const onA = new Client(a.url);
    assert.equal((await onA.login('alice', DEMO_PASSWORD)).status, 303);
    const onB = new Client(b.url);
    for (const [k, v] of onA.cookies) onB.cookies.set(k, v);

    const viaA = await echoed(await onA.get('/organizations/acme/issues/', { accept: 'application/json' }));
    const viaB = await echoed(await onB.get('/organizations/acme/issues/', { accept: 'application/json' }));
    assert.ok(viaA.headers['x-sentry-gateway-assertion'] && viaB.headers['x-sentry-gateway-assertion'], 'both forward with an assertion');
    const me = (await (await onB.get('/_gateway/me', { accept: 'application/json' })).json()) as { username?: string };
    assert.equal(me.username, 'alice');

    // Sign out on B with B's own form (CSRF from B's page).
    const out = await onB.submitForm('/_gateway/logout', '/_gateway/logout', {});
    assert.ok(out.status < 400, `logout answered ${out.status}`);
    // The sign-out is announced to every replica, so A drops its cached copy at once, well inside the
    // 2 s it would otherwise trust that copy (docs/design.md §11).
    let after = 0;
    for (let i = 0; i < 20 && after !== 401; i++) {
      if (i > 0) await sleep(50);
      after = (await onA.get('/organizations/acme/issues/', { accept: 'application/json' })).status;
    }
    assert.equal(after, 401, 'the session signed out on B is gone on A within a second');
  });
});

describe('open WebSockets', () => {
  test('signing out on one replica closes the WebSocket the session holds through the other', async () => {
    const onA = new Client(a.url);
    assert.equal((await onA.login('alice', DEMO_PASSWORD)).status, 303);
    const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/api/0/live/`, { origin: new URL(b.config.server.publicUrl).origin, headers: { cookie: onA.cookieHeader() } });
    ws.on('error', () => {});
    const closed = new Promise<true>((resolve) => ws.once('close', () => resolve(true)));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_q, res) => reject(new Error(`handshake through B answered ${res.statusCode}`)));
    });
    const out = await onA.submitForm('/_gateway/logout', '/_gateway/logout', {});
    assert.ok(out.status < 400, `logout answered ${out.status}`);
    assert.ok(await Promise.race([closed, sleep(10_000).then(() => false)]), 'B closed the WebSocket of the session signed out on A');
  });
});

describe('throttling', () => {
  test('failed sign-ins on both replicas count against one limit, and the refusal shows on both', async () => {
    const name = `ghost-${randomBytes(4).toString('hex')}`;
    const statuses: [string, number][] = [];
    for (let i = 0; i < 8; i++) {
      const gw = i % 2 === 0 ? a : b;
      const res = await new Client(gw.url).login(name, 'wrong-password');
      statuses.push([gw === a ? 'A' : 'B', res.status]);
      if (res.status === 429) break;
    }
    const failures = statuses.filter(([, s]) => s === 401);
    const limit = failures.length;
    // min(5, lockoutThreshold − 2) with the fixture domain's threshold of 10.
    assert.equal(limit, 5, JSON.stringify(statuses));
    assert.ok(failures.some(([r]) => r === 'A') && failures.some(([r]) => r === 'B'), 'both replicas counted');
    assert.equal(statuses.at(-1)![1], 429);
    for (const gw of [a, b]) assert.equal((await new Client(gw.url).login(name, 'wrong-password')).status, 429);
  });
});

describe('periodic sync', () => {
  test('with a 1 s interval on both replicas, each round runs on one replica only', async () => {
    const syncRuns = () =>
      [a, b].flatMap((gw, i) =>
        gw.logs
          .map((l) => JSON.parse(l) as { audit?: { kind: string; at: string; actor?: string } })
          .filter((l) => l.audit?.kind === 'sync.run' && l.audit.actor === 'periodic sync')
          .map((l) => ({ replica: i === 0 ? 'A' : 'B', at: Date.parse(l.audit!.at) })),
      );
    const from = syncRuns().length;
    // Wait for several rounds; each replica ticks every second.
    for (let i = 0; i < 100 && syncRuns().length - from < 6; i++) await sleep(100);
    const runs = syncRuns()
      .slice(0)
      .sort((x, y) => x.at - y.at)
      .slice(-6);
    assert.equal(runs.length, 6, 'six rounds ran');
    // Two replicas both running would put two runs in one round: some gap would be half a round or less.
    const gaps = runs.slice(1).map((r, i) => r.at - runs[i]!.at);
    assert.ok(Math.min(...gaps) > 600, `runs ${JSON.stringify(runs)} gaps ${gaps.join(',')} ms`);
    assert.ok(fake.calls.length > 0, 'the sync talked to Sentry');
  });
});
