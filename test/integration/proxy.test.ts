// The proxy over real HTTP: a gateway server on a free port in front of echo upstreams.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import type { GatewayError } from '../../src/errors.js';
import { createProxy, type SessionLookup } from '../../src/proxy/createProxy.js';
import { createLogger } from '../../src/shared/logger.js';
import { startEchoUpstream, type EchoRecord, type EchoUpstream } from '../support/echoUpstream.js';
import { API_KEY_BASIC, DSN, LEGACY_TOKEN, ORG_TOKEN, USER_TOKEN } from '../support/sentryTokens.js';

const PUBLIC = 'https://sentry.example.com';
const INTERNAL = 'http://sentry-internal.corp:9000';
const ASSERTION = 'signed.assertion.value';
const ONE_GIB = 1024 ** 3;

interface Gateway {
  url: string;
  port: number;
  logs: string[];
  close(): Promise<void>;
}

const BYPASS_PREFIX = '/public-status/';

async function startGateway(upstream: Partial<ConfigInput['upstream']> & { url: string }): Promise<Gateway> {
  const config = configSchema.parse({
    server: { publicUrl: PUBLIC },
    upstream: { rewriteOrigins: [INTERNAL], ...upstream },
    ldap: { urls: ['ldaps://dc.test'], bindDn: 'CN=svc', bindPasswordFile: '/dev/null', baseDn: 'DC=test' },
    bypass: { paths: [BYPASS_PREFIX] },
  });
  const logs: string[] = [];
  const logger = createLogger('info', new Writable({ write: (c, _e, done) => (logs.push(String(c)), done()) }));
  const proxy = createProxy({
    config,
    logger,
    async lookupSession(req): Promise<SessionLookup> {
      const cookie = req.headers.cookie ?? '';
      if (/(^|;\s*)sag_session=down(;|$)/.test(cookie)) return { status: 'unavailable' };
      if (!/(^|;\s*)sag_session=good(;|$)/.test(cookie)) return { status: 'none' };
      return { status: 'ok', sessionId: 'sid-1', identity: { sub: 'guid', username: 'alice' } as never };
    },
    assertionFor: async () => ASSERTION,
    gatewayApp(req, res) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`gateway ${req.url}`);
    },
    renderError(_req: IncomingMessage, res: ServerResponse, err: GatewayError) {
      res.writeHead(err.status, { 'Content-Type': 'application/json', ...err.headers });
      res.end(JSON.stringify({ error: err.code }));
    },
  });
  const server = http.createServer(proxy.onRequest);
  server.on('upgrade', proxy.onUpgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    logs,
    async close() {
      proxy.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json<T = EchoRecord>(): T;
}

function call(base: string, path: string, opts: { method?: string; headers?: OutgoingHttpHeaders; body?: Readable | string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = http.request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString()) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body instanceof Readable) opts.body.pipe(req);
    else req.end(opts.body);
  });
}

let web: EchoUpstream;
let ingest: EchoUpstream;
let gw: Gateway;

before(async () => {
  web = await startEchoUpstream();
  ingest = await startEchoUpstream();
  gw = await startGateway({ url: web.url, ingestUrl: ingest.url, maxBodyBytes: ONE_GIB + 1024 });
});
after(async () => {
  await gw.close();
  await web.close();
  await ingest.close();
});

