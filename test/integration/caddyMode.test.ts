// The nginx mode's Caddy variant through the real caddy binary (Debian's 2.6) started on the site block
// `caddy-config` generates: Caddy carries the bytes, forward_auth asks GET /_gateway/auth?style=forward, and any
// refusal is the gateway's own answer passed on as it is (docs/nginx-mode.md#caddy). Real Samba AD, real Redis,
// real HTTP; the echo upstream stands in for Sentry web and a recording upstream for Relay.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { caddyConfig } from '../../src/caddy/caddyConfig.js';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import type { RedisServer } from '../../src/dev/redisServer.js';
import { startCaddy, type RunningCaddy } from '../support/caddy.js';
import { Client, startTestGateway, type TestGateway } from '../support/gateway.js';
import { hostilePath } from '../support/hostilePaths.js';
import { rawRequest as raw } from '../support/rawHttp.js';
import { assertIngestionUndecided, signedInPageSeen, signedInThenRedisGone, assertWebSocketOriginChecked, describeSmugglingThroughProxy, sentrySaw, startProxyMode, type ProxyMode } from '../support/proxyMode.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recordingUpstream.js';
import { API_KEY_BASIC, DSN, ORG_TOKEN, USER_TOKEN } from '../support/sentryTokens.js';

type CaddyMode = ProxyMode<RunningCaddy> & { caddy: RunningCaddy };

async function startCaddyMode(overrides: Record<string, unknown> = {}, redisUrl?: string): Promise<CaddyMode> {
  // Generated from the very config the gateway runs with.
  const m = await startProxyMode(overrides, redisUrl, () => ({ enabled: true }), (config, port) => startCaddy(caddyConfig(config), port));
  return { ...m, caddy: m.proxy };
}

const ASSERTION_SPELLINGS = ['X-Sentry-Gateway-Assertion', 'x-sentry-gateway-assertion', 'X_Sentry_Gateway_Assertion', 'x-sentry_gateway-assertion'];
const carriesAssertion = (headers: Record<string, unknown>) => Object.keys(headers).some((h) => h.replace(/_/g, '-').toLowerCase() === 'x-sentry-gateway-assertion');

