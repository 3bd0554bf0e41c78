// The nginx mode through a real nginx (Debian's nginx-light) started on the configuration `nginx-config` generates:
// nginx carries the bytes, the gateway's GET /_gateway/auth decides (docs/nginx-mode.md). Real Samba AD, real
// Redis, real HTTP; the echo upstream stands in for Sentry web and a recording upstream for Relay.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { freePort, type RedisServer } from '../../src/dev/redisServer.js';
import { nginxConfig } from '../../src/nginx/nginxConfig.js';
import { Client, startTestGateway, type TestGateway } from '../support/gateway.js';
import { startNginx, type RunningNginx } from '../support/nginx.js';
import { assertIngestionUndecided, signedInPageSeen, signedInThenRedisGone, assertWebSocketOriginChecked, describeSmugglingThroughProxy, sentrySaw, startProxyMode, type ProxyMode } from '../support/proxyMode.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recordingUpstream.js';
import { API_KEY_BASIC, DSN, ORG_TOKEN, USER_TOKEN } from '../support/sentryTokens.js';
import { hostilePath } from '../support/hostilePaths.js';
import { rawRequest } from '../support/rawHttp.js';
import fc from 'fast-check';

type NginxMode = ProxyMode<RunningNginx> & { nginx: RunningNginx };

async function startNginxMode(overrides: Record<string, unknown> = {}, redisUrl?: string): Promise<NginxMode> {
  // Generated from the very config the gateway runs with.
  const m = await startProxyMode(overrides, redisUrl, (port) => ({ enabled: true, listen: `127.0.0.1:${port}`, ...((overrides.nginx as object | undefined) ?? {}) }), (config, port) => startNginx(nginxConfig(config), port));
  return { ...m, nginx: m.proxy };
}

const raw = rawRequest;

