// The Kerberos sign-in where it meets the rest of the gateway: a first second factor after a sign-in that typed no
// password, and the keytab's reload on SIGHUP. The test DC's real KDC, tickets from kinit, the system GSSAPI through
// the `kerberos` binding, real Redis and real HTTP.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { generate } from 'otplib';
import { USERS } from '../../src/dev/fixtures.js';
import { Client, decodeHtml, startTestGateway, type TestGateway } from '../support/gateway.js';
import { kerberosFixture, spnegoToken, type KerberosClientEnv, type KerberosFixture } from '../support/kerberos.js';

// A host of this file's own: its service account's password (and kvno) is nobody else's to change.
const HOST = 'ops.corp.example.com';
const REALMS = { 'CORP.EXAMPLE.COM': 'CORP' };

let krb: KerberosFixture;
let dir: string;
let keytab: string;
let keyFile: string;

before(async () => {
  krb = await kerberosFixture({ host: HOST });
  dir = mkdtempSync(join(tmpdir(), 'sag-krb-ops-'));
  keytab = join(dir, 'http.keytab');
  copyFileSync(krb.service.keytabFile, keytab);
  keyFile = join(dir, 'mfa_key');
  writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
});
after(async () => {
  await krb?.close();
});

function kerberosConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { auth: { kerberos: { enabled: true, keytabFile: keytab, servicePrincipal: `HTTP/${HOST}`, realms: REALMS, ...extra } } };
}

/** A fresh SPNEGO token for HTTP/<HOST>. */
const tokenFor = (env: KerberosClientEnv) => spnegoToken(env, HOST);

/** A browser signed in with alice's ticket, without typing. */
async function kerberosSignIn(t: TestGateway): Promise<Client> {
  const c = new Client(t.url);
  const res = await c.get('/_gateway/login', { authorization: `Negotiate ${await tokenFor(await krb.ticket('alice'))}` });
  assert.equal(res.status, 303, await res.text());
  assert.ok(c.cookies.has('sag_session'), 'signed in');
  return c;
}