describe('Caddy mode: signed in, anonymous, spoofed', () => {
  let m: CaddyMode;
  let alice: Client;
  before(async () => {
    m = await startCaddyMode();
    alice = new Client(m.caddy.url);
    const res = await alice.login('alice', DEMO_PASSWORD, '/organizations/acme/issues/');
    assert.equal(res.status, 303, 'signing in through Caddy reaches the gateway');
  });
  after(async () => {
    await m?.close();
  });

  test('a signed-in GET reaches Sentry with a valid assertion about alice, and no gateway cookie', async () => {
    const seen = await signedInPageSeen(m, alice, 'alice');
    assert.equal(seen.headers.cookie, 'sentrysid=keep', "Sentry's own cookie passes, the gateway's never");
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-sag-route'], undefined, 'the decision\'s own headers stay in Caddy');
  });

  test('the gateway cookie sent twice never reaches Sentry: the request is refused', async () => {
    const seen = m.t.upstream.lastRequest;
    const res = await alice.get('/organizations/acme/issues/', { accept: 'application/json', cookie: `${alice.cookieHeader()}; a=1; ${alice.cookieHeader()}` });
    assert.equal(res.status, 400);
    assert.equal(m.t.upstream.lastRequest, seen, 'nothing reached Sentry web');
  });

  test('the gateway cookie written with spaces before its = (read by the gateway as the same name) never reaches Sentry', async () => {
    // `sag_session =v` and `sag_session\t=v`: the gateway trims cookie names, so these are the session.
    for (const gap of [' ', '\t', ' \t ']) {
      const spaced = alice.cookieHeader().replace(/(^|; )([^=;]+)=/g, `$1$2${gap}=`);
      const seen = await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json', cookie: `a=1; ${spaced}; sentrysid=keep` }));
      assert.ok(seen.headers['x-sentry-gateway-assertion'], 'decided as signed in');
      assert.doesNotMatch(seen.headers.cookie ?? '', /sag_/, JSON.stringify(gap));
      assert.match(seen.headers.cookie ?? '', /sentrysid=keep/);
      // Sent twice, once spaced: still one left after the strip, so refused.
      const twice = await alice.get('/organizations/acme/', { accept: 'application/json', cookie: `${alice.cookieHeader()}; ${spaced}` });
      assert.equal(twice.status, 400, JSON.stringify(gap));
    }
  });

  test('an anonymous browser GET is sent to the sign-in page with next; an XHR gets the 401 JSON', async () => {
    const page = await new Client(m.caddy.url).get('/organizations/acme/issues/?project=1');
    assert.equal(page.status, 302);
    assert.equal(page.headers.get('location'), `/_gateway/login?next=${encodeURIComponent('/organizations/acme/issues/?project=1')}`);
    assert.equal(page.headers.get('set-cookie'), null);
    const xhr = await new Client(m.caddy.url).get('/api/0/organizations/acme/issues/', { accept: 'application/json' });
    assert.equal(xhr.status, 401);
    assert.equal(xhr.headers.get('www-authenticate'), null);
    assert.deepEqual(await xhr.json(), { error: 'authentication_required', login: '/_gateway/login' });
  });

  test("Sentry's own login page is replaced by the gateway's", async () => {
    const res = await new Client(m.caddy.url).get('/auth/login/?next=/organizations/acme/');
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `/_gateway/login?next=${encodeURIComponent('/organizations/acme/')}`);
  });

  test('a spoofed assertion header, in any spelling, never reaches Sentry', async () => {
    const forged = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUifQ.';
    for (const name of ASSERTION_SPELLINGS) {
      // Signed in: the gateway's own assertion replaces it.
      const signedIn = await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json', [name]: forged }));
      assert.ok(signedIn.headers['x-sentry-gateway-assertion'], name);
      assert.ok(!Object.entries(signedIn.headers).some(([h, v]) => h.replace(/_/g, '-').toLowerCase() === 'x-sentry-gateway-assertion' && v === forged), name);
      // With a token (no session, no assertion), on ingestion and anonymous: none at all.
      const token = await sentrySaw(await fetch(`${m.caddy.url}/api/0/projects/`, { headers: { authorization: `Bearer ${USER_TOKEN}`, [name]: forged } }));
      assert.ok(!carriesAssertion(token.headers), `${name} on the token API`);
      const before = m.relay.arrivals.length;
      await fetch(`${m.caddy.url}/api/1/envelope/`, { method: 'POST', body: '{}\n', headers: { [name]: forged } });
      const arrival = m.relay.arrivals[before];
      assert.ok(arrival, 'ingestion reached Relay');
      assert.ok(!carriesAssertion(arrival.headers), `${name} on ingestion`);
      const anonymous = await fetch(`${m.caddy.url}/organizations/acme/`, { headers: { accept: 'application/json', [name]: forged } });
      assert.equal(anonymous.status, 401, `${name} without a session`);
    }
  });

  test("a client's own X-Forwarded-Uri / X-Forwarded-Method neither steer the decision nor reach Sentry", async () => {
    // The decision: forward_auth sets both itself, over the client's copies (Caddy's doing, checked here because a
    // user relies on it). What Sentry gets: only the generated `request_header -X-Forwarded-Uri/-Method` removes them.
    const web = m.t.upstream.lastRequest;
    // A token may reach the token API: claiming that path must not carry a session page through without a session.
    for (const [name, value] of [['x-forwarded-uri', '/api/0/projects/'], ['x-sag-uri', '/api/0/projects/'], ['x-forwarded-method', 'OPTIONS']] as const) {
      const res = await raw(m.caddy.url, '/organizations/acme/', { headers: { accept: 'application/json', authorization: `Bearer ${USER_TOKEN}`, [name]: value, 'x-sag-method': 'GET' } });
      assert.equal(res.status, 401, name);
    }
    assert.equal(m.t.upstream.lastRequest, web, 'nothing reached Sentry web');
    // And signed in, what Sentry gets is the path that was decided, without the client's claims (the generated deletion).
    const seen = await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json', 'x-forwarded-uri': '/api/0/projects/', 'x-forwarded-method': 'DELETE' }));
    assert.equal(seen.url, '/organizations/acme/');
    assert.equal(seen.headers['x-forwarded-uri'], undefined);
    assert.equal(seen.headers['x-forwarded-method'], undefined);
  });

  test('client address claims never reach Sentry', async () => {
    const seen = await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json', 'x-forwarded-for': '10.9.9.9', 'x-real-ip': '10.9.9.9', forwarded: 'for=10.9.9.9', 'x-forwarded-user': 'eve', x_forwarded_for: '10.9.9.9' }));
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-real-ip'], undefined);
    assert.equal(seen.headers.forwarded, undefined);
    assert.equal(seen.headers['x-forwarded-user'], undefined);
    assert.equal(seen.headers.x_forwarded_for, undefined);
  });

  test('a token API call passes without a session, and without the browser cookies', async () => {
    const seen = await sentrySaw(await fetch(`${m.caddy.url}/api/0/projects/`, { headers: { authorization: `Bearer ${USER_TOKEN}`, cookie: `${alice.cookieHeader()}; sentrysid=x` } }));
    assert.equal(seen.headers.authorization, `Bearer ${USER_TOKEN}`);
    assert.ok(!carriesAssertion(seen.headers));
    assert.equal(seen.headers.cookie, undefined);
  });

  test('a token upload reaches Sentry whole: the decision is asked without the body, and the body follows', async () => {
    const body = randomBytes(3 * 1024 * 1024);
    const res = await fetch(`${m.caddy.url}/api/0/projects/acme/web/files/dsyms/`, { method: 'POST', body, headers: { authorization: `Bearer ${USER_TOKEN}`, 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200);
    const seen = (await res.json()) as { bodyLength: number; bodySha256: string };
    assert.equal(seen.bodyLength, body.length);
    assert.equal(seen.bodySha256, createHash('sha256').update(body).digest('hex'));
  });

  test('ingestion reaches Relay with no decision asked, no cookie and the real client address', async () => {
    await assertIngestionUndecided(m, alice);
  });

  test('an ingestion path that is not ingestion in its raw form is asked, refused, and sent nowhere', async () => {
    const before = m.relay.arrivals.length;
    for (const path of ['/api/0/../1/envelope/', '/api//1/envelope/', '/api/1/%65nvelope/', '/api/1/./envelope/', '/api/1/envelope/%2e%2e/', '/x/../api/1/envelope/']) {
      const res = await raw(m.caddy.url, path, { method: 'POST', body: '{}\n', headers: { accept: 'application/json' } });
      assert.equal(res.status, 400, path);
    }
    assert.equal(m.relay.arrivals.length, before);
    const named = await raw(m.caddy.url, '/api/1/envelope/', { method: 'POST', body: '{}\n', headers: { connection: 'keep-alive, Cookie' } });
    assert.equal(named.status, 400, 'a Connection naming a deciding header on ingestion');
    assert.equal(m.relay.arrivals.length, before);
  });

  test('/_gateway/auth fetched by a client is 404, however it is spelt', async () => {
    for (const path of ['/_gateway/auth', '/_gateway/auth?style=forward', '/_gateway/%61uth?style=forward', '/_gateway/auth/', '/_gateway/./auth', '/_gateway//auth', '/x/../_gateway/auth?style=forward']) {
      const res = await raw(m.caddy.url, path, { headers: { accept: 'application/json', cookie: alice.cookieHeader(), 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/organizations/acme/', 'x-sag-method': 'GET', 'x-sag-uri': '/' } });
      assert.equal(res.status, 404, path);
      assert.doesNotMatch(res.body, /eyJ/, path);
      assert.ok(!carriesAssertion(res.headers), path);
    }
  });

  test("the module's internal endpoints and Sentry's inside-only APIs are the gateway's 404, signed in or not", async () => {
    for (const path of ['/_sentry-ad-gateway/offboard/', '/api/0/relays/register/challenge/', '/api/0/internal/health/']) {
      const signedIn = await alice.get(path, { accept: 'application/json' });
      assert.equal(signedIn.status, 404, path);
      assert.equal(((await signedIn.json()) as { error: string }).error, 'not_found', path);
      assert.equal((await fetch(`${m.caddy.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${USER_TOKEN}` } })).status, 404, path);
    }
    // A browser gets the gateway's page, in its language.
    const page = await alice.get('/_sentry-ad-gateway/offboard/', { accept: 'text/html', 'accept-language': 'zh-CN' });
    assert.equal(page.status, 404);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /<html[^>]*lang="zh-CN"/);
  });

  test('path tricks and a Connection naming a deciding header are 400', async () => {
    for (const path of ['/api/0/%2e%2e/auth/', '/organizations/acme/%2Fx/', '/api/0//auth/', '/organizations/%61cme/', '/api/1/../0/projects/', '/_gateway/../organizations/acme/']) {
      assert.equal((await raw(m.caddy.url, path, { headers: { accept: 'application/json', cookie: alice.cookieHeader() } })).status, 400, path);
    }
    const res = await raw(m.caddy.url, '/api/0/projects/', { headers: { accept: 'application/json', authorization: `Bearer ${USER_TOKEN}`, connection: 'keep-alive, Authorization' } });
    assert.equal(res.status, 400);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'bad_connection_header');
    const signedIn = await raw(m.caddy.url, '/organizations/acme/', { headers: { accept: 'application/json', cookie: alice.cookieHeader(), connection: 'cookie' } });
    assert.equal(signedIn.status, 400);
  });

  test('a signed-in WebSocket from our own origin reaches Sentry with the assertion; another origin is 403 and never arrives', async () => {
    await assertWebSocketOriginChecked(m.caddy.url, m.t, alice);
  });

  test('a POST is decided as a POST: an anonymous one gets the 401 JSON, not the sign-in page', async () => {
    const res = await new Client(m.caddy.url).request('/organizations/acme/issues/', { method: 'POST', body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' } });
    assert.equal(res.status, 401);
  });
});

describe('Caddy mode: the hostile path table answers as the node proxy does', () => {
  let m: CaddyMode;
  let web: RecordingUpstream;
  let session = '';
  before(async () => {
    web = await startRecordingUpstream();
    m = await startCaddyMode({ upstream: { url: web.url } });
    const c = new Client(m.caddy.url);
    assert.equal((await c.login('bob', DEMO_PASSWORD)).status, 303);
    session = c.cookieHeader();
  });
  after(async () => {
    await m?.close();
    await web?.close();
  });

  test('what the node proxy refuses Caddy refuses alike, and Caddy forwards nothing the node proxy would not', async () => {
    const auth = fc.constantFrom(undefined, `Bearer ${ORG_TOKEN}`, `bearer ${USER_TOKEN}`, API_KEY_BASIC, `DSN ${DSN}`, 'Bearer sntrys_token', 'Basic dXNlcjpwYXNz');
    const accept = fc.constantFrom('text/html', 'application/json');
    const method = fc.constantFrom('GET', 'POST', 'HEAD', 'DELETE');
    const connection = fc.constantFrom(undefined, 'keep-alive', 'x-trace', 'authorization', 'keep-alive, Authorization', 'close,cookie');
    const signedIn = fc.boolean();
    let forwarded = 0;
    let refused = 0;
    const arrivals = () => web.arrivals.length + m.relay.arrivals.length;
    const last = () => [...web.arrivals, ...m.relay.arrivals].sort((a, b) => a.seq - b.seq).at(-1);
    await fc.assert(
      fc.asyncProperty(hostilePath, auth, accept, method, connection, signedIn, async (path, authorization, acc, meth, conn, withSession) => {
        const headers: Record<string, string> = { accept: acc, cookie: `sentrysid=stolen; ${withSession ? session : 'sag_session=s:forged.sig'}` };
        if (authorization) headers.authorization = authorization;
        if (conn) headers.connection = conn;
        const body = meth === 'POST' ? '{}' : undefined;
        const n0 = arrivals();
        const viaNode = await raw(m.t.url, path, { method: meth, headers, ...(body ? { body } : {}) });
        const nodeForwarded = arrivals() > n0;
        const n1 = arrivals();
        // Caddy's own server refuses a target it cannot parse (`/%2`) with a 400 whose body follows even a HEAD:
        // node's client calls that a parse error. Such a request reached no one.
        const viaCaddy = await raw(m.caddy.url, path, { method: meth, headers, ...(body ? { body } : {}) }).catch((e: Error) => ({ status: /Data after/.test(e.message) ? 400 : -1 }));
        const caddyForwarded = arrivals() > n1;
        const what = `${meth} ${path} (${authorization ?? 'no credential'}, ${withSession ? 'signed in' : 'no session'}, Connection: ${conn ?? '-'}): node ${viaNode.status}, caddy ${viaCaddy.status}`;
        if (caddyForwarded) {
          forwarded++;
          assert.ok(nodeForwarded, `Caddy forwarded what the node proxy did not: ${what}`);
          const a = last()!;
          assert.equal(a.url, path, `forwarded byte for byte: ${what}`);
          assert.doesNotMatch(a.headers.cookie ?? '', /sag_/, `no gateway cookie upstream: ${what}`);
          if (!withSession) assert.ok(!carriesAssertion(a.headers), what);
        }
        if ([400, 404].includes(viaNode.status) && !path.startsWith('/_gateway')) {
          refused++;
          assert.equal(viaCaddy.status, viaNode.status, what);
        }
      }),
      { numRuns: 800 },
    );
    assert.ok(forwarded > 10 && refused > 50, `the generator reached both sides (${forwarded} forwarded, ${refused} refused)`);
  });
});

describeSmugglingThroughProxy('Caddy mode: smuggling and malformed framing never get a request to Sentry undecided', (overrides) => startCaddyMode(overrides));

describe('Caddy mode: Redis goes away, then the gateway', () => {
  let redis: RedisServer;
  let m: CaddyMode;
  let alice: Client;
  before(async () => {
    ({ redis, m, alice } = await signedInThenRedisGone(startCaddyMode));
  });
  after(async () => {
    await m?.close();
    await redis?.stop();
  });

  test('a signed-in request gets the gateway\'s 503, never the sign-in page and never Sentry', async () => {
    const res = await alice.get('/organizations/acme/issues/', { accept: 'application/json' });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('location'), null);
    assert.equal(((await res.json()) as { error: string }).error.length > 0, true);
  });

  test('with the gateway itself gone, Caddy fails closed: Sentry sees nothing; ingestion still flows', async () => {
    await m.t.gw.close();
    const seen = m.t.upstream.lastRequest;
    const res = await alice.get('/organizations/acme/', { accept: 'application/json' });
    assert.ok(res.status >= 500, `got ${res.status}`);
    assert.equal(m.t.upstream.lastRequest, seen, 'nothing reached Sentry web');
    const before = m.relay.arrivals.length;
    assert.equal((await fetch(`${m.caddy.url}/api/1/envelope/`, { method: 'POST', body: '{}\n' })).status, 200);
    assert.equal(m.relay.arrivals.length, before + 1);
  });
});

