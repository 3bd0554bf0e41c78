// Failing closed and failing over: Redis going away and coming back, dead and hanging DCs, a locked
// account, and the in-memory development mode. Real Samba DC, real redis-server, real HTTP.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Client as LdapClient, InvalidCredentialsError } from 'ldapts';
import { DEMO_PASSWORD, USERS } from '../../src/dev/fixtures.js';
import { startRedisServer, type RedisServer } from '../../src/dev/redisServer.js';
import { sambaTool, testDc } from '../support/dc.js';
import { alertOf, Client, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';
import { USER_TOKEN } from '../support/sentryTokens.js';

const DIRECTORY_DOWN = 'The directory is unavailable. Try again shortly.';
const LOCKED = 'Your account is locked: try later or ask IT.';

/** Runs `fn` and returns its result with how long it took. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** Polls `probe` until it returns true, or fails after `ms`. */
async function eventually(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > until) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(200);
  }
}

async function upstreamReached(res: Response): Promise<{ url: string; headers: Record<string, string> }> {
  assert.equal(res.status, 200, `expected the echo upstream's 200, got ${res.status}`);
  const body = (await res.json()) as { url: string; headers: Record<string, string> };
  assert.ok(typeof body.url === 'string', 'the answer came from the echo upstream');
  return body;
}

/** Forwards TCP to 127.0.0.1:`target` until closed; closing also cuts every open connection. */
async function startRelay(target: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed: Promise<void> | undefined;
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closed;
    },
  };
}

/**
 * A relay that can hold new connections: while `holding`, a new connection is accepted but not
 * passed on until `release()`, so a bind can be kept in flight for as long as a test needs.
 */
