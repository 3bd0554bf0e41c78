// Hostile input against the real gateway (real Samba AD, real Redis, real HTTP): generated paths,
// request smuggling over a raw socket, oversized headers and bodies, forged cookies, and sign-in
// forms with overlong, broken, LDAP-syntax and look-alike credentials. Each gets a clear 4xx, and
// nothing reaches Sentry (a recording upstream) or AD that should not.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import signature from 'cookie-signature';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { ANONYMOUS_CLASSES, classifyRequest } from '../../src/proxy/classifyRequest.js';
import { normalisePath } from '../../src/proxy/normalisePath.js';
import { SESSION_PREFIX } from '../../src/session/sessionStore.js';
import { sambaTool } from '../support/dc.js';
import { runCli } from '../support/cli.js';
import { Client, decodeHtml, sessionSecretOf, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';
import { framingCases, hostilePath, smuggledPage } from '../support/hostilePaths.js';
import { rawExchange as rawBytes } from '../support/rawHttp.js';
import { startRecordingUpstream, type Arrival, type RecordingUpstream } from '../support/recordingUpstream.js';
import { API_KEY_BASIC, DSN, ORG_TOKEN, USER_TOKEN } from '../support/sentryTokens.js';

const MAX_BODY = 1024 * 1024;
const BYPASS_PREFIX = '/public-status/';

let t: TestGateway;
let web: RecordingUpstream;
let ingest: RecordingUpstream;
let redis: Redis;
let port: number;

before(async () => {
  web = await startRecordingUpstream();
  ingest = await startRecordingUpstream();
  t = await startTestGateway({
    upstream: { url: web.url, ingestUrl: ingest.url, maxBodyBytes: MAX_BODY },
    bypass: { paths: [BYPASS_PREFIX] },
  });
  port = Number(new URL(t.url).port);
  redis = new Redis(testRedisUrl());
});
after(async () => {
  redis?.disconnect();
  await t?.close();
  await web?.close();
  await ingest?.close();
});

const allArrivals = (): Arrival[] => [...web.arrivals, ...ingest.arrivals];

/** Everything upstream saw must be a request docs/design.md §6 lets through without a session, judged by what arrived. */
function assertOnlyAnonymousArrived(since: { web: number; ingest: number } = { web: 0, ingest: 0 }): void {
  const check = (list: Arrival[], from: number, upstreamName: string) => {
    for (const a of list.slice(from)) {
      const target = normalisePath(a.url);
      const cls = classifyRequest({ path: target.path, authorization: a.headers.authorization }, t.config.bypass);
      assert.ok(ANONYMOUS_CLASSES.has(cls), `${upstreamName} received ${a.method} ${a.url} (${cls}) without a session`);
      assert.equal(upstreamName === 'ingest', cls === 'ingestion', `${a.url} went to the ${upstreamName} upstream as ${cls}`);
      assert.equal(a.headers.cookie, undefined, `${a.url} carried a Cookie upstream`);
      assert.equal(a.headers['x-sentry-gateway-assertion'], undefined, `${a.url} carried an assertion upstream`);
    }
  };
  check(web.arrivals, since.web, 'web');
  check(ingest.arrivals, since.ingest, 'ingest');
}

const mark = () => ({ web: web.arrivals.length, ingest: ingest.arrivals.length });

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
after(() => keepAlive.destroy());

function call(path: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Raw bytes on a fresh socket to the gateway: everything it answered until it closed (or went quiet). */
const rawExchange = (bytes: string | Buffer) => rawBytes(port, bytes);

// Not anchored to a line start: a body without a trailing newline runs straight into the next status line.
const statusLines = (text: string): number[] => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('generated paths over real HTTP, without a session', () => {
  test('nothing reaches the upstream unless its arrived path is ingestion, token API or a bypass path', async () => {
    const before = mark();
    const auth = fc.constantFrom(undefined, `Bearer ${ORG_TOKEN}`, `bearer ${USER_TOKEN}`, API_KEY_BASIC, `DSN ${DSN}`, 'Bearer sntrys_token', 'Basic a2V5Og==', 'Basic dXNlcjpwYXNz', 'DSN abc');
    const accept = fc.constantFrom('text/html', 'application/json');
    const method = fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE');
    // Connection headers that name the credential the request is judged by must not strip it on the way.
    const connection = fc.constantFrom(undefined, 'keep-alive', 'x-trace', 'authorization', 'keep-alive, Authorization', 'close,authorization');
    let forwarded = 0;
    await fc.assert(
      fc.asyncProperty(hostilePath, auth, accept, method, connection, async (path, authorization, acc, m, conn) => {
        const sent = mark();
        const headers: http.OutgoingHttpHeaders = { accept: acc, cookie: 'sentrysid=stolen; sag_session=s:forged.sig' };
        if (authorization) headers.authorization = authorization;
        if (conn) headers.connection = conn;
        const r = await call(path, { method: m, headers, body: m === 'POST' ? '{}' : undefined });
        const arrived = [...web.arrivals.slice(sent.web), ...ingest.arrivals.slice(sent.ingest)];
        assert.ok(arrived.length <= 1, `${path}: one request became ${arrived.length}`);
        if (arrived.length === 1) {
          forwarded++;
          assert.equal(arrived[0]!.url, path, 'forwarded byte for byte');
          assert.equal(r.status, 200);
        } else {
          // Refused (400), sent to sign in (302/401), answered by the gateway itself, or Sentry's login redirected.
          assert.ok([302, 400, 401, 403, 404, 405].includes(r.status) || (r.status === 200 && path.startsWith('/_gateway/')), `${m} ${path} → ${r.status}`);
        }
        assertOnlyAnonymousArrived(sent);
      }),
      { numRuns: 1200 },
    );
    assertOnlyAnonymousArrived(before);
    assert.ok(forwarded > 50, `the generator reached the anonymous routes (${forwarded} forwarded)`);
  });
});

describe('request smuggling and malformed framing over a raw socket', () => {
  const host = 'Host: 127.0.0.1\r\n';
  const smuggled = smuggledPage(host);
  const cases = framingCases(host, USER_TOKEN);
  for (const [name, bytes] of cases) {
    test(`${name}: 400, and no smuggled request reaches Sentry`, async () => {
      const since = mark();
      const answer = await rawExchange(bytes);
      const statuses = statusLines(answer);
      assert.ok(statuses.length >= 1, `an answer, got ${JSON.stringify(answer.slice(0, 120))}`);
      assert.equal(statuses[0], 400, `first answer ${answer.split('\r\n')[0]}`);
      // Whatever the socket carried after a framing error is never read as a request.
      assert.equal(statuses.length, 1, `one answer only: ${statuses.join(', ')}`);
      assertOnlyAnonymousArrived(since);
      const smuggledArrived = allArrivals().some((a) => a.url.startsWith('/organizations/'));
      assert.equal(smuggledArrived, false);
      assert.equal((await call('/_gateway/healthz')).status, 200, 'the gateway is still serving');
    });
  }

  test('pipelined requests are each judged on their own: the second, a session page, gets 401', async () => {
    const since = mark();
    const answer = await rawExchange(`POST /api/1/envelope/ HTTP/1.1\r\n${host}Content-Length: 2\r\n\r\n{}${smuggled.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`);
    assert.deepEqual(statusLines(answer), [200, 401], answer);
    const arrived = ingest.arrivals.slice(since.ingest);
    assert.deepEqual(arrived.map((a) => [a.url, a.bodyLength]), [['/api/1/envelope/', 2]]);
    assertOnlyAnonymousArrived(since);
  });

  test('a chunked body that contains a request is forwarded as that body, never as a request', async () => {
    const since = mark();
    const chunk = Buffer.from(smuggled);
    const answer = await rawExchange(`POST /api/1/envelope/ HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`);
    assert.deepEqual(statusLines(answer), [200]);
    assert.deepEqual(ingest.arrivals.slice(since.ingest).map((a) => [a.url, a.bodyLength, a.complete]), [['/api/1/envelope/', chunk.length, true]]);
    assert.equal(web.arrivals.length, since.web);
  });
});

describe('a Connection header naming a header the gateway decides on', () => {
  const apiGet = (connection: string, extra = '') =>
    `GET /api/0/projects/ HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nAuthorization: Bearer ${ORG_TOKEN}\r\n${extra}Connection: ${connection}\r\n\r\n`;
  const cases: [string, string][] = [
    ['Connection: authorization', apiGet('authorization')],
    ['Connection: keep-alive, Authorization', apiGet('keep-alive, Authorization')],
    ['Connection: close,authorization', apiGet('close,authorization')],
    ['Connection: cookie', apiGet('cookie', 'Cookie: sag_session=s:forged.sig\r\n')],
    ['Connection: host', apiGet('host')],
    ['Connection: X-Sentry-Gateway-Assertion', apiGet('close, X-Sentry-Gateway-Assertion')],
    ['Connection: content-length on a body', `POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close, content-length\r\n\r\n{}`],
    ['Connection: transfer-encoding on a chunked body', `POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding, close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`],
  ];
  for (const [name, bytes] of cases) {
    test(`${name}: 400 with a stable code, and nothing reaches Sentry`, async () => {
      const since = mark();
      const answer = await rawExchange(bytes);
      assert.deepEqual(statusLines(answer), [400], answer.split('\r\n')[0]);
      if (bytes.includes('Accept: application/json')) assert.equal(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error, 'bad_connection_header');
      assert.deepEqual(mark(), since, 'nothing was forwarded');
    });
  }

  test('the same rule holds for a WebSocket handshake', async () => {
    const since = mark();
    const answer = await rawExchange(
      `GET /api/0/projects/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ORG_TOKEN}\r\nUpgrade: websocket\r\nConnection: Upgrade, Authorization\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    assert.deepEqual(statusLines(answer), [400], answer.split('\r\n')[0]);
    assert.match(answer, /"error":"bad_connection_header"/);
    assert.deepEqual(mark(), since, 'nothing was forwarded');
  });

  test('Connection naming only hop-by-hop or unknown headers still passes, without them', async () => {
    const since = mark();
    const answer = await rawExchange(`GET /api/0/projects/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ORG_TOKEN}\r\nX-Trace: 1\r\nConnection: close, X-Trace\r\n\r\n`);
    assert.deepEqual(statusLines(answer), [200]);
    const arrived = web.arrivals.slice(since.web);
    assert.equal(arrived.length, 1);
    assert.equal(arrived[0]!.headers.authorization, `Bearer ${ORG_TOKEN}`, 'the token Sentry gets is the one the request was judged by');
    assert.equal(arrived[0]!.headers['x-trace'], undefined, 'a listed header stays on its hop');
  });
});

describe('oversized headers and bodies', () => {
  test('a 40 KiB header gets 431 and reaches nobody', async () => {
    const since = mark();
    const answer = await rawExchange(`GET /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`);
    assert.equal(statusLines(answer)[0], 431);
    assert.deepEqual(mark(), since);
  });

  test('a 40 KiB cookie gets 431', async () => {
    const answer = await rawExchange(`GET /organizations/acme/ HTTP/1.1\r\nHost: x\r\nCookie: sag_session=${'b'.repeat(40 * 1024)}\r\n\r\n`);
    assert.equal(statusLines(answer)[0], 431);
  });

  test('a declared body over upstream.maxBodyBytes gets 413 before anything is forwarded', async () => {
    const since = mark();
    const answer = await rawExchange(`POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\nxxxx`);
    assert.equal(statusLines(answer)[0], 413);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    assert.deepEqual(mark(), since);
  });

  test('a chunked body that grows past the limit gets 413 and the upstream copy is cut off', async () => {
    const since = mark();
    const block = 'x'.repeat(64 * 1024);
    const chunks = Array.from({ length: (2 * MAX_BODY) / block.length }, () => `${block.length.toString(16)}\r\n${block}\r\n`).join('');
    const answer = await rawExchange(`POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`);
    assert.equal(statusLines(answer)[0], 413);
    const arrived = ingest.arrivals.slice(since.ingest);
    assert.ok(arrived.every((a) => !a.complete && a.bodyLength <= MAX_BODY), JSON.stringify(arrived.map((a) => [a.bodyLength, a.complete])));
  });

  test('an event body cut short by a client that hangs up never reaches Sentry, and the gateway carries on', async () => {
    const since = mark();
    const answer = await rawExchange(`POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n${'{"event_id":'.repeat(10)}`);
    assert.equal(answer, '', 'nothing is answered to a body still being sent');
    assert.deepEqual(mark(), since, 'no partial envelope was forwarded');
    const next = await call('/api/1/envelope/', { method: 'POST', body: '{}' });
    assert.equal(next.status, 200);
  });

  test('a sign-in form over 8 KiB gets 413', async () => {
    const c = new Client(t.url);
    const res = await c.request('/_gateway/login', { method: 'POST', body: `username=${'a'.repeat(9000)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 413);
  });
});

/** Writes `bytes` on a fresh socket and waits for the gateway to close it (or gives up after `boundMs`). */
function untilClosed(toPort: number, bytes: string, boundMs = 20_000): Promise<{ answer: string; closedByGateway: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(toPort, '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    let gaveUp = false;
    // Only a bound for a gateway that never closes (the failure this guards against), not a timing assertion.
    const bound = setTimeout(() => ((gaveUp = true), socket.destroy()), boundMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    socket.on('close', () => {
      clearTimeout(bound);
      resolve({ answer: Buffer.concat(chunks).toString('latin1'), closedByGateway: !gaveUp });
    });
  });
}

const until = async (what: string, cond: () => boolean, boundMs = 10_000): Promise<void> => {
  const end = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('a body that stalls is cut off (server.bodyTimeout)', () => {
  let g: TestGateway;
  let slowWeb: RecordingUpstream;
  let slowIngest: RecordingUpstream;
  let gPort: number;
  before(async () => {
    slowWeb = await startRecordingUpstream();
    slowIngest = await startRecordingUpstream();
    // A short idle limit keeps the test quick; what is asserted is the 408 and the close, not the time.
    // One upstream connection per pool: the follow-up requests show a cut-off upload gave its connection back.
    g = await startTestGateway({ server: { bodyTimeout: '1s' }, upstream: { url: slowWeb.url, ingestUrl: slowIngest.url, maxConnections: 1 } });
    gPort = Number(new URL(g.url).port);
  });
  after(async () => {
    await g?.close();
    await slowWeb?.close();
    await slowIngest?.close();
  });

  const bodyOf = (answer: string) => answer.slice(answer.indexOf('\r\n\r\n') + 4);

  test('an envelope declaring 64 KiB that sends a few bytes gets 408, then the connection closes; nothing reaches Relay', async () => {
    const since = slowIngest.arrivals.length;
    const r = await untilClosed(gPort, 'POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nContent-Length: 65536\r\n\r\n{"event_id":');
    assert.ok(r.closedByGateway, 'the gateway closed the connection');
    assert.deepEqual(statusLines(r.answer), [408], r.answer.split('\r\n')[0]);
    assert.match(r.answer, /\r\nconnection: close\r\n/i);
    assert.equal(JSON.parse(bodyOf(r.answer)).error, 'body_timeout');
    assert.equal(slowIngest.arrivals.length, since, 'a partial envelope is never forwarded');
  });

  test('a bogus token with a large declared body gets 408, and its upstream connection is cut off and freed', async () => {
    const since = slowWeb.arrivals.length;
    const r = await untilClosed(
      gPort,
      `POST /api/0/projects/acme/app/files/dsyms/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ORG_TOKEN}\r\nContent-Length: 1048576\r\n\r\n${'x'.repeat(1000)}`,
    );
    assert.ok(r.closedByGateway, 'the gateway closed the connection');
    assert.deepEqual(statusLines(r.answer), [408]);
    const arrived = slowWeb.arrivals.slice(since);
    assert.equal(arrived.length, 1, 'the upload had started streaming to Sentry');
    // The anonymous pool has one connection: this only passes if the stalled upload released it.
    const next = await fetch(`${g.url}/api/0/projects/`, { headers: { authorization: `Bearer ${ORG_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
    assert.equal(next.status, 200);
    assert.equal(arrived[0]!.complete, false, 'Sentry never got a complete body');
  });

  test('a sign-in form that stalls gets 408 too', async () => {
    const r = await untilClosed(gPort, 'POST /_gateway/login HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n_csrf=abc&user');
    assert.ok(r.closedByGateway);
    assert.deepEqual(statusLines(r.answer), [408]);
    assert.match(bodyOf(r.answer), /body_timeout/);
  });

  test('a slow body that keeps arriving is not cut off: the limit is the silence between reads, not the whole upload', async () => {
    const since = slowIngest.arrivals.length;
    const piece = '{"a":1}\n';
    const pieces = 6;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(gPort, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('connect', async () => {
        socket.write(`POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${piece.length * pieces}\r\n\r\n`);
        // Well inside the 1 s limit each time, and well past it in total.
        for (let i = 0; i < pieces; i++) {
          await new Promise((r) => setTimeout(r, 300));
          socket.write(piece);
        }
      });
    });
    assert.deepEqual(statusLines(answer), [200], answer.split('\r\n')[0]);
    assert.deepEqual(slowIngest.arrivals.slice(since).map((a) => [a.bodyLength, a.complete]), [[piece.length * pieces, true]]);
  });
});

describe('anonymous uploads cannot starve signed-in staff of upstream connections', () => {
  let g: TestGateway;
  let poolWeb: RecordingUpstream;
  const held: net.Socket[] = [];
  before(async () => {
    poolWeb = await startRecordingUpstream();
    g = await startTestGateway({ upstream: { url: poolWeb.url, maxConnections: 2 } });
  });
  after(async () => {
    for (const s of held) s.destroy();
    await g?.close();
    await poolWeb?.close();
  });

  test('with every anonymous connection held by stalled token uploads, a signed-in page still loads', async () => {
    const alice = new Client(g.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
    const since = poolWeb.arrivals.length;
    const gPort = Number(new URL(g.url).port);
    for (let i = 0; i < 2; i++) {
      const s = net.connect(gPort, '127.0.0.1', () =>
        s.write(`POST /api/0/projects/acme/app/files/dsyms/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ORG_TOKEN}\r\nContent-Length: 1048576\r\n\r\n${'x'.repeat(1000)}`),
      );
      s.on('error', () => undefined);
      held.push(s);
    }
    await until('both uploads hold an upstream connection', () => poolWeb.arrivals.length - since >= 2);
    const page = await fetch(`${g.url}/organizations/acme/`, { headers: { accept: 'application/json', cookie: alice.cookieHeader() }, signal: AbortSignal.timeout(10_000) });
    assert.equal(page.status, 200);
    assert.ok(poolWeb.arrivals.slice(since).some((a) => a.url === '/organizations/acme/' && a.headers['x-sentry-gateway-assertion'] !== undefined));
  });
});

describe('malformed and forged session cookies', () => {
  let good: string;
  let sid: string;
  before(async () => {
    const alice = new Client(t.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
    good = alice.cookies.get('sag_session')!;
    sid = signature.unsign(decodeURIComponent(good).slice(2), sessionSecretOf(t)) as string;
    assert.ok(sid, 'the real cookie verifies with the gateway secret');
    const ok = await call('/organizations/acme/', { headers: { accept: 'application/json', cookie: `sag_session=${good}` } });
    assert.equal(ok.status, 200, 'the real cookie works');
    await redis.set(`${SESSION_PREFIX}no-identity`, JSON.stringify({ cookie: { originalMaxAge: null }, authenticatedAt: Date.now() }), 'EX', 600);
    await redis.set(`${SESSION_PREFIX}garbage`, '{not json', 'EX', 600);
  });
  after(async () => {
    await redis.del(`${SESSION_PREFIX}no-identity`, `${SESSION_PREFIX}garbage`);
  });

  const signWith = (value: string, secret: string) => encodeURIComponent(`s:${signature.sign(value, secret)}`);
  const forged = (): [string, string, number[]][] => [
    ['an unsigned value', 'sag_session=forged', [401]],
    ['a signature that does not verify', 'sag_session=s:abc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', [401]],
    ['the real session id unsigned', `sag_session=${encodeURIComponent(sid)}`, [401]],
    ['the real session id signed with another secret', `sag_session=${signWith(sid, randomBytes(32).toString('base64url'))}`, [401]],
    ['the real cookie with its signature altered', `sag_session=${good.slice(0, -3)}${good.endsWith('AAA') ? 'BBB' : 'AAA'}`, [401]],
    ['the real cookie under another name', `sag_session_x=${good}`, [401]],
    ['broken percent-encoding', 'sag_session=%E0%A4%A', [401]],
    ['a 30 KiB value', `sag_session=s:${'c'.repeat(30 * 1024)}`, [401]],
    ['a validly signed id with no session', `sag_session=${signWith('no-such-session', sessionSecretOf(t))}`, [401]],
    ['a validly signed id whose record has no identity', `sag_session=${signWith('no-identity', sessionSecretOf(t))}`, [401]],
    // An unreadable record fails closed: refused either as no session or as an unavailable store.
    ['a validly signed id whose record is not JSON', `sag_session=${signWith('garbage', sessionSecretOf(t))}`, [401, 503]],
  ];

  test('each is refused (401 JSON, 302 for pages) and nothing reaches Sentry', async () => {
    const since = mark();
    for (const [name, cookie, statuses] of forged()) {
      const api = await call('/api/0/organizations/acme/issues/', { headers: { accept: 'application/json', cookie } });
      assert.ok(statuses.includes(api.status), `${name}: API answered ${api.status}`);
      if (api.status === 401) assert.equal(JSON.parse(api.body).error, 'authentication_required', name);
      const page = await call('/organizations/acme/issues/', { headers: { accept: 'text/html', cookie } });
      if (statuses.includes(401)) assert.ok(page.status === 302 || statuses.includes(page.status), `${name}: page answered ${page.status}`);
      if (page.status === 302) assert.match(String(page.headers.location), /^\/_gateway\/login\?next=/, name);
    }
    assert.deepEqual(mark(), since);
  });
});

describe('hostile sign-in forms', () => {
  /** Posts a raw form body with a valid CSRF token and cookie; returns status, page alert and whether a session was made. */
  async function postForm(body: (csrf: string) => string | Buffer, contentType = 'application/x-www-form-urlencoded'): Promise<{ status: number; signedIn: boolean; html: string }> {
    const c = new Client(t.url);
    const page = await (await c.get('/_gateway/login')).text();
    const csrf = decodeHtml(/name="_csrf" value="([^"]+)"/.exec(page)![1]!);
    const before = c.cookies.get('sag_session');
    const raw = body(csrf);
    const res = await c.request('/_gateway/login', { method: 'POST', body: typeof raw === 'string' ? raw : new Uint8Array(raw), headers: { 'content-type': contentType } });
    const after = c.cookies.get('sag_session');
    const html = await res.text();
    const signedIn = res.status === 303 && after !== undefined && after !== before;
    return { status: res.status, signedIn, html };
  }
  const form = (username: string, password: string) => (csrf: string) => new URLSearchParams({ _csrf: csrf, username, password }).toString();

  /** The audit reasons recorded for `user` since `from` log lines (a name that matches no account is recorded as its keyed hash). */
  const reasonsFor = (user: string, from: number): string[] =>
    t.logs
      .slice(from)
      .map((l) => JSON.parse(l) as { audit?: { kind: string; user?: string; reason?: string } })
      .filter((l) => l.audit?.kind === 'login.failure' && (l.audit.user === user.slice(0, 256) || l.audit.user === t.gw.deps.names.hash(user)))
      .map((l) => l.audit!.reason ?? '');

  test('overlong username and password get 400 and never reach AD', async () => {
    const from = t.logs.length;
    const longUser = await postForm(form('a'.repeat(257), DEMO_PASSWORD));
    const longPass = await postForm(form('alice', 'p'.repeat(1025)));
    assert.equal(longUser.status, 400);
    assert.equal(longPass.status, 400);
    assert.ok(!longUser.signedIn && !longPass.signedIn);
    assert.equal(t.logs.slice(from).filter((l) => l.includes('"login.failure"') || l.includes('"login.success"')).length, 0, 'no sign-in was attempted');
  });

  test('a missing or wrong CSRF token gets 403 before any sign-in attempt', async () => {
    const r = await postForm(() => new URLSearchParams({ _csrf: 'forged', username: 'alice', password: DEMO_PASSWORD }).toString());
    assert.equal(r.status, 403);
    assert.equal(r.signedIn, false);
  });

  test('non-UTF-8 credentials get a 4xx and no session', async () => {
    const results = await Promise.all([
      // Percent-encoded bytes that are not UTF-8.
      postForm((csrf) => `_csrf=${encodeURIComponent(csrf)}&username=%FF%FEalice&password=${encodeURIComponent(DEMO_PASSWORD)}`),
      postForm((csrf) => `_csrf=${encodeURIComponent(csrf)}&username=alice&password=%C0%AF${encodeURIComponent(DEMO_PASSWORD)}`),
      // Raw bytes that are not UTF-8.
      postForm((csrf) => Buffer.concat([Buffer.from(`_csrf=${encodeURIComponent(csrf)}&username=al`), Buffer.from([0xff, 0xc3]), Buffer.from(`ice&password=${encodeURIComponent(DEMO_PASSWORD)}`)])),
      // A charset the form parser does not speak.
      postForm(form('alice', DEMO_PASSWORD), 'application/x-www-form-urlencoded; charset=latin1'),
    ]);
    for (const [i, r] of results.entries()) {
      assert.ok(r.status >= 400 && r.status < 500, `case ${i}: ${r.status}`);
      assert.equal(r.signedIn, false, `case ${i}`);
    }
  });

  test('LDAP filter metacharacters are data: with alice’s own password, no pattern signs in as her', async () => {
    const names = ['*', 'al*', '*lice', 'a*e', 'alice)(objectClass=*', '*)(sAMAccountName=*', 'alice)(|(sAMAccountName=*)', '(alice)', 'alice\u0000', '*@corp.example.com', 'CORP\\*', 'alice\\2a'];
    const from = t.logs.length;
    const results = await Promise.all(names.map((n) => postForm(form(n, DEMO_PASSWORD))));
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 401, `${JSON.stringify(names[i])}: ${r.status}`);
      assert.equal(r.signedIn, false);
      assert.match(r.html, /Invalid username or password/);
    }
    // A wildcard that matched would show as an ambiguous match or a bind as alice, never as "nobody".
    for (const n of names) assert.deepEqual(reasonsFor(n, from), ['no_such_user'], `${JSON.stringify(n)}: ${reasonsFor(n, from).join(',')}`);
  });

  test('Unicode look-alikes of alice, with her password, are unknown users (401), never alice', async () => {
    const names = [
      'ａｌｉｃｅ', // fullwidth
      '\u0430lice', // Cyrillic a
      'ali\u0441e', // Cyrillic es
      'alice\u0301', // combining acute accent
      'ali\u200bce', // zero-width space
      'al\u0131ce', // dotless i
      'ALİCE', // dotted capital I
      'ＣＯＲＰ\\alice', // fullwidth domain
      'alice＠corp.example.com', // fullwidth at sign
      'alice@corp.example.com\u200b',
    ];
    const from = t.logs.length;
    const results = await Promise.all(names.map((n) => postForm(form(n, DEMO_PASSWORD))));
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 401, `${JSON.stringify(names[i])}: ${r.status}`);
      assert.equal(r.signedIn, false, JSON.stringify(names[i]));
    }
    for (const n of names) assert.deepEqual(reasonsFor(n.trim(), from), ['no_such_user'], JSON.stringify(n));
  });

  describe('a non-ASCII account name', () => {
    // Not in any allowed group: a right password shows as 403 "not authorized", a wrong match as 401.
    before(async () => {
      await sambaTool(['user', 'delete', 'zo\u00eb']).catch(() => undefined);
      await sambaTool(['user', 'create', 'zo\u00eb', DEMO_PASSWORD, '--userou=OU=People']);
    });
    after(async () => {
      await sambaTool(['user', 'delete', 'zo\u00eb']).catch(() => undefined);
    });

    test('NFC and NFD spellings reach the same account; the bare-ASCII look-alike does not', async () => {
      const [nfc, nfd, upper, ascii] = await Promise.all([
        postForm(form('zo\u00eb', DEMO_PASSWORD)),
        postForm(form('zoe\u0308', DEMO_PASSWORD)),
        postForm(form('ZOE\u0308', DEMO_PASSWORD)),
        postForm(form('zoe', DEMO_PASSWORD)),
      ]);
      assert.equal(nfc.status, 403, 'NFC: the password checked out, access denied by policy');
      assert.match(nfc.html, /not authorized for Sentry/);
      assert.equal(nfd.status, 403, 'NFD is normalised to the same account');
      assert.equal(upper.status, 403, 'case-insensitive');
      assert.equal(ascii.status, 401, 'zoe is not zoë');
      assert.ok(![nfc, nfd, upper, ascii].some((r) => r.signedIn));
    });
  });
});

describe('what passes without a session, whose address Sentry believes, handshake origins, secrets in the log', () => {
  const SECRET = 'c0ffee11d00d4bad9e5e7a1b2c3d4e5f';

  test('a look-alike token opens nothing; Relay and internal APIs answer 404 to any credential; a repeated slash gets 400', async () => {
    const since = mark();
    const lookAlikes = ['Bearer x', 'Bearer sntrys_token', 'Bearer sntryu_abc', `Bearer ${USER_TOKEN}0`, 'Basic dXNlcjo=', 'DSN abc', 'Bearer  '];
    for (const authorization of lookAlikes) {
      const r = await call('/api/0/projects/', { method: 'POST', headers: { authorization, accept: 'application/json' }, body: '{}' });
      assert.equal(r.status, 401, authorization);
    }
    const accepted = [`Bearer ${USER_TOKEN}`, `Bearer ${ORG_TOKEN}`, API_KEY_BASIC, `DSN ${DSN}`];
    for (const path of ['/api/0/relays/register/challenge/', '/api/0/relays/register/response/', '/api/0/relays/projectconfigs/', '/api/0/internal/health/']) {
      for (const authorization of [...accepted, ...lookAlikes, undefined]) {
        const r = await call(path, { method: 'POST', headers: authorization ? { authorization } : {}, body: '{"relay_id":"x"}' });
        assert.equal(r.status, 404, `${path} ${authorization ?? ''}`);
      }
    }
    for (const path of ['/api/0//auth/', '/api/0//relays/register/challenge/', '/api/0/projects//', `/api/0//accept-invite/1/${SECRET}/`]) {
      const r = await call(path, { method: 'PUT', headers: { authorization: `Bearer ${USER_TOKEN}`, accept: 'application/json' }, body: '{}' });
      assert.equal(r.status, 400, path);
    }
    assert.deepEqual(mark(), since, 'nothing reached Sentry');
  });

  test('client-address and override headers never arrive, on token, ingestion and bypass requests', async () => {
    const claimed = {
      'cf-connecting-ip': '6.6.6.1',
      'x-vercel-forwarded-for': '6.6.6.2',
      'x-sentry-forwarded-for': '6.6.6.3',
      'true-client-ip': '6.6.6.5',
      'x-client-ip': '6.6.6.6',
      'x-original-url': '/api/0/relays/register/challenge/',
      'x-rewrite-url': '/api/0/internal/',
      'x-http-method-override': 'DELETE',
    };
    const since = mark();
    for (const [path, extra] of [['/api/1/envelope/', {}], ['/api/0/projects/', { authorization: `Bearer ${ORG_TOKEN}` }], [`${BYPASS_PREFIX}x`, {}]] as const) {
      const r = await call(path, { method: 'POST', headers: { ...claimed, ...extra }, body: '{}' });
      assert.equal(r.status, 200, path);
    }
    const arrived = [...web.arrivals.slice(since.web), ...ingest.arrivals.slice(since.ingest)];
    assert.equal(arrived.length, 3);
    for (const a of arrived) {
      for (const name of Object.keys(claimed)) assert.equal(a.headers[name], undefined, `${a.url}: ${name}`);
      assert.equal(a.headers['x-forwarded-for'], '127.0.0.1', a.url);
    }
  });

  test('a signed-in WebSocket handshake from another origin, or with none, gets 403 and never arrives', async () => {
    const alice = new Client(t.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
    const own = new URL(t.config.server.publicUrl).origin;
    const handshake = (origin: string | undefined) =>
      rawExchange(
        `GET /api/0/live/ HTTP/1.1\r\nHost: x\r\nCookie: ${alice.cookieHeader()}\r\n${origin !== undefined ? `Origin: ${origin}\r\n` : ''}` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    const since = mark();
    for (const origin of ['https://evil.example', 'null', own.replace('127.0.0.1', 'localhost'), `${own}.evil`, `${own}/`, undefined]) {
      const answer = await handshake(origin);
      assert.deepEqual(statusLines(answer), [403], `Origin ${origin ?? '(none)'}: ${answer.split('\r\n')[0]}`);
      assert.match(answer, /"error":"cross_origin"/);
    }
    assert.deepEqual(mark(), since, 'no refused handshake reached Sentry');
    // The page's own origin still gets through (this upstream answers it as a plain request).
    await handshake(own);
    const arrived = web.arrivals.slice(since.web);
    assert.equal(arrived.length, 1);
    assert.notEqual(arrived[0]!.headers['x-sentry-gateway-assertion'], undefined);
  });

  test('secret path segments are redacted in the log wherever they occur, refused or forwarded', async () => {
    const first = t.logs.length;
    const paths = [
      `//accept/1/${SECRET}/`,
      `/./accept/1/${SECRET}/`,
      `/api/0//accept-invite/1/${SECRET}/`,
      `/api/0/./accept-invite/1/${SECRET}/`,
      `/%61ccept/1/${SECRET}/`,
      `/api/0/accept-invite/1/${SECRET}/`,
      `/public-status/accept/1/${SECRET}/`,
    ];
    for (const path of paths) await call(path, { headers: { accept: 'application/json' } });
    await fc.assert(
      fc.asyncProperty(hostilePath, async (p) => void (await call(`${p}/accept/1/${SECRET}/`, { headers: { accept: 'application/json' } }))),
      { numRuns: 150 },
    );
    await new Promise((r) => setTimeout(r, 50));
    const lines = t.logs.slice(first).filter((l) => l.includes('"msg":"request"'));
    assert.ok(lines.length >= paths.length + 150, `${lines.length} request lines`);
    const leaked = lines.filter((l) => l.includes(SECRET) || l.toLowerCase().includes(SECRET.slice(0, 12)));
    assert.deepEqual(leaked, []);
  });
});

describe('hostile names given to sessions revoke', () => {
  test('a name of another domain, or a UPN pattern AD does not know, is an error that ends nobody', async () => {
    const alice = new Client(t.url);
    assert.equal((await alice.login('alice', DEMO_PASSWORD)).status, 303);
    for (const name of ['*@corp.example.com', 'a*@corp.example.com', 'alice)(|(sAMAccountName=*@corp.example.com', 'EVIL\\alice', 'alice@evil.example']) {
      const r = await runCli(['sessions', 'revoke', '--user', name, '--config', t.configFile]);
      assert.equal(r.code, 1, `${name}: exit ${r.code} ${r.stdout}`);
      assert.match(r.stderr, /not an account name of this domain|no account in the directory/, name);
      assert.equal(r.stdout, '', `${name}: nothing claimed to be ended`);
    }
    const me = await alice.get('/_gateway/me', { accept: 'application/json' });
    assert.equal(me.status, 200, 'alice is still signed in');
  });
});
