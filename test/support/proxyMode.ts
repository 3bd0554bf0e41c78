// The nginx mode through a real proxy in front (nginxMode: nginx, caddyMode: Caddy): the gateway, a recording
// upstream for Relay and the proxy started on the config generated from the very config the gateway runs with, and
// the checks both proxies must pass the same way.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { WebSocket } from 'ws';
import type { Config } from '../../src/config/schema.js';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { freePort, startRedisServer, type RedisServer } from '../../src/dev/redisServer.js';
import { Client, startTestGateway, type TestGateway } from './gateway.js';
import { framingCases, FRAMING_THROUGH_A_PROXY } from './hostilePaths.js';
import { rawExchange } from './rawHttp.js';
import { USER_TOKEN } from './sentryTokens.js';
import { startRecordingUpstream, type RecordingUpstream } from './recordingUpstream.js';

export interface ProxyMode<P> {
  t: TestGateway;
  proxy: P;
  relay: RecordingUpstream;
  /** Decisions the gateway answered so far. */
  decisions(): number;
  close(): Promise<void>;
}

/**
 * Starts the gateway with `overrides` (its nginx section from `nginxSection(port)`) and then the proxy on `port`,
 * from the config the gateway loaded.
 */
export async function startProxyMode<P extends { close(): Promise<void> }>(
  overrides: Record<string, unknown>,
  redisUrl: string | undefined,
  nginxSection: (port: number) => Record<string, unknown>,
  startProxy: (config: Config, port: number) => Promise<P>,
): Promise<ProxyMode<P>> {
  const relay = await startRecordingUpstream();
  const port = await freePort();
  let t: TestGateway | undefined;
  try {
    t = await startTestGateway(
      {
        ...overrides,
        server: { publicUrl: `http://127.0.0.1:${port}` },
        upstream: { ingestUrl: relay.url, ...((overrides.upstream as object | undefined) ?? {}) },
        nginx: nginxSection(port),
      },
      redisUrl ? { redisUrl } : {},
    );
    const proxy = await startProxy(t.config, port);
    const gw = t;
    return {
      t: gw,
      proxy,
      relay,
      decisions: () => gw.logs.filter((l) => l.includes('"path":"/_gateway/auth"')).length,
      async close() {
        await proxy.close();
        await gw.close();
        await relay.close();
      },
    };
  } catch (e) {
    await t?.close();
    await relay.close();
    throw e;
  }
}

export type Echo = { url: string; headers: Record<string, string> };

/** What the echo upstream (the stand-in Sentry web) was sent, from its answer. */
export async function sentrySaw(res: Response): Promise<Echo> {
  assert.equal(res.status, 200, `expected the echo upstream's 200, got ${res.status}`);
  const body = (await res.json()) as Echo;
  assert.equal(typeof body.url, 'string', 'the answer came from the stand-in Sentry');
  return body;
}

/** A signed-in WebSocket from our own origin reaches Sentry with the assertion; another origin, or none, is 403 and never arrives. */
export async function assertWebSocketOriginChecked(proxyUrl: string, t: TestGateway, user: Client): Promise<void> {
  const wsUrl = `${proxyUrl.replace('http', 'ws')}/api/0/live/`;
  const ws = new WebSocket(wsUrl, { origin: t.config.server.publicUrl, headers: { cookie: user.cookieHeader() } });
  const first = await new Promise<string>((resolve, reject) => {
    ws.once('message', (d) => resolve(String(d)));
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, r) => reject(new Error(`handshake answered ${r.statusCode}`)));
  });
  ws.close();
  const handshake = JSON.parse(first) as { url: string; headers: Record<string, string> };
  assert.equal(handshake.url, '/api/0/live/');
  assert.ok(handshake.headers['x-sentry-gateway-assertion']);
  assert.doesNotMatch(handshake.headers.cookie ?? '', /sag_/);
  const upgrades = t.upstream.upgrades;
  for (const origin of ['https://evil.example', undefined]) {
    const foreign = new WebSocket(wsUrl, { ...(origin ? { origin } : {}), headers: { cookie: user.cookieHeader() } });
    const status = await new Promise<number>((resolve) => {
      foreign.on('unexpected-response', (_q, r) => (resolve(r.statusCode ?? 0), r.resume(), foreign.terminate()));
      foreign.on('open', () => (resolve(101), foreign.close()));
      foreign.on('error', () => resolve(0));
    });
    assert.equal(status, 403, `Origin ${origin ?? '(none)'}`);
  }
  assert.equal(t.upstream.upgrades, upgrades, 'no refused handshake reached Sentry');
}