describe('session requests', () => {
  it('forward with the assertion and without anything a client could spoof', async () => {
    const r = await call(gw.url, '/organizations/acme/issues/?query=is%3Aunresolved', {
      headers: {
        Cookie: 'sentrysid=abc123; sag_session=good; sc=tok',
        'X-Forwarded-User': 'admin',
        'X-Remote-User': 'admin',
        'Remote-User': 'admin',
        'X-Auth-Request-Email': 'admin@example.com',
        'X-Sentry-Gateway-Assertion': 'forged',
        'X-Forwarded-For': '6.6.6.6',
        'X-Forwarded-Host': 'evil.example',
        'X-Forwarded-Proto': 'http',
        Forwarded: 'for=6.6.6.6',
        Connection: 'keep-alive, X-Secret-Hop',
        'X-Secret-Hop': 'hop',
        'Proxy-Authorization': 'Basic eA==',
      },
    });
    assert.equal(r.status, 200);
    const seen = r.json();
    assert.equal(seen.url, '/organizations/acme/issues/?query=is%3Aunresolved');
    assert.equal(seen.headers['x-sentry-gateway-assertion'], ASSERTION);
    assert.equal(seen.headers.cookie, 'sentrysid=abc123; sc=tok');
    for (const h of ['x-forwarded-user', 'x-remote-user', 'remote-user', 'x-auth-request-email', 'forwarded', 'x-secret-hop', 'proxy-authorization']) {
      assert.equal(seen.headers[h], undefined, h);
    }
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-host'], 'sentry.example.com');
    assert.equal(seen.headers.host, 'sentry.example.com');
    assert.equal(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-sentry-gateway-assertion').length, 1);
  });

  it('send a browser without a session to the login page, keeping where it was going', async () => {
    const r = await call(gw.url, '/organizations/acme/issues/?query=a%20b', { headers: { Accept: 'text/html,application/xhtml+xml' } });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, `/_gateway/login?next=${encodeURIComponent('/organizations/acme/issues/?query=a%20b')}`);
  });

  it('answer API calls and unsafe methods without a session with a 401', async () => {
    for (const [method, accept] of [['GET', 'application/json'], ['POST', 'text/html'], ['GET', '*/*']] as const) {
      const r = await call(gw.url, '/api/0/projects/', { method, headers: { Accept: accept, Cookie: 'sag_session=bad' } });
      assert.equal(r.status, 401, `${method} ${accept}`);
      assert.deepEqual(r.json(), { error: 'authentication_required', login: '/_gateway/login' });
    }
  });

  it('fail closed with 503 when the session store is down, never a login redirect', async () => {
    const r = await call(gw.url, '/organizations/acme/', { headers: { Accept: 'text/html', Cookie: 'sag_session=down' } });
    assert.equal(r.status, 503);
    assert.deepEqual(r.json(), { error: 'GW_SESSION_STORE_UNAVAILABLE' });
  });

  it('do not treat a DSN Authorization header as a token', async () => {
    const r = await call(gw.url, '/api/0/projects/', { headers: { Authorization: 'DSN https://k@sentry.example.com/1', Cookie: 'sentrysid=x' } });
    assert.equal(r.status, 401);
  });
});

describe('anonymous classes', () => {
  it('ingestion goes to ingestUrl without cookies or identity, OPTIONS included', async () => {
    for (const method of ['POST', 'OPTIONS']) {
      const r = await call(gw.url, '/api/123/envelope/?sentry_key=abc', {
        method,
        headers: { Cookie: 'sentrysid=abc; sag_session=good', 'X-Sentry-Gateway-Assertion': 'forged', 'X-Remote-User': 'x' },
        body: method === 'POST' ? '{"event_id":"1"}' : undefined,
      });
      assert.equal(r.status, 200);
      const seen = r.json();
      assert.equal(ingest.lastRequest?.url, '/api/123/envelope/?sentry_key=abc');
      assert.equal(seen.method, method);
      assert.equal(seen.headers.cookie, undefined);
      assert.equal(seen.headers['x-sentry-gateway-assertion'], undefined);
      assert.equal(seen.headers['x-remote-user'], undefined);
    }
  });

  it('token API keeps Authorization and drops Cookie', async () => {
    const r = await call(gw.url, '/api/0/projects/', { headers: { Authorization: `Bearer ${ORG_TOKEN}`, Cookie: 'sentrysid=abc; sag_session=good' } });
    assert.equal(r.status, 200);
    const seen = r.json();
    assert.equal(seen.headers.authorization, `Bearer ${ORG_TOKEN}`);
    assert.equal(seen.headers.cookie, undefined);
    assert.equal(seen.headers['x-sentry-gateway-assertion'], undefined);
  });
});