async function guidOf(t: TestGateway, c: Client): Promise<string> {
  const found = await t.gw.deps.resolver.lookup({ headers: { cookie: c.cookieHeader() }, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage);
  assert.ok(found.status === 'ok' || found.status === 'pending', `a session: ${found.status}`);
  return found.identity.sub;
}

async function assertionOf(t: TestGateway, c: Client): Promise<JWTPayload> {
  const res = await c.get('/organizations/acme/issues/', { accept: 'application/json' });
  assert.equal(res.status, 200, 'the upstream answered');
  const seen = (await res.json()) as { headers: Record<string, string> };
  const jwks = (await (await c.get('/_gateway/jwks.json', { accept: 'application/json' })).json()) as { keys: [] };
  return (await jwtVerify(seen.headers['x-sentry-gateway-assertion']!, createLocalJWKSet(jwks), { issuer: t.config.server.publicUrl, audience: 'sentry' })).payload;
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
const secretOf = (html: string) => decodeHtml(/id="totp-secret">([^<]+)</.exec(html)?.[1] ?? '').replace(/\s+/g, '');
const codeAt = (secret: string, ms: number) => generate({ secret, epoch: Math.floor(ms / 1000) });

function post(c: Client, path: string, fields: Record<string, string>): Promise<Response> {
  return c.request(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
}

/** Enrols the authenticator app offered on the enrolment page; the recovery codes page answers. */
async function enrolApp(t: TestGateway, c: Client, html: string): Promise<Response> {
  const secret = secretOf(html);
  assert.match(secret, /^[A-Z2-7]{16,}$/, 'the enrolment page offers a seed');
  return post(c, '/_gateway/mfa/enrol/totp', { _csrf: csrfOf(html), next: '/', name: 'Phone', code: await codeAt(secret, t.clock.now()) });
}

describe('a first second factor after a Kerberos sign-in (mfa.require always, enrolFrom covering this address)', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({ ...kerberosConfig(), mfa: { require: 'always', enrolFrom: ['127.0.0.0/8'], methods: ['totp'], keyFile } }, { publicHost: HOST });
  });
  after(async () => {
    await t?.close();
  });
  const reset = async (c: Client) => t.gw.deps.mfa!.store.reset(await guidOf(t, c));

  test('without the password no enrolment is offered: the page asks for it, and a code posted straight is refused', async () => {
    const c = await kerberosSignIn(t);
    const guid = await guidOf(t, c);
    const page = await c.get('/_gateway/mfa/enrol');
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.doesNotMatch(html, /totp-secret/, 'no seed is offered');
    assert.match(html, /You signed in with Windows\. Type your company \(Active Directory\) password/);
    assert.match(decodeHtml(html), /action="\/_gateway\/mfa\/enrol\/password"/);
    assert.match(html, /value="alice"/, 'the account is named, not chosen');

    // A seed the person could have had some other way, and its right code: still not enrolled.
    const { secret } = await t.gw.deps.mfa!.totp.begin(guid, 'alice');
    const forged = await post(c, '/_gateway/mfa/enrol/totp', { _csrf: csrfOf(html), next: '/', name: 'Mine', code: await codeAt(secret, t.clock.now()) });
    assert.equal(forged.status, 303);
    assert.equal(forged.headers.get('location'), '/_gateway/mfa/enrol');
    const options = await c.request('/_gateway/mfa/enrol/webauthn/options', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ _csrf: csrfOf(html) }) });
    assert.notEqual(options.status, 200, 'no registration options either');
    assert.deepEqual(await t.gw.deps.mfa!.store.list(guid), []);
  });

  test('with the password (a wrong one refused first) it is, and the factor signs in as a typed password', async () => {
    const c = await kerberosSignIn(t);
    const html = await (await c.get('/_gateway/mfa/enrol')).text();
    const wrong = await post(c, '/_gateway/mfa/enrol/password', { _csrf: csrfOf(html), next: '/', password: 'not-her-password' });
    assert.equal(wrong.status, 401);
    const wrongHtml = await wrong.text();
    assert.match(wrongHtml, /id="reauth-error"/);
    assert.doesNotMatch(wrongHtml, /totp-secret/);
    assert.ok((await t.gw.deps.audit.recent(10)).some((e) => e.kind === 'login.failure' && e.user === 'alice'), 'counted like a failed sign-in');

    const right = await post(c, '/_gateway/mfa/enrol/password', { _csrf: csrfOf(wrongHtml), next: '/', password: USERS.alice.password });
    assert.equal(right.status, 303);
    assert.equal(right.headers.get('location'), '/_gateway/mfa/enrol');
    const page = await c.get('/_gateway/mfa/enrol');
    assert.equal(page.status, 200);
    const done = await enrolApp(t, c, await page.text());
    assert.equal(done.status, 200);
    assert.match(await done.text(), /<li><code>[a-z0-9-]+<\/code><\/li>/, 'recovery codes shown');
    assert.deepEqual((await assertionOf(t, c)).amr, ['pwd', 'otp', 'mfa']);
    const audit = await t.gw.deps.audit.recent(10);
    assert.ok(audit.some((e) => e.kind === 'reauth.success' && e.user === 'alice'));
    assert.equal((audit.find((e) => e.kind === 'mfa.enrolled')?.detail as { via?: string } | undefined)?.via, 'network');
    await reset(c);
  });

  test('with an admin’s enrolment link it is, without the password, and the sign-in stays wia', async () => {
    const c = await kerberosSignIn(t);
    const guid = await guidOf(t, c);
    const u = new URL((await t.gw.deps.mfa!.links.issue(guid, { username: 'alice', actor: 'test' })).url);
    assert.equal((await c.get(`${u.pathname}${u.search}`)).status, 303);
    const page = await c.get('/_gateway/mfa/enrol');
    assert.equal(page.status, 200);
    const done = await enrolApp(t, c, await page.text());
    assert.equal(done.status, 200);
    assert.deepEqual((await assertionOf(t, c)).amr, ['wia', 'otp', 'mfa']);
    assert.equal(((await t.gw.deps.audit.recent(10)).find((e) => e.kind === 'mfa.enrolled')?.detail as { via?: string } | undefined)?.via, 'link');
    await reset(c);
  });
});