describe('nginx mode: signed in, anonymous, spoofed', () => {
  let m: NginxMode;
  let alice: Client;
  before(async () => {
    m = await startNginxMode();
    alice = new Client(m.nginx.url);
    const res = await alice.login('alice', DEMO_PASSWORD, '/organizations/acme/issues/');
    assert.equal(res.status, 303, 'signing in through nginx reaches the gateway');
  });
  after(async () => {
    await m?.close();
  });

  test('a signed-in GET reaches Sentry with a valid assertion about alice, and no gateway cookie', async () => {
    const seen = await signedInPageSeen(m, alice, 'alice');
    assert.equal(seen.headers.cookie?.trim().replace(/^;\s*/, ''), 'sentrysid=keep', "Sentry's own cookie passes, the gateway's never");
    assert.doesNotMatch(seen.headers.cookie ?? '', /sag_/);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  });

  test('the gateway cookie sent twice never reaches Sentry: the request is refused', async () => {
    const res = await alice.get('/organizations/acme/issues/', { accept: 'application/json', cookie: `${alice.cookieHeader()}; a=1; ${alice.cookieHeader()}` });
    assert.notEqual(res.status, 200);
    const arrived = await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json' }));
    assert.doesNotMatch(arrived.headers.cookie ?? '', /sag_/);
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

  test('an anonymous browser GET is sent to the sign-in page with next', async () => {
    const res = await new Client(m.nginx.url).get('/organizations/acme/issues/?project=1');
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `/_gateway/login?next=${encodeURIComponent('/organizations/acme/issues/?project=1')}`);
    assert.equal(res.headers.get('www-authenticate'), null);
  });

  test('an anonymous XHR gets the 401 JSON, with no WWW-Authenticate', async () => {
    const res = await new Client(m.nginx.url).get('/api/0/organizations/acme/issues/', { accept: 'application/json' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), null);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), { error: 'authentication_required', login: '/_gateway/login' });
  });

  test("Sentry's own login page is replaced by the gateway's", async () => {
    const res = await new Client(m.nginx.url).get('/auth/login/?next=/organizations/acme/');
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `/_gateway/login?next=${encodeURIComponent('/organizations/acme/')}`);
  });

  test('a spoofed assertion header, in any spelling, never reaches Sentry', async () => {
    const forged = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUifQ.';
    for (const name of ['X-Sentry-Gateway-Assertion', 'x-sentry-gateway-assertion', 'X_Sentry_Gateway_Assertion', 'x-sentry_gateway-assertion']) {
      // Signed in: the gateway's own assertion replaces it.
      const signedIn = await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json', [name]: forged }));
      assert.notEqual(signedIn.headers['x-sentry-gateway-assertion'], forged, name);
      assert.ok(!Object.keys(signedIn.headers).some((h) => h.replace(/_/g, '-').toLowerCase() === 'x-sentry-gateway-assertion' && signedIn.headers[h] === forged), name);
      // With a token (no session, no assertion) and on ingestion: none at all.
      const token = await sentrySaw(await fetch(`${m.nginx.url}/api/0/projects/`, { headers: { authorization: `Bearer ${USER_TOKEN}`, [name]: forged } }));
      assert.ok(!Object.keys(token.headers).some((h) => h.replace(/_/g, '-').toLowerCase() === 'x-sentry-gateway-assertion'), `${name} on the token API`);
      const before = m.relay.arrivals.length;
      await fetch(`${m.nginx.url}/api/1/envelope/`, { method: 'POST', body: '{}\n', headers: { [name]: forged } });
      const arrival = m.relay.arrivals[before];
      assert.ok(arrival, 'ingestion reached Relay');
      assert.ok(!Object.keys(arrival.headers).some((h) => h.replace(/_/g, '-').toLowerCase() === 'x-sentry-gateway-assertion'), `${name} on ingestion`);
    }
  });

  test('client address claims never reach Sentry', async () => {
    const seen = await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json', 'x-forwarded-for': '10.9.9.9', 'x-real-ip': '10.9.9.9', forwarded: 'for=10.9.9.9', 'x-forwarded-user': 'eve' }));
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-real-ip'], undefined);
    assert.equal(seen.headers.forwarded, undefined);
    assert.equal(seen.headers['x-forwarded-user'], undefined);
  });

  test('a token API call passes without a session, and without the browser cookies', async () => {
    const seen = await sentrySaw(await fetch(`${m.nginx.url}/api/0/projects/`, { headers: { authorization: `Bearer ${USER_TOKEN}`, cookie: `${alice.cookieHeader()}; sentrysid=x` } }));
    assert.equal(seen.headers.authorization, `Bearer ${USER_TOKEN}`);
    assert.equal(seen.headers['x-sentry-gateway-assertion'], undefined);
    assert.equal(seen.headers.cookie, undefined);
  });

  test('ingestion reaches Relay with no decision asked, no cookie and the real client address', async () => {
    await assertIngestionUndecided(m, alice);
  });

  test('an ingestion path that is not ingestion in its raw form is refused, not sent to Relay or Sentry', async () => {
    const before = m.relay.arrivals.length;
    for (const path of ['/api/0/../1/envelope/', '/api//1/envelope/', '/api/1/%65nvelope/', '/api/1/./envelope/', '/api/1/envelope/%2e%2e/', '/x/../api/1/envelope/']) {
      const res = await raw(m.nginx.url, path, { method: 'POST', body: '{}\n' });
      assert.equal(res.status, 400, path);
    }
    assert.equal(m.relay.arrivals.length, before);
  });

  test('/_gateway/auth fetched by a client is 404, however it is spelt', async () => {
    for (const path of ['/_gateway/auth', '/_gateway/%61uth', '/_gateway/auth?x=1', '/_gateway/./auth']) {
      const res = await raw(m.nginx.url, path, { headers: { accept: 'application/json', cookie: alice.cookieHeader(), 'x-sag-method': 'GET', 'x-sag-uri': '/organizations/acme/' } });
      assert.equal(res.status, 404, path);
      assert.doesNotMatch(res.body, /eyJ/, path);
    }
  });

  test("the module's internal endpoints and Sentry's inside-only APIs are 404, signed in or not", async () => {
    for (const path of ['/_sentry-ad-gateway/offboard/', '/api/0/relays/register/challenge/', '/api/0/internal/health/']) {
      assert.equal((await alice.get(path, { accept: 'application/json' })).status, 404, path);
      assert.equal((await fetch(`${m.nginx.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${USER_TOKEN}` } })).status, 404, path);
    }
  });

  test("a refusal is the gateway's own page, in the client's language, never an assertion", async () => {
    const page = await alice.get('/_sentry-ad-gateway/offboard/', { accept: 'text/html', 'accept-language': 'zh-CN' });
    assert.equal(page.status, 404);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /<html[^>]*lang="zh-CN"/);
    const bad = await raw(m.nginx.url, '/organizations/acme/%2e%2e/', { headers: { accept: 'application/json', cookie: alice.cookieHeader() } });
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.body) as { error: string }).error, 'bad_path');
    assert.equal(bad.headers['x-sentry-gateway-assertion'], undefined);
    assert.equal(bad.headers['x-sag-route'], undefined);
  });

  test("a refused URL with a query still gets the gateway's page, and a client's own X-Sag-Method/-Uri change nothing", async () => {
    // nginx would append the query to the re-ask's own (?style=forward&x=1): answered in the nginx style from the
    // client's facts, that was a 200 for /organizations/acme/ instead of the 404 page.
    const claims = { 'x-sag-method': 'GET', 'x-sag-uri': '/organizations/acme/', 'x-sag-connection': '', 'x-sag-upgrade': '' };
    for (const headers of [{}, claims]) {
      const page = await alice.get('/_sentry-ad-gateway/offboard/?x=1&style=forward', { accept: 'text/html', 'accept-language': 'zh-CN', ...headers });
      assert.equal(page.status, 404, JSON.stringify(headers));
      assert.match(await page.text(), /<html[^>]*lang="zh-CN"/);
      assert.equal(page.headers.get('x-sentry-gateway-assertion'), null);
      assert.equal(page.headers.get('x-sag-route'), null);
      const bad = await raw(m.nginx.url, '/organizations/acme/%2e%2e/?next=/x', { headers: { accept: 'application/json', cookie: alice.cookieHeader(), ...headers } });
      assert.equal(bad.status, 400, JSON.stringify(headers));
      assert.equal((JSON.parse(bad.body) as { error: string }).error, 'bad_path');
    }
  });

  test('path tricks and a Connection naming a deciding header are 400', async () => {
    for (const path of ['/api/0/%2e%2e/auth/', '/organizations/acme/%2Fx/', '/api/0//auth/', '/organizations/%61cme/', '/api/1/../0/projects/', '/_gateway/../organizations/acme/']) {
      assert.equal((await raw(m.nginx.url, path, { headers: { accept: 'application/json', cookie: alice.cookieHeader() } })).status, 400, path);
    }
    const res = await raw(m.nginx.url, '/api/0/projects/', { headers: { authorization: `Bearer ${USER_TOKEN}`, connection: 'keep-alive, Authorization' } });
    assert.equal(res.status, 400);
    const signedIn = await raw(m.nginx.url, '/organizations/acme/', { headers: { accept: 'application/json', cookie: alice.cookieHeader(), connection: 'cookie' } });
    assert.equal(signedIn.status, 400);
  });

  test('a signed-in WebSocket from our own origin reaches Sentry with the assertion; another origin is 403 and never arrives', async () => {
    await assertWebSocketOriginChecked(m.nginx.url, m.t, alice);
  });

  test('a POST is decided as a POST: an anonymous one gets the 401 JSON, not the sign-in page', async () => {
    const res = await new Client(m.nginx.url).request('/organizations/acme/issues/', { method: 'POST', body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 401);
  });
});