describe('which credentials open /api/0/ without a session', () => {
  it('each shape Sentry issues and accepts goes to Sentry as token API, without the cookie', async () => {
    for (const authorization of [`Bearer ${USER_TOKEN}`, `Bearer ${ORG_TOKEN}`, `bearer ${LEGACY_TOKEN}`, API_KEY_BASIC, `DSN ${DSN}`]) {
      web.lastRequest = undefined;
      const r = await call(gw.url, '/api/0/projects/', { headers: { Authorization: authorization, Cookie: 'sentrysid=abc' } });
      assert.equal(r.status, 200, authorization);
      const seen = r.json();
      assert.equal(seen.headers.authorization, authorization);
      assert.equal(seen.headers.cookie, undefined);
      assert.equal(seen.headers['x-sentry-gateway-assertion'], undefined);
    }
  });

  it('a string that only looks like a token needs a session: 401, and Sentry never sees it', async () => {
    for (const authorization of ['Bearer x', 'Bearer sntrys_abc', 'Bearer sntryu_abc', `Bearer ${USER_TOKEN}-`, 'Basic dXNlcjo=', 'DSN abc', `Token ${USER_TOKEN}`]) {
      web.lastRequest = undefined;
      const r = await call(gw.url, '/api/0/projects/', {
        method: 'POST',
        headers: { Authorization: authorization, Accept: 'application/json' },
        body: '{}',
      });
      assert.equal(r.status, 401, authorization);
      assert.equal(web.lastRequest, undefined, `${authorization} reached Sentry`);
    }
  });

  it("Relay's and Sentry's internal APIs answer 404 from outside, with a token, a session or nothing", async () => {
    web.lastRequest = undefined;
    const before = web.upgrades;
    const paths = ['/api/0/relays/register/challenge/', '/api/0/relays/register/response/', '/api/0/relays/projectconfigs/?version=3', '/api/0/relays/', '/api/0/internal/health/', '/api/0/internal/'];
    for (const path of paths) {
      for (const headers of [{}, { Cookie: 'sag_session=good' }, { Authorization: `Bearer ${USER_TOKEN}` }, { Authorization: `Bearer ${ORG_TOKEN}` }]) {
        const r = await call(gw.url, path, { method: 'POST', headers, body: '{"relay_id":"x","public_key":"y","version":"24.1.0"}' });
        assert.equal(r.status, 404, `${path} ${JSON.stringify(headers)}`);
      }
      const ws = new WebSocket(`ws://127.0.0.1:${gw.port}${path}`, { origin: PUBLIC, headers: { Cookie: 'sag_session=good' } });
      assert.equal(await handshakeStatus(ws), 404, `WebSocket ${path}`);
    }
    assert.equal(web.lastRequest, undefined, 'Sentry saw none of them');
    assert.equal(web.upgrades, before);
  });
});