async function startHoldingRelay(target: number) {
  const sockets = new Set<net.Socket>();
  const held: (() => void)[] = [];
  let onHeld: (() => void) | undefined;
  const state = { holding: false };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    const pass = () => {
      const upstream = net.connect(target, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('error', () => undefined);
      client.pipe(upstream).pipe(client);
    };
    if (!state.holding) return pass();
    client.pause();
    held.push(pass);
    onHeld?.();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    state,
    /** Resolves once a connection is being held. */
    held: () => (held.length ? Promise.resolve() : new Promise<void>((resolve) => (onHeld = resolve))),
    release() {
      state.holding = false;
      for (const pass of held.splice(0)) pass();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('Redis goes away during traffic, then comes back', () => {
  let redis: RedisServer;
  let t: TestGateway;
  let alice: Client;

  before(async () => {
    redis = await startRedisServer();
    t = await startTestGateway({}, { redisUrl: redis.url });
    alice = new Client(t.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
    await upstreamReached(await alice.get('/organizations/acme/issues/', { accept: 'application/json' }));
    await redis.stop();
    // Past the few seconds a replica may trust its in-memory copy of a session (docs/design.md §11).
    t.clock.advance(5_000);
  });
  after(async () => {
    await t?.close();
    await redis?.stop();
  });

  test('a page with a session cookie gets a 503 error page, not the login page, within 5 s', async () => {
    const { value: res, ms } = await timed(() => alice.get('/organizations/acme/issues/'));
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('location'), null);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(await res.text(), /Sign-in is temporarily unavailable/);
    assert.ok(ms < 5_000, `answered in ${Math.round(ms)} ms`);
  });

  test('an API call with a session cookie gets 503 JSON within 5 s', async () => {
    const { value: res, ms } = await timed(() => alice.get('/api/0/organizations/acme/issues/', { accept: 'application/json' }));
    assert.equal(res.status, 503);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as { error: string };
    assert.equal(body.error, 'session_store_unavailable');
    assert.ok(ms < 5_000, `answered in ${Math.round(ms)} ms`);
  });

  test('a POST from a signed-in page also gets 503, never a redirect', async () => {
    const res = await alice.request('/api/0/organizations/acme/issues/', { method: 'PUT', body: '{}', headers: { accept: 'application/json', 'content-type': 'application/json' } });
    assert.equal(res.status, 503);
  });

  test('/_gateway/me says 503 rather than "not signed in"', async () => {
    const res = await alice.get('/_gateway/me', { accept: 'application/json' });
    assert.equal(res.status, 503);
  });

  test('readyz says 503 with redis not ok', async () => {
    const { value: res, ms } = await timed(() => new Client(t.url).get('/_gateway/readyz', { accept: 'application/json' }));
    assert.equal(res.status, 503);
    const body = (await res.json()) as { status: string; checks: { redis: { ok: boolean }; directory: { ok: boolean } } };
    assert.equal(body.status, 'unavailable');
    assert.equal(body.checks.redis.ok, false);
    assert.equal(body.checks.directory.ok, true, 'the directory is still fine');
    assert.ok(ms < 5_000, `answered in ${Math.round(ms)} ms`);
  });

  test('ingestion still reaches Sentry', async () => {
    const res = await fetch(`${t.url}/api/1/envelope/?sentry_key=abc`, { method: 'POST', body: '{"event_id":"0"}\n', headers: { 'content-type': 'application/x-sentry-envelope' } });
    const seen = await upstreamReached(res);
    assert.equal(seen.url, '/api/1/envelope/?sentry_key=abc');
  });

  test('token API calls still reach Sentry, even from a browser holding a dead session cookie', async () => {
    await upstreamReached(await fetch(`${t.url}/api/0/projects/`, { headers: { authorization: `Bearer ${USER_TOKEN}`, accept: 'application/json' } }));
    await upstreamReached(await alice.get('/api/0/projects/', { authorization: `Bearer ${USER_TOKEN}`, accept: 'application/json' }));
  });

  test('signing in answers 503 (not 401) with a plain message', async () => {
    const { value: res, ms } = await timed(() => new Client(t.url).login('bob', DEMO_PASSWORD));
    assert.equal(res.status, 503);
    assert.equal(alertOf(await res.text()), 'Sign-in is temporarily unavailable. Try again shortly.');
    assert.ok(ms < 5_000, `answered in ${Math.round(ms)} ms`);
  });

  test('the login page itself still loads for someone holding a session cookie', async () => {
    const res = await alice.get('/_gateway/login');
    assert.ok(res.status === 200 || res.status === 503, `got ${res.status}`);
    assert.notEqual(res.status, 500, 'an outage is not an internal error');
  });

  test('after Redis is back: readyz is 200 again and a fresh sign-in works, no restart', async () => {
    await redis.start();
    await eventually('readyz is 200 again', 10_000, async () => (await new Client(t.url).get('/_gateway/readyz', { accept: 'application/json' })).status === 200);
    const bob = new Client(t.url);
    assert.equal((await bob.login('bob', DEMO_PASSWORD)).status, 303);
    const seen = await upstreamReached(await bob.get('/organizations/acme/issues/', { accept: 'application/json' }));
    assert.ok(seen.headers['x-sentry-gateway-assertion'], 'the upstream gets an assertion again');
    const me = (await (await bob.get('/_gateway/me', { accept: 'application/json' })).json()) as { username: string };
    assert.equal(me.username, 'bob');
  });
});

describe('domain controllers that are down', () => {
  let healthy: TestGateway;
  let redis: Redis;

  before(async () => {
    healthy = await startTestGateway();
    redis = new Redis(testRedisUrl());
  });
  after(async () => {
    redis.disconnect();
    await healthy.close();
  });

  test('every DC unreachable: 503 "directory unavailable", and it does not count as a failed attempt', async () => {
    // Other suites may have counted failures for dave on this Redis: what matters is that none are added here.
    const daveKey = `sag:throttle:user:dn:${USERS.dave.dn.toLowerCase()}`;
    const before = await redis.hget(daveKey, 'n');
    const dead = await startTestGateway({ ldap: { urls: ['ldaps://127.0.0.1:1', 'ldaps://127.0.0.1:2'] } });
    try {
      for (let i = 0; i < 6; i++) {
        const { value: res, ms } = await timed(() => new Client(dead.url).login('dave', DEMO_PASSWORD));
        assert.equal(res.status, 503, `try ${i + 1}`);
        assert.equal(alertOf(await res.text()), DIRECTORY_DOWN);
        assert.ok(ms < 10_000, `answered in ${Math.round(ms)} ms`);
      }
      const ready = await new Client(dead.url).get('/_gateway/readyz', { accept: 'application/json' });
      assert.equal(ready.status, 503);
    } finally {
      await dead.close();
    }
    assert.equal(Number((await redis.hget(daveKey, 'n')) ?? 0), Number(before ?? 0), 'no failure counted for dave');
    const c = new Client(healthy.url);
    assert.equal((await c.login('dave', DEMO_PASSWORD)).status, 303, 'dave is not throttled on a working gateway');
  });

  test('the only DC goes away after start-up: 503, and six tries are not six failures', async () => {
    // A TCP relay in front of the real DC, so the gateway first works (throttle ready, service
    // connection open) and then loses the directory mid-flight.
    const relay = await startRelay(Number(new URL(testDc().ldapsUrl).port || 636));
    const t = await startTestGateway({ ldap: { urls: [`ldaps://127.0.0.1:${relay.port}`] } });
    try {
      assert.equal((await new Client(t.url).login('carol', DEMO_PASSWORD)).status, 303, 'works while the DC is there');
      await relay.close();
      for (let i = 0; i < 6; i++) {
        const res = await new Client(t.url).login('carol', DEMO_PASSWORD);
        assert.equal(res.status, 503, `try ${i + 1} (a 429 would mean outages are counted)`);
        assert.equal(alertOf(await res.text()), DIRECTORY_DOWN);
      }
      assert.equal(Number((await redis.hget(`sag:throttle:user:dn:${USERS.carol.dn.toLowerCase()}`, 'n')) ?? 0), 0, 'no failure counted for carol');
      assert.equal((await new Client(healthy.url).login('carol', DEMO_PASSWORD)).status, 303);
    } finally {
      await t.close();
      await relay.close();
    }
  });

  test('the directory gone at revalidation: sessions carry on for one interval, then 503 naming the directory', async () => {
    const relay = await startRelay(Number(new URL(testDc().ldapsUrl).port || 636));
    const t = await startTestGateway({ ldap: { urls: [`ldaps://127.0.0.1:${relay.port}`] } });
    try {
      const c = new Client(t.url);
      assert.equal((await c.login('carol', DEMO_PASSWORD)).status, 303);
      assert.equal((await c.get('/api/0/organizations/acme/', { accept: 'application/json' })).status, 200);
      await relay.close();
      t.clock.advance(6 * 60_000);
      assert.equal((await c.get('/api/0/organizations/acme/', { accept: 'application/json' })).status, 200, 'a directory blip does not cut anyone off');
      t.clock.advance(5 * 60_000);
      const res = await c.get('/api/0/organizations/acme/', { accept: 'application/json' });
      assert.equal(res.status, 503, 'access does not outlive two intervals unchecked');
      assert.equal(((await res.json()) as { error: string }).error, 'directory_unavailable');
      const page = await c.get('/organizations/acme/issues/');
      assert.equal(page.status, 503);
      assert.equal(alertOf(await page.text()), DIRECTORY_DOWN);
    } finally {
      await t.close();
      await relay.close();
    }
  });

  test('first DC dead, second the real one: sign-in succeeds', async () => {
    const t = await startTestGateway({ ldap: { urls: ['ldaps://127.0.0.1:1', testDc().ldapsUrl] } });
    try {
      const c = new Client(t.url);
      assert.equal((await c.login('bob', DEMO_PASSWORD)).status, 303);
      assert.equal((await c.get('/organizations/acme/issues/', { accept: 'application/json' })).status, 200);
      // And a wrong password on the working DC is an answer, not a reason to fail over: 401.
      assert.equal((await new Client(t.url).login('bob', 'not-bobs-password')).status, 401);
      assert.equal((await new Client(t.url).login('bob', DEMO_PASSWORD)).status, 303, 'the success resets the count');
    } finally {
      await t.close();
    }
  });

  test('a DC that accepts connections and never answers is skipped after ldap.timeout', async () => {
    const sockets = new Set<net.Socket>();
    const hang = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const port = (hang.address() as net.AddressInfo).port;
    const t = await startTestGateway({ ldap: { urls: [`ldaps://127.0.0.1:${port}`, testDc().ldapsUrl], timeout: '2s' } });
    try {
      const { value: res, ms } = await timed(() => new Client(t.url).login('bob', DEMO_PASSWORD));
      assert.equal(res.status, 303);
      assert.ok(ms < 10_000, `sign-in took ${Math.round(ms)} ms`);
      assert.ok(t.logs.some((l) => l.includes('domain controller unreachable')), 'the skipped DC is logged');
    } finally {
      await t.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => hang.close(() => resolve()));
    }
  });
});

describe('a flood of sign-ins', () => {
  test('past ldap.maxConcurrentBinds a sign-in gets 503 "busy" with a stable code, and it is not a failed attempt', async () => {
    const relay = await startHoldingRelay(Number(new URL(testDc().ldapsUrl).port || 636));
    const t = await startTestGateway({ ldap: { urls: [`ldaps://127.0.0.1:${relay.port}`], maxConcurrentBinds: 1, bindQueueTimeout: '0', timeout: '30s' } });
    const redis = new Redis(testRedisUrl());
    try {
      assert.equal((await new Client(t.url).login('carol', DEMO_PASSWORD)).status, 303, 'works, and the service connection is open');
      relay.state.holding = true;
      // bob's bind goes out on a connection of its own, which the relay now holds: the one slot is taken.
      const first = new Client(t.url).login('bob', DEMO_PASSWORD);
      await relay.held();
      const daveKey = `sag:throttle:user:dn:${USERS.dave.dn.toLowerCase()}`;
      const before = Number((await redis.hget(daveKey, 'n')) ?? 0);
      for (const [who, password] of [['dave', DEMO_PASSWORD], ['dave', 'wrong'], ['nobody-at-all', 'wrong']] as const) {
        const res = await new Client(t.url).login(who, password);
        assert.equal(res.status, 503, `${who} while the slot is taken`);
        assert.equal(res.headers.get('retry-after'), '1');
        const html = await res.text();
        assert.equal(alertOf(html), 'Too many sign-ins at once. Try again in 1 seconds.');
        assert.match(html, /data-code="directory_busy"/);
      }
      assert.equal(Number((await redis.hget(daveKey, 'n')) ?? 0), before, 'refused for load, not counted as a failure');
      relay.release();
      assert.equal((await first).status, 303, 'the held sign-in completes');
      assert.equal((await new Client(t.url).login('dave', DEMO_PASSWORD)).status, 303, 'and the slot is free again');
    } finally {
      redis.disconnect();
      relay.release();
      await t.close();
      await relay.close();
    }
  });
});

describe('an account AD has locked', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway();
  });
  after(async () => {
    await sambaTool(['user', 'delete', 'lockedout']).catch(() => undefined);
    await t.close();
  });

  test('sign-in with the right password: 423 "account locked"', async () => {
    const dc = testDc();
    await sambaTool(['user', 'create', 'lockedout', DEMO_PASSWORD, '--userou=OU=People']);
    await sambaTool(['group', 'addmembers', 'Sentry Users', 'lockedout']);
    // Lock it directly at the DC: the gateway's own throttle would (rightly) stop us first.
    const ldap = new LdapClient({ url: dc.ldapsUrl, tlsOptions: { ca: readFileSync(dc.caFile), servername: dc.serverName } });
    try {
      for (let i = 0; i < 10; i++) {
        await assert.rejects(ldap.bind(`CN=lockedout,OU=People,${dc.baseDn}`, `wrong-password-${i}`), InvalidCredentialsError);
      }
    } finally {
      await ldap.unbind().catch(() => undefined);
    }
    const res = await new Client(t.url).login('lockedout', DEMO_PASSWORD);
    assert.equal(res.status, 423);
    assert.equal(alertOf(await res.text()), LOCKED);
  });
});