/**
 * The hostile path table through nginx beside the node proxy: what the node proxy refuses nginx refuses with the same
 * status, and nginx forwards nothing the node proxy would not. `signedIn` sends a real session cookie; `cache` turns
 * the decision cache on and asks nginx twice, so the second answer may come from a warm cache.
 */
function hostileTable(label: string, opts: { signedIn: boolean; cache: boolean }) {
  describe(`nginx mode: the hostile path table answers as the node proxy does (${label})`, () => {
    let m: NginxMode;
    let web: RecordingUpstream;
    let session = 'sag_session=s:forged.sig';
    const cacheDir = mkdtempSync(join(tmpdir(), 'sag-nginx-cache-'));
    before(async () => {
      web = await startRecordingUpstream();
      m = await startNginxMode({ upstream: { url: web.url }, ...(opts.cache ? { nginx: { decisionCache: '5s', cacheDir } } : {}) });
      if (opts.signedIn) {
        const c = new Client(m.nginx.url);
        assert.equal((await c.login('bob', DEMO_PASSWORD)).status, 303);
        session = c.cookieHeader();
      }
    });
    after(async () => {
      await m?.close();
      await web?.close();
      rmSync(cacheDir, { recursive: true, force: true });
    });

    test('what the node proxy refuses nginx refuses alike, and nginx forwards nothing the node proxy would not', async () => {
      const auth = fc.constantFrom(undefined, `Bearer ${ORG_TOKEN}`, `bearer ${USER_TOKEN}`, API_KEY_BASIC, `DSN ${DSN}`, 'Bearer sntrys_token', 'Basic dXNlcjpwYXNz');
      const accept = fc.constantFrom('text/html', 'application/json');
      const method = fc.constantFrom('GET', 'POST', 'HEAD', 'DELETE');
      const connection = fc.constantFrom(undefined, 'keep-alive', 'x-trace', 'authorization', 'keep-alive, Authorization', 'close,cookie');
      let forwarded = 0;
      let refused = 0;
      const arrivals = () => web.arrivals.length + m.relay.arrivals.length;
      const last = () => [...web.arrivals, ...m.relay.arrivals].sort((a, b) => a.seq - b.seq).at(-1);
      await fc.assert(
        fc.asyncProperty(hostilePath, auth, accept, method, connection, async (path, authorization, acc, meth, conn) => {
          const headers: Record<string, string> = { accept: acc, cookie: `sentrysid=stolen; ${session}` };
          if (authorization) headers.authorization = authorization;
          if (conn) headers.connection = conn;
          const body = meth === 'POST' ? '{}' : undefined;
          const n0 = arrivals();
          const viaNode = await raw(m.t.url, path, { method: meth, headers, ...(body ? { body } : {}) });
          const nodeForwarded = arrivals() > n0;
          for (let round = 0; round < (opts.cache ? 2 : 1); round++) {
            const n1 = arrivals();
            const viaNginx = await raw(m.nginx.url, path, { method: meth, headers, ...(body ? { body } : {}) });
            const nginxForwarded = arrivals() > n1;
            const what = `${meth} ${path} (${authorization ?? 'no credential'}, Connection: ${conn ?? '-'}), round ${round}: node ${viaNode.status}, nginx ${viaNginx.status}`;
            if (nginxForwarded) {
              forwarded++;
              assert.ok(nodeForwarded, `nginx forwarded what the node proxy did not: ${what}`);
              const a = last()!;
              assert.equal(a.url, path, `forwarded byte for byte: ${what}`);
              assert.doesNotMatch(a.headers.cookie ?? '', /sag_/, `no gateway cookie upstream: ${what}`);
              if (!opts.signedIn) assert.equal(a.headers['x-sentry-gateway-assertion'], undefined, what);
            }
            if ([400, 404].includes(viaNode.status) && !path.startsWith('/_gateway')) {
              refused++;
              assert.equal(viaNginx.status, viaNode.status, what);
            }
          }
        }),
        { numRuns: 800 },
      );
      assert.ok(forwarded > 10 && refused > 50, `the generator reached both sides (${forwarded} forwarded, ${refused} refused)`);
    });
  });
}