describe('client-address and override headers', () => {
  // Relay takes the first of CF-Connecting-IP, X-Vercel-Forwarded-For, X-Sentry-Forwarded-For and X-Forwarded-For.
  const claimed = {
    'CF-Connecting-IP': '6.6.6.1',
    'X-Vercel-Forwarded-For': '6.6.6.2',
    'X-Sentry-Forwarded-For': '6.6.6.3',
    'X-Forwarded-For': '6.6.6.4',
    'X-Real-IP': '6.6.6.5',
    'True-Client-IP': '6.6.6.6',
    'X-Client-IP': '6.6.6.7',
    'X-Original-URL': '/api/0/relays/register/challenge/',
    'X-Rewrite-URL': '/api/0/internal/',
    'X-HTTP-Method-Override': 'DELETE',
  };
  const gone = (headers: http.IncomingHttpHeaders, what: string) => {
    for (const name of Object.keys(claimed)) if (name !== 'X-Forwarded-For') assert.equal(headers[name.toLowerCase()], undefined, `${what}: ${name}`);
    assert.equal(headers['x-forwarded-for'], '127.0.0.1', `${what}: the client's address is the one the gateway saw`);
  };

  it('never reach Sentry or Relay from a signed-in page, a token call, ingestion or a bypass path', async () => {
    const cases: [string, string, OutgoingHttpHeaders, () => EchoRecord | undefined][] = [
      ['signed-in', '/organizations/acme/', { Cookie: 'sag_session=good' }, () => web.lastRequest],
      ['token API', '/api/0/projects/', { Authorization: `Bearer ${USER_TOKEN}` }, () => web.lastRequest],
      ['ingestion', '/api/42/envelope/', {}, () => ingest.lastRequest],
      ['bypass path', `${BYPASS_PREFIX}status.json`, {}, () => web.lastRequest],
    ];
    for (const [what, path, headers, seen] of cases) {
      web.lastRequest = ingest.lastRequest = undefined;
      const r = await call(gw.url, path, { method: 'POST', headers: { ...claimed, ...headers }, body: '{}' });
      assert.equal(r.status, 200, what);
      assert.equal(seen()?.url, path, what);
      gone(seen()!.headers, what);
    }
  });

  it('never reach Sentry on a WebSocket handshake', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/api/0/live/`, { origin: PUBLIC, headers: { Cookie: 'sag_session=good', ...claimed } });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.on('error', reject);
    });
    ws.close();
    gone((JSON.parse(first) as { headers: http.IncomingHttpHeaders }).headers, 'WebSocket');
  });
});

/** The status a WebSocket handshake was answered with (101 once it opened). */
function handshakeStatus(ws: WebSocket): Promise<number> {
  return new Promise<number>((resolve) => {
    ws.on('unexpected-response', (_req, res) => (resolve(res.statusCode ?? 0), res.resume(), ws.terminate()));
    ws.on('open', () => (resolve(101), ws.close()));
    ws.on('error', () => resolve(0));
  });
}

describe('gateway-owned routes', () => {
  it('hand /_gateway/… to the gateway app', async () => {
    const r = await call(gw.url, '/_gateway/me');
    assert.equal(r.body.toString(), 'gateway /_gateway/me');
  });

  it("redirect Sentry's login and logout to ours", async () => {
    const login = await call(gw.url, '/auth/login/?next=%2Forganizations%2Facme%2F');
    assert.equal(login.status, 302);
    assert.equal(login.headers.location, '/_gateway/login?next=%2Forganizations%2Facme%2F');
    const offsite = await call(gw.url, '/auth/login/?next=https://evil.example/');
    assert.equal(offsite.headers.location, '/_gateway/login');
    const logout = await call(gw.url, '/auth/logout/');
    assert.equal(logout.status, 302);
    assert.equal(logout.headers.location, '/_gateway/logout');
  });

  it("never forward the Sentry-side module's internal endpoints, signed in or with a token", async () => {
    web.lastRequest = undefined;
    for (const headers of [{}, { Cookie: 'sag_session=good' }, { Authorization: `Bearer ${USER_TOKEN}` }, { 'X-Sentry-Gateway-Assertion': 'forged' }]) {
      const r = await call(gw.url, '/_sentry-ad-gateway/offboard/', { method: 'POST', headers });
      assert.equal(r.status, 404, JSON.stringify(headers));
    }
    assert.equal(web.lastRequest, undefined, 'Sentry saw none of them');
  });

  it('refuse paths that do not normalise to themselves', async () => {
    for (const path of ['/api/123/..%2f..%2fapi/0/', '/api/123/../0/projects/', '/api/%252e%252e/', '//evil/', '/api/0//auth/', '/api/0//relays/register/challenge/']) {
      web.lastRequest = undefined;
      const r = await call(gw.url, path, { headers: { Cookie: 'sag_session=good', Authorization: `Bearer ${USER_TOKEN}` } });
      assert.equal(r.status, 400, path);
      assert.deepEqual(r.json(), { error: 'GW_BAD_PATH' });
      assert.equal(web.lastRequest, undefined, `${path} was forwarded`);
    }
  });
});

describe('upstream answers', () => {
  const SESSION = { Cookie: 'sag_session=good' };

  it('rewrite Location and Refresh that point at an upstream origin', async () => {
    const cases: [string, string][] = [
      [`${web.url}/organizations/acme/?x=1`, `${PUBLIC}/organizations/acme/?x=1`],
      [`${INTERNAL}/accept/1/tok/`, `${PUBLIC}/accept/1/tok/`],
      ['https://other.example/x', 'https://other.example/x'],
      ['/relative/path/', '/relative/path/'],
    ];
    for (const [to, expected] of cases) {
      const r = await call(gw.url, `/__redirect?to=${encodeURIComponent(to)}`, { headers: SESSION });
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, expected);
    }
    const refresh = await call(gw.url, `/__redirect?header=refresh&to=${encodeURIComponent(`${INTERNAL}/x/`)}`, { headers: SESSION });
    assert.equal(refresh.headers.refresh, `0;url=${PUBLIC}/x/`);
  });

  it('rewrite the chunk-upload url on the token path and the session path, even gzipped', async () => {
    web.chunkUploadOrigin = INTERNAL;
    const variants: OutgoingHttpHeaders[] = [
      { Authorization: `Bearer ${ORG_TOKEN}`, 'Accept-Encoding': 'gzip' },
      { Authorization: `Bearer ${ORG_TOKEN}`, 'X-Echo-Force-Gzip': '1' },
      { ...SESSION, 'Accept-Encoding': 'gzip, br' },
    ];
    for (const headers of variants) {
      const r = await call(gw.url, '/api/0/organizations/acme/chunk-upload/', { headers });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], undefined);
      assert.equal(Number(r.headers['content-length']), r.body.length);
      const body = r.json<{ url: string; chunkSize: number; acceptEncoding: string }>();
      assert.equal(body.url, `${PUBLIC}/api/0/organizations/acme/chunk-upload/`);
      assert.equal(body.chunkSize, 8388608);
      assert.equal(body.acceptEncoding, 'identity');
    }
    web.chunkUploadOrigin = web.url;
  });

  it('pass other compressed answers through untouched', async () => {
    const r = await call(gw.url, '/__gzip', { headers: { ...SESSION, 'Accept-Encoding': 'gzip' } });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.body[0], 0x1f);
  });

  it('stream a large answer', async () => {
    const r = await call(gw.url, '/__large?bytes=33554432', { headers: SESSION });
    assert.equal(r.body.length, 33554432);
  });
});

describe('upstream failures and limits', () => {
  let small: Gateway;
  let down: Gateway;
  before(async () => {
    small = await startGateway({ url: web.url, timeout: '300ms', maxBodyBytes: 1024 * 1024 });
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    down = await startGateway({ url: `http://127.0.0.1:${deadPort}` });
  });
  after(async () => {
    await small.close();
    await down.close();
  });

  it('a GET whose kept-alive upstream connection was closed under it is retried on a new one; a POST is not', async () => {
    // Like an app server recycling workers: the second request on any connection finds it closed.
    const seen = new Map<object, number>();
    const posts: string[] = [];
    const flaky = http.createServer((req, res) => {
      const n = (seen.get(req.socket) ?? 0) + 1;
      seen.set(req.socket, n);
      if (n > 1) return void req.socket.destroy();
      if (req.method === 'POST') posts.push(req.url ?? '');
      req.resume();
      req.on('end', () => res.end('fine'));
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const gw = await startGateway({ url: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}` });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await call(gw.url, '/api/0/projects/', { headers: { Authorization: `Bearer ${USER_TOKEN}` } })).status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
      const post = await call(gw.url, '/api/0/projects/acme/', { method: 'POST', headers: { Authorization: `Bearer ${USER_TOKEN}` }, body: '{}' });
      const again = await call(gw.url, '/api/0/projects/acme/', { method: 'POST', headers: { Authorization: `Bearer ${USER_TOKEN}` }, body: '{}' });
      assert.deepEqual([post.status, again.status].sort(), [200, 502], 'the POST that met a closed connection is answered 502, not sent twice');
      assert.equal(posts.length, 1);
    } finally {
      await gw.close();
      flaky.closeAllConnections();
      await new Promise<void>((resolve) => flaky.close(() => resolve()));
    }
  });

  it('interim 1xx answers from the upstream are not relayed; the final answer is', async () => {
    const hinting = http.createServer((_req, res) => {
      res.writeEarlyHints({ link: '</static/app.js>; rel=preload; as=script' });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('after hints');
    });
    await new Promise<void>((resolve) => hinting.listen(0, '127.0.0.1', resolve));
    const gw = await startGateway({ url: `http://127.0.0.1:${(hinting.address() as AddressInfo).port}` });
    try {
      const r = await call(gw.url, '/api/0/projects/', { headers: { Authorization: `Bearer ${USER_TOKEN}` } });
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'after hints');
    } finally {
      await gw.close();
      hinting.closeAllConnections();
      await new Promise<void>((resolve) => hinting.close(() => resolve()));
    }
  });

  it('502 when the upstream is unreachable', async () => {
    const r = await call(down.url, '/api/0/projects/', { headers: { Authorization: `Bearer ${USER_TOKEN}` } });
    assert.equal(r.status, 502);
    assert.deepEqual(r.json(), { error: 'GW_UPSTREAM_UNAVAILABLE' });
  });

  it('504 when the upstream does not answer in time', async () => {
    const r = await call(small.url, '/__hang', { headers: { Cookie: 'sag_session=good' } });
    assert.equal(r.status, 504);
    assert.deepEqual(r.json(), { error: 'GW_UPSTREAM_TIMEOUT' });
  });

  it('drop the upstream request when the client goes away', async () => {
    const arrived = once(web.events, 'hang');
    const req = http.request(`${gw.url}/__hang`, { agent: false, headers: { Cookie: 'sag_session=good' } });
    req.on('error', () => {});
    req.end();
    await arrived;
    const closed = once(web.events, 'hangClosed');
    req.destroy();
    await closed;
  });

  it('413 for a declared length over the limit, before the upstream is contacted', async () => {
    web.lastRequest = undefined;
    const r = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${small.url}/api/0/upload/`, {
        method: 'POST',
        agent: false,
        headers: { Authorization: `Bearer ${USER_TOKEN}`, 'Content-Length': String(2 * 1024 * 1024) },
      });
      req.on('response', (res) => (res.resume(), resolve(res.statusCode ?? 0)));
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(r, 413);
    assert.equal(web.lastRequest, undefined);
  });

  it('413 for a chunked body that grows past the limit', async () => {
    const body = Readable.from((function* () {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, 1);
    })());
    const r = await call(small.url, '/api/0/upload/', { method: 'POST', headers: { Authorization: `Bearer ${USER_TOKEN}`, 'Transfer-Encoding': 'chunked' }, body }).catch(
      (e: Error) => ({ status: -1, error: e }),
    );
    assert.equal(r.status, 413);
  });
});

describe('large uploads', () => {
  it('stream 1 GiB through the token path with bounded memory', { timeout: 180_000 }, async () => {
    const block = randomBytes(64 * 1024);
    const expected = createHash('sha256');
    let left = ONE_GIB;
    const body = new Readable({
      read() {
        if (left === 0) return void this.push(null);
        left -= block.length;
        expected.update(block);
        this.push(block);
      },
    });
    // Warm the path first so one-time costs (JIT, heap sizing) are not counted as upload growth.
    await call(gw.url, '/api/0/warm/', { method: 'POST', headers: { Authorization: `Bearer ${USER_TOKEN}` }, body: Readable.from([Buffer.alloc(16 * 1024 * 1024)]) });
    const base = process.memoryUsage.rss();
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
    const started = performance.now();
    const r = await call(gw.url, '/api/0/organizations/acme/releases/1.0/files/', {
      method: 'POST',
      headers: { Authorization: `Bearer ${ORG_TOKEN}`, 'Content-Length': String(ONE_GIB), 'Content-Type': 'application/octet-stream' },
      body,
    });
    clearInterval(sampler);
    const seconds = (performance.now() - started) / 1000;
    const growthMiB = (peak - base) / 1024 / 1024;
    console.log(`1 GiB upload: ${seconds.toFixed(1)} s, RSS growth ${growthMiB.toFixed(1)} MiB`);
    assert.equal(r.status, 200);
    const seen = r.json();
    assert.equal(seen.bodyLength, ONE_GIB);
    assert.equal(seen.bodySha256, expected.digest('hex'));
    assert.ok(growthMiB < 64, `RSS grew ${growthMiB.toFixed(1)} MiB`);
  });
});

describe('WebSocket upgrades', () => {
  const wsUrl = () => `ws://127.0.0.1:${gw.port}/api/0/live/`;

  it('pass through with a session, carrying the assertion and not the gateway cookie', async () => {
    const ws = new WebSocket(wsUrl(), { origin: PUBLIC, headers: { Cookie: 'sag_session=good; sentrysid=abc', 'X-Sentry-Gateway-Assertion': 'forged' } });
    const messages: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        messages.push(String(data));
        if (messages.length === 1) ws.send('ping-through-gateway');
        else resolve();
      });
      ws.on('error', reject);
    });
    await done;
    ws.close();
    const handshake = JSON.parse(messages[0]!) as { headers: Record<string, string> };
    assert.equal(handshake.headers['x-sentry-gateway-assertion'], ASSERTION);
    assert.equal(handshake.headers.cookie, 'sentrysid=abc');
    assert.equal(handshake.headers['x-forwarded-proto'], 'https');
    assert.equal(messages[1], 'ping-through-gateway');
  });

  it('refuse a signed-in handshake from another origin, or with none, as forms do: 403, and Sentry never sees it', async () => {
    const before = web.upgrades;
    for (const origin of ['https://evil.example', 'null', 'http://sentry.example.com', 'https://sentry.example.com:8443', 'https://sentry.example.com.evil', undefined]) {
      const ws = new WebSocket(wsUrl(), { ...(origin !== undefined ? { origin } : {}), headers: { Cookie: 'sag_session=good' } });
      assert.equal(await handshakeStatus(ws), 403, `Origin ${origin ?? '(none)'}`);
    }
    assert.equal(web.upgrades, before);
  });

  it('a token handshake carries no ambient credential and needs no Origin', async () => {
    const ws = new WebSocket(wsUrl(), { headers: { Authorization: `Bearer ${USER_TOKEN}` } });
    assert.equal(await handshakeStatus(ws), 101);
  });

  it('refuse without a session', async () => {
    const ws = new WebSocket(wsUrl(), { origin: PUBLIC });
    const status = await new Promise<number>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('opened without a session')));
      ws.on('error', () => {});
    });
    assert.equal(status, 401);
  });
});