describe('the keytab on SIGHUP (reloadSecrets, what the signal calls)', () => {
  /** A keytab file of its own per gateway: the tests replace it as an operator does, beside and renamed over. */
  function keytabCopy(bytes: Buffer): string {
    const file = join(mkdtempSync(join(dir, 'kt-')), 'http.keytab');
    writeFileSync(file, bytes, { mode: 0o600 });
    return file;
  }
  function replace(file: string, bytes: Buffer): void {
    writeFileSync(`${file}.new`, bytes, { mode: 0o600 });
    renameSync(`${file}.new`, file);
  }
  const rotations = async (t: TestGateway, event: string) => {
    const { body } = await t.gw.deps.metrics.text();
    const line = body.split('\n').find((l) => l.startsWith(`sag_rotation_events_total{kind="keytab",event="${event}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  const signsIn = async (t: TestGateway) => {
    const res = await new Client(t.url).get('/_gateway/login', { authorization: `Negotiate ${await tokenFor(await krb.ticket('alice'))}` });
    return res.status === 303 && res.headers.getSetCookie().some((c) => c.startsWith('sag_session='));
  };
  const good = () => readFileSync(krb.service.keytabFile);
  // A keytab, but with no key: the kind of file a half-finished export leaves.
  const empty = Buffer.from([0x05, 0x02]);

  test('a refused keytab is counted (event failed) and audited, and the previous one stays in use', async () => {
    const file = keytabCopy(good());
    const t = await startTestGateway(kerberosConfig({ keytabFile: file }), { publicHost: HOST });
    try {
      assert.ok(await signsIn(t));
      replace(file, empty);
      await t.gw.deps.reloadSecrets();
      assert.equal(await rotations(t, 'failed'), 1);
      assert.equal(await rotations(t, 'reloaded'), 0);
      const entry = (await t.gw.deps.audit.recent(10)).find((e) => e.kind === 'secret.reload_failed');
      assert.equal(entry?.reason, 'keytab_unusable');
      assert.deepEqual({ ...(entry?.detail as object), why: undefined }, { secret: 'keytab', file, why: undefined });
      assert.match(String((entry?.detail as { why?: string }).why), /holds no keys/);
      assert.ok(await signsIn(t), 'the previous keys still sign people in');
      assert.ok(t.logs.some((l) => l.includes('keytab not re-read: keeping the previous one')));
    } finally {
      await t.close();
    }
  });

  test('off at start for an unusable keytab, a SIGHUP with a good one turns Kerberos on', async () => {
    const file = keytabCopy(empty);
    const t = await startTestGateway(kerberosConfig({ keytabFile: file }), { publicHost: HOST });
    try {
      assert.equal(t.gw.deps.kerberos, undefined);
      assert.ok(t.logs.some((l) => l.includes('Kerberos off') && l.includes('holds no keys')));
      assert.equal(await signsIn(t), false, 'the form only');
      // Still unusable: counted and audited, still off.
      await t.gw.deps.reloadSecrets();
      assert.equal(await rotations(t, 'failed'), 1);
      assert.equal(t.gw.deps.kerberos, undefined);

      replace(file, good());
      await t.gw.deps.reloadSecrets();
      assert.ok(t.gw.deps.kerberos, 'on');
      assert.equal(await rotations(t, 'reloaded'), 1);
      assert.ok((await t.gw.deps.audit.recent(10)).some((e) => e.kind === 'secret.reloaded' && (e.detail as { secret?: string }).secret === 'keytab'));
      assert.ok(await signsIn(t), 'a ticket signs in now');
    } finally {
      await t.close();
    }
  });
});
