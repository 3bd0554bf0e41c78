// The self-service page /_gateway/account, the console's Second factor page, explain's second-factor lines (CLI and
// console) and check-config's trustProxy rule, against the real Samba DC, Redis and HTTP. Factors are created through
// src/mfa/ directly: the sign-in step that passes them stands in as the session fields it writes (amr, mfaAt).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { parse as parseYaml, stringify } from 'yaml';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { FactorStore } from '../../src/mfa/factorStore.js';
import { SecretBox } from '../../src/mfa/secretBox.js';
import { AUDIT_KEY } from '../../src/audit/auditLog.js';
import { SESSION_PREFIX } from '../../src/session/sessionStore.js';
import { systemClock } from '../../src/shared/clock.js';
import { csrfOf, post, signedIn, textOf } from '../support/adminHelpers.js';
import { runCli } from '../support/cli.js';
import { sambaTool, testDc } from '../support/dc.js';
import { alertOf, Client, decodeHtml, startTestGateway, testRedisUrl, type TestGateway } from '../support/gateway.js';

const GROUP = 'Acct MFA Required';
const SEED = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
let dir: string;
let t: TestGateway;
let redis: Redis;
let store: FactorStore;
const guids = new Map<string, string>();

async function person(name: string, groups: string[]): Promise<void> {
  await sambaTool(['user', 'create', name, DEMO_PASSWORD, '--userou=OU=People', `--mail-address=${name}@corp.example.com`]).catch((e: Error) => {
    if (!/already exists/i.test(e.message)) throw e;
  });
  for (const g of ['Sentry Users', ...groups]) await sambaTool(['group', 'addmembers', g, name]);
  const user = await t.gw.deps.directory.lookup(name);
  guids.set(name, user!.guid.toLowerCase());
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sag-test-mfa-account-'));
  const keyFile = join(dir, 'mfa_key');
  writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  await sambaTool(['group', 'add', GROUP, '--groupou=OU=Groups']).catch((e: Error) => {
    if (!/already exists/i.test(e.message)) throw e;
  });
  t = await startTestGateway({ mfa: { keyFile, requireForGroups: [GROUP], trustedNetworks: ['198.51.100.0/24'], methods: ['totp'] } });
  redis = new Redis(testRedisUrl());
  store = new FactorStore(redis, new SecretBox(() => readFileSync(keyFile, 'utf8').split('\n').filter(Boolean)), systemClock);
  await person('acct-dora', [GROUP]);
  await person('acct-eve', []);
  await person('acct-finn', [GROUP]);
});
after(async () => {
  for (const g of guids.values()) await store.reset(g).catch(() => undefined);
  redis?.disconnect();
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The session id behind a client's cookie (express-session's `s:<id>.<signature>`). */
function sessionIdOf(c: Client): string {
  const raw = [...c.cookies].find(([k]) => k.includes('sag_session') || k.endsWith('session'))?.[1];
  assert.ok(raw, `no session cookie among ${[...c.cookies.keys()].join(', ')}`);
  return decodeURIComponent(raw).slice(2).split('.')[0]!;
}

/** What the second-factor step writes when a person passes it: amr with `mfa`, and when (`mfaAt`, by the gateway's clock). */
async function passSecondFactor(c: Client, at = t.clock.now()): Promise<void> {
  const sid = sessionIdOf(c);
  const key = SESSION_PREFIX + sid;
  const { pendingSecondFactor: _owed, ...record } = JSON.parse((await redis.get(key))!) as Record<string, unknown>;
  await redis.set(key, JSON.stringify({ ...record, amr: ['pwd', 'otp', 'mfa'], mfaAt: at }), 'KEEPTTL');
  t.gw.deps.resolver.forget(sid);
}

async function audit(kind: string, user: string): Promise<{ kind: string; user?: string; actor?: string; reason?: string; detail?: Record<string, unknown> }[]> {
  return (await redis.lrange(AUDIT_KEY, 0, 200)).map((l) => JSON.parse(l) as { kind: string; user?: string }).filter((e) => e.kind === kind && e.user === user);
}

async function accountForm(c: Client, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  const page = await (await c.get('/_gateway/account')).text();
  const body = new URLSearchParams({ _csrf: csrfOf(page), ...fields });
  return c.request('/_gateway/account', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
}

describe('/_gateway/account', () => {
  test('anonymous: to the sign-in page and back; a session still owing its second factor is sent to it', async () => {
    const anon = new Client(t.url);
    const res = await anon.get('/_gateway/account');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/_gateway/login?next=%2F_gateway%2Faccount');

    await store.addTotp(guids.get('acct-dora')!, { name: 'Phone', secret: SEED });
    const c = await signedIn(t.url, 'acct-dora', DEMO_PASSWORD);
    const pending = await c.get('/_gateway/account');
    assert.equal(pending.status, 303, 'a password alone does not open the page of someone the policy asks a factor of');
    assert.equal(pending.headers.get('location'), '/_gateway/mfa?next=%2F_gateway%2Faccount');
  });

  test('lists the person’s own factors (kind, name, added, last used) in English and Chinese', async () => {
    const c = await signedIn(t.url, 'acct-dora', DEMO_PASSWORD);
    await passSecondFactor(c);
    const res = await c.get('/_gateway/account');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const text = textOf(await res.text());
    assert.match(text, /Authenticator app Phone \d{4}-\d\d-\d\d \d\d:\d\d:\d\d never/);
    assert.match(text, /requires a second factor for you \(member of Acct MFA Required\)/);
    assert.match(text, /You have no unused recovery codes/);
    const zh = textOf(await (await c.get('/_gateway/account?lang=zh-CN')).text());
    assert.match(zh, /身份验证器应用 Phone .* 从未/);
    assert.match(zh, /添加验证方式/);
  });

  test('rename: the new name shows and is audited; a foreign Origin or a missing token changes nothing', async () => {
    const c = await signedIn(t.url, 'acct-dora', DEMO_PASSWORD);
    await passSecondFactor(c);
    const [factor] = await store.list(guids.get('acct-dora')!);
    const foreign = await accountForm(c, { action: 'rename', factor: factor!.id, name: 'Evil' }, { origin: 'https://evil.example' });
    assert.equal(foreign.status, 403);
    const noToken = await c.request('/_gateway/account', { method: 'POST', body: new URLSearchParams({ action: 'rename', factor: factor!.id, name: 'Evil' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(noToken.status, 403);
    assert.equal((await store.list(guids.get('acct-dora')!))[0]!.name, 'Phone');

    const res = await accountForm(c, { action: 'rename', factor: factor!.id, name: 'Work phone' });
    assert.equal(res.status, 303);
    const page = textOf(await (await c.get(res.headers.get('location')!)).text());
    assert.match(page, /Renamed to “Work phone”/);
    const crafted = textOf(await (await c.get('/_gateway/account?done=renamed&factor=nope&name=Call%20555-0100')).text());
    assert.doesNotMatch(crafted, /Renamed|555-0100/, 'no notice from text in the URL');
    assert.match(page, /Authenticator app Work phone/);
    assert.equal((await store.list(guids.get('acct-dora')!))[0]!.name, 'Work phone');
    const events = await audit('mfa.factor_renamed', 'acct-dora');
    assert.ok(events.some((e) => e.detail?.from === 'Phone' && e.detail?.to === 'Work phone'), JSON.stringify(events));
  });

  test('remove: never the last factor while the policy requires one, with a clear message; another one goes; a stale second factor goes to the second-factor step first', async () => {
    const guid = guids.get('acct-dora')!;
    const c = await signedIn(t.url, 'acct-dora', DEMO_PASSWORD);
    await passSecondFactor(c);
    const [only] = await store.list(guid);
    const refused = await accountForm(c, { action: 'remove', factor: only!.id });
    assert.equal(refused.status, 409);
    const html = await refused.text();
    assert.match(alertOf(html) ?? '', /This is your last second factor, and your organization requires one for you\. Add another factor first/);
    assert.match(html, /data-code="GW_MFA_LAST_FACTOR"/);
    assert.equal((await store.list(guid)).length, 1, 'still there');
    const zh = await accountForm(c, { action: 'remove', factor: only!.id }, { 'accept-language': 'zh-CN' });
    assert.match(alertOf(await zh.text()) ?? '', /这是您最后一个第二重验证方式/);

    const second = await store.addTotp(guid, { name: 'Backup phone', secret: SEED });
    t.clock.advance(11 * 60_000);
    const stale = await accountForm(c, { action: 'remove', factor: second.id });
    assert.equal(stale.status, 303);
    assert.equal(stale.headers.get('location'), '/_gateway/mfa?next=%2F_gateway%2Faccount');
    assert.equal((await store.list(guid)).length, 2, 'nothing removed on a second factor passed 11 minutes ago');

    await passSecondFactor(c);
    const removed = await accountForm(c, { action: 'remove', factor: second.id });
    assert.equal(removed.status, 303);
    assert.match(textOf(await (await c.get(removed.headers.get('location')!)).text()), /The factor was removed\./);
    assert.deepEqual((await store.list(guid)).map((f) => f.name), ['Work phone']);
    assert.ok((await audit('mfa.factor_removed', 'acct-dora')).some((e) => e.detail?.name === 'Backup phone' && !e.reason));
    assert.ok((await audit('mfa.factor_removed', 'acct-dora')).some((e) => e.reason === 'refused_last_factor'));
  });

  test('new recovery codes: shown once after a recent second factor; the old ones stop working, the new ones work once', async () => {
    const guid = guids.get('acct-dora')!;
    const old = await store.regenerateRecoveryCodes(guid);
    const c = await signedIn(t.url, 'acct-dora', DEMO_PASSWORD);
    await passSecondFactor(c, t.clock.now() - 11 * 60_000);
    const stale = await accountForm(c, { action: 'recovery' });
    assert.equal(stale.status, 303);
    assert.equal(stale.headers.get('location'), '/_gateway/mfa?next=%2F_gateway%2Faccount');

    await passSecondFactor(c);
    const res = await accountForm(c, { action: 'recovery' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const html = await res.text();
    const codes = [...html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    assert.equal(codes.length, 10);
    assert.match(textOf(html), /shown only this once, and the old ones no longer work/);
    assert.equal(await store.consumeRecoveryCode(guid, old[0]!), null, 'an old code no longer works');
    assert.equal(await store.consumeRecoveryCode(guid, codes[0]!), 9);
    assert.equal(await store.consumeRecoveryCode(guid, codes[0]!), null, 'once');
    assert.doesNotMatch(textOf(await (await c.get('/_gateway/account')).text()), new RegExp(codes[1]!), 'not shown again');
    assert.ok((await audit('mfa.recovery_regenerated', 'acct-dora')).length >= 1);
    const everything = (await redis.lrange(AUDIT_KEY, 0, 200)).join('\n') + t.logs.join('\n');
    for (const code of codes) assert.ok(!everything.includes(code), 'a code is in no log line or audit event');
  });

  test('someone the policy asks nothing of opens it with a password alone, and is offered “Add a factor”', async () => {
    const c = await signedIn(t.url, 'acct-eve', DEMO_PASSWORD);
    const res = await c.get('/_gateway/account');
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(textOf(html), /You have no second factor yet/);
    assert.match(decodeHtml(html), /href="\/_gateway\/mfa\/enrol\?next=%2F_gateway%2Faccount"/);
  });
});

describe('console: Second factor page', () => {
  test('a person who is no admin gets 403, for the page and for a reset', async () => {
    const eve = await signedIn(t.url, 'acct-eve', DEMO_PASSWORD);
    assert.equal((await eve.get('/_gateway/admin/mfa?user=acct-dora')).status, 403);
    const token = csrfOf(await (await eve.get('/_gateway/reauth')).text());
    const res = await post(eve, '/_gateway/admin/mfa/reset', { _csrf: token, user: 'acct-dora', guid: guids.get('acct-dora')! });
    assert.equal(res.status, 403);
    assert.equal((await store.list(guids.get('acct-dora')!)).length, 1, 'nothing reset');
  });

  test('looks a person up by any name form and lists their factors, in English and Chinese', async () => {
    const admin = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    for (const name of ['acct-dora', `${testDc().netbios}\\ACCT-DORA`, 'acct-dora@corp.example.com']) {
      const res = await admin.get(`/_gateway/admin/mfa?user=${encodeURIComponent(name)}`);
      assert.equal(res.status, 200, name);
      assert.match(textOf(await res.text()), /Authenticator app Work phone/, name);
    }
    const zh = await (await admin.get('/_gateway/admin/mfa?user=acct-dora&lang=zh-CN')).text();
    assert.match(textOf(zh), /身份验证器应用 Work phone/);
    assert.match(zh, /aria-current="page">第二因素</);
  });

  test('an enrolment link is shown once with its expiry, works for that person, and is audited without its token', async () => {
    const admin = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    const page = await (await admin.get('/_gateway/admin/mfa?user=acct-finn')).text();
    assert.match(textOf(page), /acct-finn has no second factor/);
    const res = await post(admin, '/_gateway/admin/mfa/link', { _csrf: csrfOf(page), user: 'acct-finn', guid: guids.get('acct-finn')! });
    assert.equal(res.status, 200);
    const html = await res.text();
    const url = decodeHtml(/<code>(http[^<]+)<\/code>/.exec(html)?.[1] ?? '');
    assert.ok(url.startsWith(`${t.url}/_gateway/mfa/enrol?link=`), url);
    assert.match(textOf(html), /valid once until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    const token = new URL(url).searchParams.get('link')!;
    const issued = await audit('mfa.link_issued', 'acct-finn');
    assert.ok(issued.some((e) => e.actor === 'alice'), JSON.stringify(issued));
    assert.ok(!(await redis.lrange(AUDIT_KEY, 0, 200)).join('\n').includes(token));
    assert.ok(!t.logs.join('\n').includes(token), 'not in a log line');
    await t.gw.deps.mfa!.links.consume(token, guids.get('acct-finn')!);
    await assert.rejects(t.gw.deps.mfa!.links.consume(token, guids.get('acct-finn')!), /enrolment link/);
  });

  test('reset removes the factors and recovery codes and ends the person’s sessions; a name now naming another account changes nothing', async () => {
    const guid = guids.get('acct-dora')!;
    const dora = await signedIn(t.url, 'acct-dora', DEMO_PASSWORD);
    await passSecondFactor(dora);
    assert.equal((await dora.get('/_gateway/account')).status, 200);
    const admin = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    const page = await (await admin.get('/_gateway/admin/mfa?user=acct-dora')).text();
    const wrong = await post(admin, '/_gateway/admin/mfa/reset', { _csrf: csrfOf(page), user: 'acct-dora', guid: guids.get('acct-eve')! });
    assert.equal(wrong.status, 409);
    assert.equal((await store.list(guid)).length, 1);

    const res = await post(admin, '/_gateway/admin/mfa/reset', { _csrf: csrfOf(page), user: 'acct-dora', guid });
    assert.equal(res.status, 303);
    assert.match(textOf(await (await admin.get(res.headers.get('location')!)).text()), /Reset acct-dora: removed 1 factor\(s\) and ended \d+ session\(s\)/);
    assert.deepEqual(await store.list(guid), []);
    assert.equal(await store.recoveryCodesLeft(guid), 0);
    let status = 0;
    for (let i = 0; i < 40 && status !== 303; i++) {
      status = (await dora.get('/_gateway/account')).status;
      if (status !== 303) await sleep(50);
    }
    const after = await dora.get('/_gateway/account');
    assert.equal(after.headers.get('location'), '/_gateway/login?next=%2F_gateway%2Faccount', 'the session that passed the removed factor is over');
    assert.equal((await dora.get('/organizations/acme/')).status, 302);
    const events = await audit('mfa.reset', 'acct-dora');
    assert.ok(events.some((e) => e.actor === 'alice' && e.detail?.guid === guid && Number(e.detail?.sessions) >= 1), JSON.stringify(events));
  });

  test('the audit page offers the second-factor kinds in both languages and finds the person’s own changes', async () => {
    const admin = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    const en = await (await admin.get('/_gateway/admin/audit?kind=mfa.factor_removed&user=acct-dora')).text();
    assert.match(en, /<option value="mfa\.factor_removed" selected>Factor removed<\/option>/);
    for (const [kind, label] of <[string, string][]>[['mfa', 'Second factor \\(all\\)'], ['mfa.reset', 'Second factor reset'], ['mfa.factor_renamed', 'Factor renamed'], ['mfa.recovery_regenerated', 'Recovery codes renewed']]) {
      assert.match(en, new RegExp(`<option value="${kind.replace('.', '\\.')}">${label}</option>`));
    }
    assert.match(textOf(en), /Factor removed acct-dora/);
    const zh = await (await admin.get('/_gateway/admin/audit?kind=mfa.factor_removed&user=acct-dora&lang=zh-CN')).text();
    assert.match(zh, /<option value="mfa\.factor_removed" selected>验证方式已删除<\/option>/);
    assert.match(zh, /<option value="mfa\.recovery_regenerated">恢复码已更新<\/option>/);
    assert.match(zh, /<option value="mfa\.factor_renamed">验证方式已重命名<\/option>/);
  });
});

describe('explain: the second-factor decision and its reason', () => {
  test('console: required for a group member from an outside address, with the factors held and the enrolment rule, en and zh-CN', async () => {
    await store.addTotp(guids.get('acct-finn')!, { name: 'Tablet', secret: SEED });
    const admin = await signedIn(t.url, 'alice', DEMO_PASSWORD);
    const html = await (await admin.get('/_gateway/admin/explain?user=acct-finn&from=203.0.113.9')).text();
    const line = (id: string, h: string) => textOf(new RegExp(`id="${id}">([^<]*)<`).exec(h)?.[1] ?? '');
    assert.equal(line('mfa-decision', html), 'Required from 203.0.113.9: member of Acct MFA Required (mfa.requireForGroups).');
    assert.equal(line('mfa-factors', html), 'Factors: Authenticator app “Tablet”.');
    assert.equal(line('mfa-enrolment', html), 'A further factor needs a current one first.');
    const eve = await (await admin.get('/_gateway/admin/explain?user=acct-eve&from=198.51.100.4')).text();
    assert.equal(line('mfa-decision', eve), 'Not required from 198.51.100.4: mfa.require is “never”, in no mfa.requireForGroups group, nothing enrolled.');
    assert.equal(line('mfa-enrolment', eve), 'May enrol a first factor without a link (from 198.51.100.0/24, in mfa.enrolFrom).');
    const eveOutside = await (await admin.get('/_gateway/admin/explain?user=acct-eve&from=203.0.113.9')).text();
    assert.equal(line('mfa-enrolment', eveOutside), 'Needs an enrolment link for a first factor (203.0.113.9 is in no mfa.enrolFrom network).');
    const zh = await (await admin.get('/_gateway/admin/explain?user=acct-finn&from=203.0.113.9&lang=zh-CN')).text();
    assert.equal(line('mfa-decision', zh), '需要（来自 203.0.113.9）：Acct MFA Required 的成员（mfa.requireForGroups）。');
  });

  test('CLI: the same decision, the factors held and whether they may enrol without a link', async () => {
    const r = await runCli(['explain', 'acct-finn', '--from', '203.0.113.9', '--config', t.configFile], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^2nd factor: REQUIRED from 203\.0\.113\.9 \(member of Acct MFA Required \(mfa\.requireForGroups\)\); 1 enrolled$/m);
    assert.match(r.stdout, /^ {2}factors: {2}totp "Tablet"$/m);
    assert.match(r.stdout, /^ {2}enrol: {4}a further factor needs a current one first$/m);
    const e = await runCli(['explain', 'acct-eve', '--from', '198.51.100.4', '--json', '--config', t.configFile], { timeoutMs: 60_000 });
    const mfa = (JSON.parse(e.stdout) as { mfa: { required: boolean; reason: { code: string }; enrolment: { withoutLink: boolean; network: string }; factors: number; factorList: unknown[] } }).mfa;
    assert.deepEqual([mfa.required, mfa.reason.code, mfa.enrolment.withoutLink, mfa.enrolment.network, mfa.factors, mfa.factorList], [false, 'not_required', true, '198.51.100.0/24', 0, []]);
  });
});

describe('check-config', () => {
  test('refuses mfa.require: outside with a trustProxy wider than a load balancer, naming the key paths; passes with the balancer’s address', async () => {
    const doc = parseYaml(readFileSync(t.configFile, 'utf8')) as { server: Record<string, unknown>; mfa: Record<string, unknown> };
    doc.mfa = { ...doc.mfa, require: 'outside', trustedNetworks: ['198.51.100.0/24'] };
    const file = join(dir, 'wide.yaml');
    doc.server.trustProxy = '10.0.0.0/8';
    writeFileSync(file, stringify(doc));
    const bad = await runCli(['check-config', '--config', file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /server\.trustProxy: "10\.0\.0\.0\/8" is a \/8, wider than a load balancer\. With mfa\.require deciding/);
    doc.server.trustProxy = '10.0.0.7';
    writeFileSync(file, stringify(doc));
    const good = await runCli(['check-config', '--config', file]);
    assert.equal(good.code, 0, good.stderr + good.stdout);
  });

  test('--connect: with people enrolled and the policy asking nobody, a missing key file (the default path) fails, naming it', async () => {
    const guid = guids.get('acct-eve')!;
    await store.addTotp(guid, { name: 'Phone', secret: SEED });
    try {
      const doc = parseYaml(readFileSync(t.configFile, 'utf8')) as { mfa: Record<string, unknown> };
      const keyFile = doc.mfa.keyFile as string;
      doc.mfa = { methods: ['totp'] };
      const file = join(dir, 'no-key.yaml');
      writeFileSync(file, stringify(doc));
      assert.equal((await runCli(['check-config', '--config', file])).code, 0, 'without --connect nobody is known to be enrolled');
      const bad = await runCli(['check-config', '--connect', '--config', file]);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /FAIL mfa\.keyFile: \d+ (person has|people have) a second factor, so the key file is needed: file not found: \/run\/secrets\/mfa_key/);
      doc.mfa = { methods: ['totp'], keyFile };
      writeFileSync(file, stringify(doc));
      const good = await runCli(['check-config', '--connect', '--config', file]);
      assert.doesNotMatch(good.stdout, /mfa\.keyFile/);
    } finally {
      await store.reset(guid);
    }
  });
});
