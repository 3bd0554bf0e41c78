// Metrics after a scripted mix of traffic (docs/design.md §11): scraped as Prometheus text and checked series by series.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { freePort } from '../../src/dev/redisServer.js';
import { startFakeSentry, type FakeSentry } from '../../src/dev/fakeSentry.js';
import { Client, startTestGateway, type TestGateway } from '../support/gateway.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let t: TestGateway;
let apart: TestGateway;
let open: TestGateway;
let fake: FakeSentry;
let metricsTokenFile: string;
const TOKEN = 'sntryu_' + 'm'.repeat(32);

/** Parses Prometheus text into "name{labels}" → value, labels in the order written. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** The sum of every series of `name` whose labels include all of `labels`. */
function value(m: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const [k, v] of m) {
    const brace = k.indexOf('{');
    const n = brace < 0 ? k : k.slice(0, brace);
    if (n !== name) continue;
    const ls = brace < 0 ? '' : k.slice(brace);
    if (Object.entries(labels).every(([lk, lv]) => ls.includes(`${lk}="${lv}"`))) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : NaN;
}

const METRICS_TOKEN = 'metrics-' + 'q'.repeat(32);

async function scrape(url: string, token: string | undefined = METRICS_TOKEN): Promise<Map<string, number>> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  return parse(await res.text());
}

before(async () => {
  // Sentry that answers, for provisioning on sign-in; made to refuse later for the queue. A refused
  // connection fails at once, so the long loginTimeout only keeps a busy machine from queueing alice's.
  fake = await startFakeSentry({ organization: 'acme', token: TOKEN, tokenUserEmail: 'svc-sentry@corp.example.com' });
  const dir = mkdtempSync(join(tmpdir(), 'sag-test-metrics-'));
  const tokenFile = join(dir, 'sentry_token');
  writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
  metricsTokenFile = join(dir, 'metrics_token');
  writeFileSync(metricsTokenFile, METRICS_TOKEN + '\n', { mode: 0o600 });
  t = await startTestGateway({ server: { metricsTokenFile }, sentry: { url: fake.url, organization: 'acme', tokenFile, loginTimeout: '10s', sync: { interval: '0' } } });
  apart = await startTestGateway({ server: { metricsListen: `127.0.0.1:${await freePort()}` } });
  open = await startTestGateway();
});

after(async () => {
  await t?.close();
  await apart?.close();
  await open?.close();
  await fake?.close();
});