describe('request log', () => {
  it('has one line per request with the path but never the query or headers', async () => {
    gw.logs.length = 0;
    await call(gw.url, '/api/0/projects/?token=supersecret', { headers: { Authorization: `Bearer ${USER_TOKEN}`, 'X-Request-Id': 'req-42' } });
    await new Promise((r) => setImmediate(r));
    const lines = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.reqId, 'req-42');
    assert.equal(lines[0]!.path, '/api/0/projects/');
    assert.equal(lines[0]!.route, 'tokenApi');
    assert.equal(lines[0]!.status, 200);
    assert.ok(!gw.logs.join('').includes('supersecret'));
    assert.ok(!gw.logs.join('').includes(USER_TOKEN));
  });
});

describe('request smuggling and header tricks', () => {
  async function rawExchange(bytes: string): Promise<string> {
    const net = await import('node:net');
    return new Promise((resolve, reject) => {
      const sock = net.connect(gw.port, '127.0.0.1', () => sock.write(bytes));
      let got = '';
      sock.on('data', (d) => {
        got += d.toString('latin1');
        if (/\r\n\r\n/.test(got)) setTimeout(() => sock.end(), 200);
      });
      sock.on('end', () => resolve(got));
      sock.on('error', reject);
    });
  }

  const inner = 'GET /api/0/organizations/acme/members/ HTTP/1.1\r\nHost: x\r\nX-Smuggled: 1\r\n\r\n';

  it('a chunked body on a GET reaches upstream as that GET’s body, never as a second request', async () => {
    const chunk = `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`;
    const reply = await rawExchange(`GET /api/1/envelope/ HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n${chunk}`);
    assert.match(reply, /^HTTP\/1\.1 200/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(ingest.lastRequest?.url, '/api/1/envelope/');
    assert.equal(ingest.lastRequest?.bodyLength, inner.length);
  });

  it('Connection: content-length cannot strip the framing of a body: the request is refused, the body never read as a request', async () => {
    const before = ingest.lastRequest;
    const reply = await rawExchange(`OPTIONS /api/1/envelope/ HTTP/1.1\r\nHost: gw\r\nContent-Length: ${inner.length}\r\nConnection: content-length\r\n\r\n${inner}`);
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.match(reply, /GW_BAD_CONNECTION_HEADER/);
    assert.equal((reply.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one answer: the body was not parsed as a second request');
    assert.equal(ingest.lastRequest, before, 'nothing was forwarded');
  });

  it('identity headers spelt with underscores never reach Sentry', async () => {
    const r = await call(gw.url, '/organizations/acme/', {
      headers: { Cookie: 'sag_session=good', X_Sentry_Gateway_Assertion: 'forged', X_Forwarded_User: 'admin', X_Forwarded_Host: 'evil.example' },
    });
    const seen = r.json();
    assert.equal(seen.headers['x-sentry-gateway-assertion'], ASSERTION);
    for (const name of Object.keys(seen.headers)) assert.ok(!name.includes('_'), name);
  });
});