/**
 * The framing cases of the node proxy's hostile table (test/integration/hostile.test.ts) that hide a session page,
 * sent through the proxy `start` puts in front of a recording Sentry web: the page never arrives.
 */
export function describeSmugglingThroughProxy(title: string, start: (overrides: Record<string, unknown>) => Promise<ProxyMode<{ url: string }>>): void {
  describe(title, () => {
    let m: ProxyMode<{ url: string }>;
    let web: RecordingUpstream;
    before(async () => {
      web = await startRecordingUpstream();
      m = await start({ upstream: { url: web.url } });
    });
    after(async () => {
      await m?.close();
      await web?.close();
    });

    for (const [name, bytes] of framingCases('Host: 127.0.0.1\r\n', USER_TOKEN).filter(([n]) => FRAMING_THROUGH_A_PROXY.includes(n))) {
      test(`${name}: the smuggled session page never reaches Sentry`, async () => {
        const before = web.arrivals.length;
        const answer = await rawExchange(Number(new URL(m.proxy.url).port), bytes);
        assert.ok(/HTTP\/1\.[01] \d{3} /.test(answer), `an answer, got ${JSON.stringify(answer.slice(0, 120))}`);
        const reached = web.arrivals.slice(before).filter((a) => a.url.includes('/organizations/'));
        assert.deepEqual(reached.map((a) => a.url), [], 'no session page reached Sentry web without a session');
      });
    }
  });
}

/** Ingestion reaches Relay with no decision asked, no cookie and the real client address; a signed-in page is asked. */
export async function assertIngestionUndecided(m: ProxyMode<{ url: string }>, user: Client): Promise<void> {
  const asked = m.decisions();
  const before = m.relay.arrivals.length;
  const res = await fetch(`${m.proxy.url}/api/1/envelope/?sentry_key=abc`, {
    method: 'POST',
    body: '{"event_id":"0"}\n',
    headers: { 'content-type': 'application/x-sentry-envelope', cookie: user.cookieHeader(), 'x-forwarded-for': '10.9.9.9', 'x-sentry-forwarded-for': '10.9.9.9' },
  });
  assert.equal(res.status, 200);
  const arrival = m.relay.arrivals[before];
  assert.ok(arrival);
  assert.equal(arrival.url, '/api/1/envelope/?sentry_key=abc');
  assert.equal(arrival.headers.cookie, undefined);
  assert.equal(arrival.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(arrival.headers['x-sentry-forwarded-for'], undefined);
  assert.equal(m.decisions(), asked, 'no decision asked for ingestion');
  // A signed-in request is asked about, which is what the count above would have seen.
  await sentrySaw(await user.get('/organizations/acme/', { accept: 'application/json' }));
  assert.equal(m.decisions(), asked + 1);
}

/**
 * A mode on a Redis of its own with alice signed in (her page reached Sentry), then that Redis stopped and the clock
 * past the few seconds a replica may trust its in-memory copy of a session (docs/design.md §11).
 */
export async function signedInThenRedisGone<M extends ProxyMode<{ url: string }>>(start: (overrides: Record<string, unknown>, redisUrl: string) => Promise<M>): Promise<{ redis: RedisServer; m: M; alice: Client }> {
  const redis = await startRedisServer();
  let m: M | undefined;
  try {
    m = await start({}, redis.url);
    const alice = new Client(m.proxy.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
    await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json' }));
    await redis.stop();
    m.t.clock.advance(5_000);
    return { redis, m, alice };
  } catch (e) {
    await m?.close();
    await redis.stop();
    throw e;
  }
}

/** A signed-in page (with Sentry's own cookie beside the gateway's) as it reached Sentry, its assertion verified against the gateway's JWKS as naming `username`. */
export async function signedInPageSeen(m: ProxyMode<{ url: string }>, user: Client, username: string): Promise<Echo> {
  const seen = await sentrySaw(await user.get('/organizations/acme/issues/?query=is%3Aunresolved', { accept: 'application/json', cookie: `${user.cookieHeader()}; sentrysid=keep` }));
  assert.equal(seen.url, '/organizations/acme/issues/?query=is%3Aunresolved');
  const token = seen.headers['x-sentry-gateway-assertion'];
  assert.ok(token, 'assertion header forwarded');
  const jwks = (await (await user.get('/_gateway/jwks.json', { accept: 'application/json' })).json()) as { keys: [] };
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: m.t.config.server.publicUrl, audience: 'sentry' });
  assert.equal(payload.preferred_username, username);
  return seen;
}