describe('metrics', () => {
  test('after a mix of traffic every series docs/design.md §11 names is there with the right counts', async () => {
    const c = new Client(t.url);
    assert.equal((await c.login('alice', DEMO_PASSWORD)).status, 303);
    assert.equal((await new Client(t.url).login('alice', 'wrong password')).status, 401);
    assert.equal((await new Client(t.url).login('disabled', DEMO_PASSWORD)).status, 403);
    for (let i = 0; i < 3; i++) assert.equal((await c.get('/organizations/acme/issues/', { accept: 'application/json' })).status, 200);
    assert.equal((await fetch(`${t.url}/api/42/envelope/`, { method: 'POST', body: '{}' })).status, 200);
    assert.equal((await fetch(`${t.url}/organizations/acme/`, { headers: { accept: 'application/json' } })).status, 401);
    assert.equal((await fetch(`${t.url}/organizations%2f..%2fadmin/`)).status, 400);
    // Sentry down: the next sign-in's provisioning goes to the retry queue.
    await fake.setFault('refuse');
    assert.equal((await new Client(t.url).login('bob', DEMO_PASSWORD)).status, 303);
    // A session secret rotation this replica takes up.
    writeFileSync(t.config.session.secretFile!, 'metrics-new-secret\n' + readFileSync(t.config.session.secretFile!, 'utf8'));
    t.gw.deps.reloadSecrets();
    // Upstream down: a 502 counted as an upstream error for its route class.
    await t.upstream.close();
    assert.equal((await fetch(`${t.url}/api/42/envelope/`, { method: 'POST', body: '{}' })).status, 502);

    const m = await scrape(`${t.url}/_gateway/metrics`);
    assert.equal(value(m, 'sag_login_results_total', { result: 'success' }), 2);
    assert.equal(value(m, 'sag_login_results_total', { result: 'invalid_credentials' }), 1);
    assert.equal(value(m, 'sag_login_results_total', { result: 'account_disabled' }), 1);

    const dc = t.config.ldap.urls[0]!;
    assert.ok(value(m, 'sag_ldap_operation_duration_seconds_count', { dc, op: 'bind_user', outcome: 'ok' }) >= 2);
    assert.ok(value(m, 'sag_ldap_operation_duration_seconds_count', { dc, op: 'bind_user', outcome: 'error' }) >= 1, 'the wrong password');
    assert.ok(value(m, 'sag_ldap_operation_duration_seconds_count', { dc, op: 'bind_service', outcome: 'ok' }) >= 1);
    assert.ok(value(m, 'sag_ldap_operation_duration_seconds_count', { dc, op: 'search_user' }) >= 3);
    assert.ok(value(m, 'sag_ldap_operation_duration_seconds_sum', { dc, op: 'bind_user' }) > 0);

    assert.equal(value(m, 'sag_proxy_request_duration_seconds_count', { route_class: 'session', status: '200' }), 3);
    assert.equal(value(m, 'sag_proxy_request_duration_seconds_count', { route_class: 'session', status: '401' }), 1);
    assert.equal(value(m, 'sag_proxy_request_duration_seconds_count', { route_class: 'ingestion', status: '200' }), 1);
    assert.equal(value(m, 'sag_proxy_request_duration_seconds_count', { route_class: 'ingestion', status: '502' }), 1);
    assert.equal(value(m, 'sag_proxy_request_duration_seconds_count', { route_class: 'invalid', status: '400' }), 1);
    assert.ok(value(m, 'sag_proxy_request_duration_seconds_count', { route_class: 'gateway' }) >= 6, 'login pages and posts');
    assert.equal(value(m, 'sag_upstream_errors_total', { route_class: 'ingestion', kind: 'unavailable' }), 1);

    // At least: the retry queue is shared with every other suite's gateways, and this one drains it too.
    assert.ok(value(m, 'sag_provisioning_results_total', { result: 'applied' }) >= 1, "alice's membership");
    assert.equal(value(m, 'sag_provisioning_results_total', { result: 'queued' }), 1, "bob's, with Sentry down");
    assert.ok(value(m, 'sag_provisioning_queue_depth') >= 1);

    assert.equal(value(m, 'sag_rotation_events_total', { kind: 'session_secret', event: 'reloaded' }), 1);
    assert.equal(value(m, 'sag_signing_keys_published'), 1);
    assert.equal(value(m, 'sag_signing_key_info', { kid: t.gw.deps.keyring.current().kid }), 1);
    assert.ok(value(m, 'sag_process_cpu_seconds_total') >= 0, 'process metrics too');
  });

  test('each gateway in a process counts only its own traffic', async () => {
    const m = await scrape(`${apart.gw.metricsUrl}/metrics`, undefined);
    assert.ok(Number.isNaN(value(m, 'sag_login_results_total', { result: 'success' })));
  });

  test('with server.metricsListen the metrics are on that listener only', async () => {
    assert.ok(apart.gw.metricsUrl);
    assert.equal((await fetch(`${apart.url}/_gateway/metrics`)).status, 404);
    assert.equal((await new Client(apart.url).login('alice', DEMO_PASSWORD)).status, 303);
    const m = await scrape(`${apart.gw.metricsUrl}/metrics`, undefined);
    assert.equal(value(m, 'sag_login_results_total', { result: 'success' }), 1);
    assert.equal((await fetch(`${apart.gw.metricsUrl}/_gateway/login`)).status, 404, 'nothing else is served there');
  });

  test('on the public port, metrics need the bearer token from server.metricsTokenFile', async () => {
    assert.equal((await fetch(`${t.url}/_gateway/metrics`)).status, 401, 'no token');
    const wrong = await fetch(`${t.url}/_gateway/metrics`, { headers: { authorization: 'Bearer metrics-wrong' } });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(await wrong.text(), /sag_/, 'nothing of the metrics without the token');
    assert.equal((await fetch(`${t.url}/_gateway/metrics`, { headers: { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` } })).status, 401, 'only as a bearer token');
    assert.ok(value(await scrape(`${t.url}/_gateway/metrics`), 'sag_process_cpu_seconds_total') >= 0);
    // A new token in the file is taken up without a restart; the old one stops working.
    writeFileSync(metricsTokenFile, 'metrics-rotated-token\n');
    const until = Date.now() + 10_000;
    while (Date.now() < until && (await fetch(`${t.url}/_gateway/metrics`, { headers: { authorization: 'Bearer metrics-rotated-token' } })).status !== 200) await new Promise((r) => setTimeout(r, 200));
    assert.equal((await fetch(`${t.url}/_gateway/metrics`, { headers: { authorization: 'Bearer metrics-rotated-token' } })).status, 200);
    assert.equal((await fetch(`${t.url}/_gateway/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status, 401);
  });

  test('without server.metricsTokenFile or server.metricsListen, metrics are off on the public port', async () => {
    const res = await fetch(`${open.url}/_gateway/metrics`);
    assert.equal(res.status, 404);
    assert.doesNotMatch(await res.text(), /sag_/);
  });

  test('anonymous readiness callers get the status and ok/not ok per dependency, nothing more', async () => {
    const res = await fetch(`${apart.url}/_gateway/readyz`);
    assert.equal(res.status, 200);
    const text = await res.text();
    const body = JSON.parse(text) as { status: string; checks: Record<string, Record<string, unknown>> };
    assert.equal(body.status, 'ready');
    for (const [name, check] of Object.entries(body.checks)) assert.deepEqual(Object.keys(check), ['ok'], `${name} says only ok`);
    assert.equal(body.checks['directory']!['ok'], true);
    const dcHost = new URL(apart.config.ldap.urls[0]!).host;
    assert.ok(!text.includes(dcHost), 'no DC address');
    assert.ok(!text.includes('ldaps://'), 'no DC address');
  });

  test('a signed-in non-admin is anonymous to readiness too', async () => {
    const bob = new Client(apart.url);
    assert.equal((await bob.login('bob', DEMO_PASSWORD)).status, 303);
    const body = (await (await bob.get('/_gateway/readyz', { accept: 'application/json' })).json()) as { checks: Record<string, Record<string, unknown>> };
    assert.deepEqual(Object.keys(body.checks['directory']!), ['ok']);
  });

  test('readiness reports each dependency, the bind credential and the queue depth to a signed-in admin', async () => {
    const admin = new Client(apart.url);
    assert.equal((await admin.login('alice', DEMO_PASSWORD)).status, 303);
    const res = await admin.get('/_gateway/readyz', { accept: 'application/json' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; checks: Record<string, { ok: boolean; depth?: number; controllers?: unknown[] }> };
    assert.equal(body.status, 'ready');
    assert.equal(body.checks['redis']!.ok, true);
    assert.equal(body.checks['directory']!.controllers!.length, 1);
    assert.equal(body.checks['bindCredential']!.ok, true);
    assert.equal(typeof body.checks['retryQueue']!.depth, 'number');
  });
});