describe('GET /_gateway/auth?style=forward, asked directly as Caddy asks it', () => {
  let t: TestGateway;
  let alice: Client;
  let stranger: TestGateway;
  before(async () => {
    t = await startTestGateway({ nginx: { enabled: true } });
    alice = new Client(t.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
    stranger = await startTestGateway({ nginx: { enabled: true }, server: { trustProxy: '10.0.0.5' } });
  });
  after(async () => {
    await t?.close();
    await stranger?.close();
  });

  const ask = (base: string, uri: string | undefined, headers: Record<string, string> = {}) =>
    fetch(`${base}/_gateway/auth?style=forward`, { headers: { 'x-forwarded-method': 'GET', ...(uri !== undefined ? { 'x-forwarded-uri': uri } : {}), accept: 'application/json', ...headers }, redirect: 'manual' });

  test('a signed-in request: 200 with the assertion and its class, never a cookie', async () => {
    const res = await ask(t.url, '/organizations/acme/', { cookie: alice.cookieHeader() });
    assert.equal(res.status, 200);
    assert.ok(res.headers.get('x-sentry-gateway-assertion'));
    assert.equal(res.headers.get('x-sag-route'), 'session');
    assert.equal(res.headers.get('set-cookie'), null);
  });

  test('the nginx style\'s facts are not read in the forward style: without X-Forwarded-Uri it refuses', async () => {
    const res = await ask(t.url, undefined, { cookie: alice.cookieHeader(), 'x-sag-method': 'GET', 'x-sag-uri': '/organizations/acme/' });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-sentry-gateway-assertion'), null);
  });

  test('a style with anything beside it is no style: refused (400), never answered in the nginx style', async () => {
    for (const query of ['?style=forward&x=1', '?x=1&style=forward', '?style=forward&style=forward', '?style=Forward', '?x=1']) {
      const res = await fetch(`${t.url}/_gateway/auth${query}`, {
        headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/organizations/acme/', 'x-sag-method': 'GET', 'x-sag-uri': '/organizations/acme/', accept: 'application/json', cookie: alice.cookieHeader() },
        redirect: 'manual',
      });
      assert.equal(res.status, 400, query);
      assert.equal(res.headers.get('x-sentry-gateway-assertion'), null, query);
      assert.equal(res.headers.get('x-sag-status'), null, query);
    }
  });

  test('a handshake is judged as one even when only Sec-WebSocket-Key tells (a proxy that drops Upgrade)', async () => {
    const res = await ask(t.url, '/api/0/live/', { cookie: alice.cookieHeader(), 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', origin: 'https://evil.example' });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-sentry-gateway-assertion'), null);
  });

  test('a peer server.trustProxy does not cover gets 404, as with the mode off', async () => {
    const res = await ask(stranger.url, '/organizations/acme/');
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('x-sag-route'), null);
  });
});