hostileTable('no session, no cache', { signedIn: false, cache: false });
hostileTable('signed in, cold and warm decision cache', { signedIn: true, cache: true });

describeSmugglingThroughProxy('nginx mode: smuggling and malformed framing never get a request to Sentry undecided', (overrides) => startNginxMode(overrides));

describe('nginx mode: Redis goes away', () => {
  let redis: RedisServer;
  let m: NginxMode;
  let alice: Client;
  before(async () => {
    ({ redis, m, alice } = await signedInThenRedisGone(startNginxMode));
  });
  after(async () => {
    await m?.close();
    await redis?.stop();
  });

  test('a signed-in request gets 503, never the sign-in page and never Sentry', async () => {
    const res = await alice.get('/organizations/acme/issues/');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('location'), null);
  });

  test('ingestion still reaches Relay', async () => {
    const res = await fetch(`${m.nginx.url}/api/1/envelope/`, { method: 'POST', body: '{}\n' });
    assert.equal(res.status, 200);
  });

  test('with the gateway itself gone, nginx fails closed: 500, Sentry sees nothing; ingestion still flows', async () => {
    await m.t.gw.close();
    const seen = m.t.upstream.lastRequest;
    const res = await alice.get('/organizations/acme/', { accept: 'application/json' });
    assert.equal(res.status, 500);
    assert.equal(m.t.upstream.lastRequest, seen, 'nothing reached Sentry web');
    const before = m.relay.arrivals.length;
    assert.equal((await fetch(`${m.nginx.url}/api/1/envelope/`, { method: 'POST', body: '{}\n' })).status, 200);
    assert.equal(m.relay.arrivals.length, before + 1);
  });
});