describe('without session.redisUrl', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({ session: { redisUrl: '' } });
  });
  after(async () => {
    await t.close();
  });

  test('the gateway starts and warns loudly that this is for development', () => {
    assert.equal(t.gw.deps.redis, null);
    const warning = t.logs.find((l) => /"level":(40|"warn")/.test(l) && /redisUrl/.test(l));
    assert.ok(warning, 'a warning about the missing redisUrl');
    assert.match(warning, /[Dd]evelopment/);
  });

  test('sign-in works with the in-memory store', async () => {
    const c = new Client(t.url);
    assert.equal((await c.login('alice', DEMO_PASSWORD)).status, 303);
    const seen = await upstreamReached(await c.get('/organizations/acme/issues/', { accept: 'application/json' }));
    assert.ok(seen.headers['x-sentry-gateway-assertion']);
    const me = (await (await c.get('/_gateway/me', { accept: 'application/json' })).json()) as { username: string };
    assert.equal(me.username, 'alice');
  });

  test('readyz is 200 and says the store is in memory (to an admin)', async () => {
    const admin = new Client(t.url);
    assert.equal((await admin.login('alice', DEMO_PASSWORD)).status, 303);
    const res = await admin.get('/_gateway/readyz', { accept: 'application/json' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { checks: { redis: { ok: boolean; mode?: string } } };
    assert.equal(body.checks.redis.ok, true);
    assert.equal(body.checks.redis.mode, 'memory');
  });
});