describe('nginx mode with a decision cache', () => {
  let m: NginxMode;
  let alice: Client;
  const cacheDir = mkdtempSync(join(tmpdir(), 'sag-nginx-cache-'));
  before(async () => {
    m = await startNginxMode({ nginx: { decisionCache: '1s', cacheDir } });
    alice = new Client(m.nginx.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
  });
  after(async () => {
    await m?.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  test('a repeated signed-in GET is answered from the cache, still with a valid assertion', async () => {
    const first = await sentrySaw(await alice.get('/organizations/acme/cached/', { accept: 'application/json' }));
    const asked = m.decisions();
    const again = await sentrySaw(await alice.get('/organizations/acme/cached/', { accept: 'application/json' }));
    assert.equal(m.decisions(), asked, 'not asked again');
    assert.equal(again.headers['x-sentry-gateway-assertion'], first.headers['x-sentry-gateway-assertion']);
    assert.ok(again.headers['x-sentry-gateway-assertion']);
  });

  test('without a session cookie nothing is cached: every request is asked', async () => {
    const asked = m.decisions();
    for (let i = 0; i < 3; i++) await sentrySaw(await fetch(`${m.nginx.url}/api/0/projects/`, { headers: { authorization: `Bearer ${USER_TOKEN}` } }));
    assert.equal(m.decisions(), asked + 3);
  });

  test('with a token, even beside a session cookie, nothing is cached: no token is written to the cache', async () => {
    const asked = m.decisions();
    for (let i = 0; i < 3; i++) await sentrySaw(await fetch(`${m.nginx.url}/api/0/projects/`, { headers: { authorization: `Bearer ${USER_TOKEN}`, cookie: alice.cookieHeader() } }));
    assert.equal(m.decisions(), asked + 3);
  });

  test('a path trick is never answered from a cached decision of the same session', async () => {
    await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json' }));
    const res = await raw(m.nginx.url, '/organizations/acme/%2e%2e/', { headers: { accept: 'application/json', cookie: alice.cookieHeader() } });
    assert.equal(res.status, 400);
  });

  test('after signing out, the old session cookie is refused once the cache time has passed', async () => {
    const stale = alice.cookieHeader();
    await sentrySaw(await alice.get('/organizations/acme/revoked/', { accept: 'application/json' }));
    const bye = await alice.submitForm('/_gateway/logout', '/_gateway/logout', {});
    assert.ok(bye.status < 400, `sign-out answered ${bye.status}`);
    // The gateway itself refuses the old cookie at once; only nginx's cached decision may outlive it.
    assert.equal((await new Client(m.t.url).get('/organizations/acme/revoked/', { accept: 'application/json', cookie: stale })).status, 401);
    // nginx counts cache validity in whole seconds: 1s may last until the end of the next second.
    await sleep(2_100);
    const res = await new Client(m.nginx.url).get('/organizations/acme/revoked/', { accept: 'application/json', cookie: stale });
    assert.equal(res.status, 401);
  });
});

describe('nginx mode: the second factor, judged on the client address nginx believes', () => {
  let m: NginxMode;
  let alice: Client;
  const keyDir = mkdtempSync(join(tmpdir(), 'sag-nginx-mfa-'));
  const keyFile = join(keyDir, 'mfa_key');
  writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  before(async () => {
    // The client itself stands in for the load balancer: nginx believes its X-Forwarded-For.
    m = await startNginxMode({ mfa: { require: 'outside', trustedNetworks: ['127.0.0.0/8'], methods: ['totp'], keyFile }, nginx: { realIpFrom: ['127.0.0.1'] } });
    alice = new Client(m.nginx.url);
    const res = await alice.login('alice', DEMO_PASSWORD, '/organizations/acme/');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/organizations/acme/', 'from the trusted network the password is enough');
  });
  after(async () => {
    await m?.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  test('from the trusted network the password-only session reaches Sentry', async () => {
    const seen = await sentrySaw(await alice.get('/organizations/acme/', { accept: 'application/json' }));
    assert.ok(seen.headers['x-sentry-gateway-assertion']);
  });

  test('the same cookie from outside is sent to the second-factor step, and Sentry sees nothing', async () => {
    const away = { 'x-forwarded-for': '192.0.2.7' };
    const page = await alice.get('/organizations/acme/issues/?query=is%3Aunresolved', away);
    assert.equal(page.status, 302);
    assert.equal(page.headers.get('location'), `/_gateway/mfa?next=${encodeURIComponent('/organizations/acme/issues/?query=is%3Aunresolved')}`);
    const api = await alice.get('/api/0/organizations/', { accept: 'application/json', ...away });
    assert.equal(api.status, 401);
    assert.equal(api.headers.get('www-authenticate'), null);
  });
});

describe('nginx mode: a decision that changes between the two asks never hands the client an assertion', () => {
  // The refusal page is asked for a second time (the forward style); a decision can differ between the two (Redis
  // back, a sign-in in between). A stand-in for the gateway plays that: the first ask refuses (404), the second
  // answers 200 with an assertion. nginx must pass neither the assertion nor the route class to the client.
  let t: TestGateway;
  let nginx: RunningNginx;
  let standIn: Server;
  const asked: { url: string; headers: Record<string, string | string[] | undefined> }[] = [];
  before(async () => {
    standIn = createServer((req, res) => {
      asked.push({ url: req.url ?? '', headers: req.headers });
      if (req.url === '/_gateway/auth') res.writeHead(403, { 'X-Sag-Status': '404', 'Content-Length': '0' });
      else res.writeHead(200, { 'X-Sentry-Gateway-Assertion': 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln', 'X-Sag-Route': 'session', 'Content-Length': '0' });
      res.end();
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', resolve));
    const port = await freePort();
    t = await startTestGateway({ server: { publicUrl: `http://127.0.0.1:${port}` }, nginx: { enabled: true, listen: `127.0.0.1:${port}` } });
    const gatewayUrl = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
    nginx = await startNginx(nginxConfig({ ...t.config, nginx: { ...t.config.nginx, gatewayUrl } }), port);
  });
  after(async () => {
    await nginx?.close();
    await t?.close();
    standIn?.closeAllConnections();
    await new Promise((resolve) => standIn?.close(resolve));
  });

  test('the second ask answers 200 with an assertion: the client sees neither it nor the route class', async () => {
    const res = await raw(nginx.url, '/organizations/acme/?x=1', { headers: { accept: 'text/html', 'x-sag-uri': '/organizations/acme/' } });
    assert.deepEqual(asked.map((a) => a.url), ['/_gateway/auth', '/_gateway/auth?style=forward'], 'asked twice, the second time in the forward style alone');
    assert.equal(asked[1]!.headers['x-forwarded-uri'], '/organizations/acme/?x=1');
    assert.equal(asked[1]!.headers['x-sag-uri'], undefined, "the client's own X-Sag-Uri is not passed on");
    assert.equal(res.headers['x-sentry-gateway-assertion'], undefined);
    assert.equal(res.headers['x-sag-route'], undefined);
    assert.doesNotMatch(res.body, /eyJ/);
  });
});

describe('GET /_gateway/auth, asked directly as nginx asks it', () => {
  let t: TestGateway;
  let alice: Client;
  let stranger: TestGateway;
  before(async () => {
    t = await startTestGateway({ nginx: { enabled: true } });
    alice = new Client(t.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
    // The mode on, but this test's loopback address is no proxy the gateway trusts.
    stranger = await startTestGateway({ nginx: { enabled: true }, server: { trustProxy: '10.0.0.5' } });
  });
  after(async () => {
    await t?.close();
    await stranger?.close();
  });

  const ask = (base: string, uri: string | undefined, headers: Record<string, string> = {}) =>
    fetch(`${base}/_gateway/auth`, { headers: { 'x-sag-method': 'GET', ...(uri !== undefined ? { 'x-sag-uri': uri } : {}), accept: 'application/json', ...headers }, redirect: 'manual' });

  test('a signed-in request: 200 with the assertion and its class, never a cookie, never cached by anyone else', async () => {
    const res = await ask(t.url, '/organizations/acme/', { cookie: alice.cookieHeader() });
    assert.equal(res.status, 200);
    assert.ok(res.headers.get('x-sentry-gateway-assertion'));
    assert.equal(res.headers.get('x-sag-route'), 'session');
    assert.equal(res.headers.get('set-cookie'), null);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    await res.arrayBuffer();
    // Recorded when the response closes on the gateway's side, just after the client has it all.
    const counted = /sag_proxy_request_duration_seconds_count\{route_class="decision",status="200"\} [1-9]/;
    let body = '';
    for (let i = 0; i < 50 && !counted.test(body); i++) {
      if (i) await sleep(20);
      body = (await t.gw.deps.metrics.text()).body;
    }
    assert.match(body, counted, 'counted as a decision, not as a gateway page');
  });

  test('anonymous: 401 with the status meant and no WWW-Authenticate; a page load carries the sign-in URL', async () => {
    const xhr = await ask(t.url, '/organizations/acme/');
    assert.equal(xhr.status, 401);
    assert.equal(xhr.headers.get('x-sag-status'), '401');
    assert.equal(xhr.headers.get('www-authenticate'), null);
    assert.equal(xhr.headers.get('set-cookie'), null);
    assert.equal(xhr.headers.get('x-sentry-gateway-assertion'), null);
    const page = await ask(t.url, '/organizations/acme/?a=1', { accept: 'text/html' });
    assert.equal(page.status, 401);
    assert.equal(page.headers.get('x-sag-status'), '302');
    assert.equal(page.headers.get('x-sag-location'), `/_gateway/login?next=${encodeURIComponent('/organizations/acme/?a=1')}`);
  });

  test('without the original target it refuses (403, meant as 400): nothing is decided on a request it cannot see', async () => {
    const res = await ask(t.url, undefined, { cookie: alice.cookieHeader() });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-sag-status'), '400');
    assert.equal(res.headers.get('x-sentry-gateway-assertion'), null);
  });

  test('a peer server.trustProxy does not cover gets 404, as with the mode off', async () => {
    const res = await ask(stranger.url, '/organizations/acme/');
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('x-sag-status'), null);
  });
});

describe('nginx mode off', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway();
  });
  after(async () => {
    await t?.close();
  });

  test('/_gateway/auth is 404 even from a trusted peer', async () => {
    const res = await new Client(t.url).get('/_gateway/auth', { accept: 'application/json', 'x-sag-method': 'GET', 'x-sag-uri': '/' });
    assert.equal(res.status, 404);
  });
});
