// The admin console over HTTP against the real Samba DC, Redis and a fake Sentry: who may use it, CSRF on every
// form, and what each page does.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { assertNoViolations } from '../../src/dev/fakeSentry.js';
import { Client } from '../support/gateway.js';
import { csrfOf, post, signedIn, startConsole, textOf, type ConsoleSetup } from '../support/adminHelpers.js';

let s: ConsoleSetup;
let alice: Client;
let bob: Client;

before(async () => {
  s = await startConsole('console-int');
  [alice, bob] = await Promise.all([signedIn(s.t.url, 'alice', DEMO_PASSWORD), signedIn(s.t.url, 'bob', DEMO_PASSWORD)]);
});
afterEach(() => assertNoViolations(s.fake));
after(() => s?.close());

const POSTS = [
  '/_gateway/admin/mappings/rule',
  '/_gateway/admin/mappings/move',
  '/_gateway/admin/mappings/delete',
  '/_gateway/admin/mappings/default',
  '/_gateway/admin/mappings/revert',
  '/_gateway/admin/explain',
  '/_gateway/admin/sync/plan',
  '/_gateway/admin/sync/apply',
  '/_gateway/admin/sessions/revoke',
];

async function page(c: Client, path: string): Promise<{ status: number; html: string }> {
  const res = await c.get(path);
  return { status: res.status, html: await res.text() };
}

describe('who may use the console', () => {
  test('anonymous people are sent to the login page, and come back after signing in', async () => {
    const anon = new Client(s.t.url);
    const res = await anon.get('/_gateway/admin/audit?user=bob');
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `/_gateway/login?next=${encodeURIComponent('/_gateway/admin/audit?user=bob')}`);
    const login = await anon.login('alice', DEMO_PASSWORD, '/_gateway/admin/audit?user=bob');
    assert.equal(login.headers.get('location'), '/_gateway/admin/audit?user=bob');
  });

  test('a signed-in non-admin gets 403 on every page; an admin gets 200', async () => {
    for (const path of ['/_gateway/admin/', '/_gateway/admin/explain?user=alice', '/_gateway/admin/sync', '/_gateway/admin/audit', '/_gateway/admin/sessions', '/_gateway/admin/mappings/history']) {
      assert.equal((await bob.get(path)).status, 403, `bob on ${path}`);
      assert.equal((await alice.get(path)).status, 200, `alice on ${path}`);
    }
    const json = await bob.get('/_gateway/admin/', { accept: 'application/json' });
    assert.deepEqual(((await json.json()) as { error: string }).error, 'forbidden');
  });

  test('every console POST without a CSRF token is refused with 403, even for an admin', async () => {
    for (const path of POSTS) {
      const res = await post(alice, path, { version: '1', index: '0', user: 'bob' });
      assert.equal(res.status, 403, path);
      assert.match(await res.text(), /form expired/, path);
    }
  });

  test('a non-admin with a valid CSRF token is still refused, and nothing changes', async () => {
    const before = await s.t.gw.deps.rules.current();
    const token = csrfOf(await (await bob.get('/_gateway/logout')).text());
    for (const path of POSTS) {
      const res = await post(bob, path, { _csrf: token, version: String(before.version), index: '0', direction: 'down', user: 'alice', op: 'save', group: 'SRE', orgRole: 'owner' });
      assert.equal(res.status, 403, path);
    }
    assert.equal((await s.t.gw.deps.rules.current()).version, before.version);
    assert.equal((await s.t.gw.deps.resolver.lookup({ headers: { cookie: alice.cookieHeader() } } as never)).status, 'ok', 'alice was not signed out');
  });

  test('a cross-site form post is refused even with a token', async () => {
    const token = csrfOf((await page(alice, '/_gateway/admin/')).html);
    const res = await alice.request('/_gateway/admin/mappings/default', {
      method: 'POST',
      body: new URLSearchParams({ _csrf: token, version: '1', defaultOrgRole: 'owner' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
    });
    assert.equal(res.status, 403);
  });
});

describe('forms an attacker could post', () => {
  test('Origin: null (a sandboxed frame, a data: page) is refused even with a token', async () => {
    const before = await s.t.gw.deps.rules.current();
    const token = csrfOf((await page(alice, '/_gateway/admin/')).html);
    const res = await alice.request('/_gateway/admin/mappings/default', {
      method: 'POST',
      body: new URLSearchParams({ _csrf: token, version: String(before.version), defaultOrgRole: 'owner' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'null' },
    });
    assert.equal(res.status, 403);
    assert.equal((await s.t.gw.deps.rules.current()).version, before.version, 'nothing saved');
  });

  test("a CSRF cookie and token an attacker fetched for themselves are refused in an admin's browser", async () => {
    const attacker = new Client(s.t.url);
    const token = csrfOf(await (await attacker.get('/_gateway/logout')).text());
    const planted = new Client(s.t.url);
    for (const [k, v] of alice.cookies) planted.cookies.set(k, v);
    planted.cookies.set('sag_csrf', attacker.cookies.get('sag_csrf')!);
    const res = await post(planted, '/_gateway/admin/sessions/revoke', { _csrf: token, user: 'nobody' });
    assert.equal(res.status, 403);
  });
});

describe('mapping rules', () => {
  test('adding a rule: validation first, a missing team only with consent, then saved, versioned and audited', async () => {
    const { html } = await page(alice, '/_gateway/admin/mappings/rule');
    const token = csrfOf(html);
    const version = /name="version" value="(\d+)"/.exec(html)![1]!;
    const base: [string, string][] = [['_csrf', token], ['version', version]];

    let res = await post(alice, '/_gateway/admin/mappings/rule', [...base, ['op', 'save'], ['group', ''], ['orgRole', ''], ['teamSlug', 'Bad Slug'], ['teamRole', 'contributor']]);
    assert.equal(res.status, 400);
    let text = textOf(await res.text());
    assert.match(text, /Enter the AD group this rule is for\./);
    assert.match(text, /Team “Bad Slug”: use lowercase letters, digits, - and _ only\./);

    res = await post(alice, '/_gateway/admin/mappings/rule', [...base, ['op', 'save'], ['group', 'Ops EMEA'], ['orgRole', ''], ['teamSlug', 'ops-emea'], ['teamRole', 'admin'], ['teamSlug', ''], ['teamRole', 'contributor']]);
    assert.equal(res.status, 400);
    assert.match(textOf(await res.text()), /Team “ops-emea” does not exist in Sentry\. Tick “Create teams…”/);
    assert.ok(!s.fake.teamSlugs().includes('ops-emea'));

    res = await post(alice, '/_gateway/admin/mappings/rule', [...base, ['op', 'save'], ['group', 'Ops EMEA'], ['orgRole', ''], ['teamSlug', 'ops-emea'], ['teamRole', 'admin'], ['teamSlug', 'backend'], ['teamRole', 'contributor'], ['createTeams', '1']]);
    assert.equal(res.status, 303, await res.text());
    assert.match(res.headers.get('location')!, /done=savedRule/);
    assert.ok(s.fake.teamSlugs().includes('ops-emea'), 'the team was created in Sentry');
    const set = await s.t.gw.deps.rules.current();
    assert.equal(set.version, Number(version) + 1);
    assert.equal(set.updatedBy, 'alice');
    assert.deepEqual(set.rules.at(-1), { group: 'Ops EMEA', teams: [{ slug: 'ops-emea', role: 'admin' }, { slug: 'backend' }] });
    const listed = textOf((await page(alice, res.headers.get('location')!)).html);
    assert.match(listed, new RegExp(`Rule saved: the mapping is now version ${set.version}\\. Created in Sentry: ops-emea\\.`));
    const audit = (await s.t.gw.deps.audit.recent(20)).find((e) => e.kind === 'mapping.change' && e.actor === 'alice');
    assert.ok(audit, 'the save is audited with the admin as actor');
  });

  test('a save against a stale version is refused with a clear message and changes nothing', async () => {
    const { html } = await page(alice, '/_gateway/admin/mappings/rule?index=0');
    const token = csrfOf(html);
    const seen = await s.t.gw.deps.rules.current();
    // Another admin saves meanwhile.
    await s.t.gw.deps.rules.save({ defaultOrgRole: seen.defaultOrgRole, rules: seen.rules }, 'someone else', seen.version);
    const res = await post(alice, '/_gateway/admin/mappings/rule', [['_csrf', token], ['version', String(seen.version)], ['index', '0'], ['op', 'save'], ['group', 'SRE'], ['orgRole', 'owner']]);
    assert.equal(res.status, 409);
    assert.match(textOf(await res.text()), new RegExp(`Someone else saved the mapping rules meanwhile \\(now version ${seen.version + 1}\\)\\. Nothing was saved`));
    const now = await s.t.gw.deps.rules.current();
    assert.equal(now.version, seen.version + 1);
    assert.equal(now.rules[0]!.orgRole, seen.rules[0]!.orgRole);

    const del = await post(alice, '/_gateway/admin/mappings/delete', { _csrf: token, version: String(seen.version), index: '0' });
    assert.equal(del.status, 409, 'list edits check the version too');
  });

  test('reorder, delete, and revert from history restores the older version', async () => {
    const start = await s.t.gw.deps.rules.current();
    const token = csrfOf((await page(alice, '/_gateway/admin/')).html);
    let res = await post(alice, '/_gateway/admin/mappings/move', { _csrf: token, version: String(start.version), index: '0', direction: 'down' });
    assert.equal(res.status, 303);
    let now = await s.t.gw.deps.rules.current();
    assert.deepEqual([now.rules[0]!.group, now.rules[1]!.group], [start.rules[1]!.group, start.rules[0]!.group]);
    res = await post(alice, '/_gateway/admin/mappings/delete', { _csrf: token, version: String(now.version), index: '0' });
    assert.equal(res.status, 303);
    now = await s.t.gw.deps.rules.current();
    assert.equal(now.rules.length, start.rules.length - 1);

    const history = (await page(alice, '/_gateway/admin/mappings/history')).html;
    assert.match(textOf(history), new RegExp(`Restore version ${start.version}`));
    res = await post(alice, '/_gateway/admin/mappings/revert', { _csrf: token, version: String(now.version), from: String(start.version) });
    assert.equal(res.status, 303);
    const reverted = await s.t.gw.deps.rules.current();
    assert.equal(reverted.version, now.version + 1);
    assert.deepEqual(reverted.rules, start.rules, 'the rules are those of the older version');
    assert.match(textOf((await page(alice, res.headers.get('location')!)).html), new RegExp(`Version ${start.version} restored as version ${reverted.version}\\.`));
  });

  test('the group field searches AD by name, and search text is data, never LDAP filter syntax', async () => {
    const token = csrfOf((await page(alice, '/_gateway/admin/mappings/rule')).html);
    const v = String((await s.t.gw.deps.rules.current()).version);
    let res = await post(alice, '/_gateway/admin/mappings/rule', [['_csrf', token], ['version', v], ['op', 'search'], ['group', 'oncall']]);
    assert.equal(res.status, 200);
    let html = await res.text();
    assert.match(html, /<button class="small" name="pick" value="Platform Oncall">/);
    res = await post(alice, '/_gateway/admin/mappings/rule', [['_csrf', token], ['version', v], ['pick', 'Platform Oncall'], ['group', 'oncall']]);
    assert.match(await res.text(), /id="group" name="group" type="text" value="Platform Oncall"/);
    for (const hostile of ['*', '*)(objectClass=*', 'a\\2a']) {
      res = await post(alice, '/_gateway/admin/mappings/rule', [['_csrf', token], ['version', v], ['op', 'search'], ['group', hostile]]);
      assert.equal(res.status, 200, hostile);
      html = await res.text();
      assert.doesNotMatch(html, /name="pick"/, `${hostile} matches nothing`);
    }
    assert.deepEqual(
      (await s.t.gw.deps.directory.searchGroups('研发', 5)).map((g) => g.name),
      ['研发部'],
    );
  });

  test('previewing an unsaved rule on a user shows what would change, and saves nothing', async () => {
    const token = csrfOf((await page(alice, '/_gateway/admin/mappings/rule')).html);
    const before = await s.t.gw.deps.rules.current();
    const res = await post(alice, '/_gateway/admin/mappings/rule', [['_csrf', token], ['version', String(before.version)], ['op', 'preview'], ['group', 'Sentry Gateway Admins'], ['orgRole', 'owner'], ['teamSlug', 'admins'], ['teamRole', 'admin'], ['previewUser', 'alice']]);
    assert.equal(res.status, 200);
    const text = textOf(await res.text());
    assert.match(text, /For alice this would change: org role manager → owner \+ team admins \(admin\)/);
    assert.equal((await s.t.gw.deps.rules.current()).version, before.version);
  });
});

describe('explain', () => {
  test('groups with their nesting path, the decision, and the rule behind the role and each team', async () => {
    const { status, html } = await page(alice, '/_gateway/admin/explain?user=alice');
    assert.equal(status, 200);
    const text = textOf(html);
    assert.match(text, /Sentry Users via Platform Oncall → SRE/);
    assert.match(text, /Domain Users primary group/);
    assert.match(text, /Access allowed: member of the allow group Sentry Users/);
    assert.match(text, /Org role manager — Given by: rule \d+ \(SRE\)/);
    assert.match(text, /sre admin rule \d+ \(SRE\)/);
    assert.match(textOf((await page(alice, '/_gateway/admin/explain?user=nobody-here')).html), /No user “nobody-here” in the directory\./);
  });

  test('the account lockout policy that applies, and what the gateway allows under it', async () => {
    const text = textOf((await page(alice, '/_gateway/admin/explain?user=alice')).html);
    assert.match(text, /Account lockout The domain policy applies: locks after 10 bad passwords within 30m\./);
    assert.match(text, /Fine-grained policy (none applies|not readable by the service account)/);
    assert.match(text, /The gateway lets 5 failed sign-ins reach AD, then answers 429 until 30m pass without a failure\./);
  });

  test('what if: unsaved rules in YAML are previewed on the user; invalid YAML is explained', async () => {
    const token = csrfOf((await page(alice, '/_gateway/admin/explain?user=bob')).html);
    let res = await post(alice, '/_gateway/admin/explain', { _csrf: token, user: 'bob', rules: 'rules:\n  - group: Sentry Users\n    orgRole: manager\n    teams: [{ slug: everyone }]\n' });
    assert.equal(res.status, 200);
    assert.match(textOf(await res.text()), /For bob this would change: org role member → manager \+ team everyone \(contributor\)/);
    res = await post(alice, '/_gateway/admin/explain', { _csrf: token, user: 'bob', rules: 'rules:\n  - group: ""\n    orgRole: king\n' });
    assert.equal(res.status, 400);
    assert.match(textOf(await res.text()), /rules\.0\.orgRole/);
  });
});

describe('sync', () => {
  test('the plan is shown as a diff; applying runs in the background and is listed with its result', async () => {
    const token = csrfOf((await page(alice, '/_gateway/admin/sync')).html);
    s.fake.reset();
    const planRes = await post(alice, '/_gateway/admin/sync/plan', { _csrf: token });
    assert.equal(planRes.status, 200);
    const html = await planRes.text();
    const text = textOf(html);
    assert.match(text, /alice alice\.adams@corp\.example\.com invite as manager \+ team backend \(contributor\) \+ team sre \(admin\)/);
    assert.deepEqual(s.fake.writes(), [], 'planning writes nothing');
    const fingerprint = /name="fingerprint" value="([^"]+)"/.exec(html)![1]!;

    const stale = await post(alice, '/_gateway/admin/sync/apply', { _csrf: token, fingerprint: 'not-the-plan' });
    assert.equal(stale.status, 303);
    const staleRun = await waitForRun(stale.headers.get('location')!);
    assert.match(staleRun, /not applied: the plan changed/);
    assert.deepEqual(s.fake.writes(), [], 'a plan nobody reviewed is not applied');

    const apply = await post(alice, '/_gateway/admin/sync/apply', { _csrf: token, fingerprint });
    assert.equal(apply.status, 303);
    const done = await waitForRun(apply.headers.get('location')!);
    assert.match(done, /done/);
    assert.match(done, /\d+ applied, 0 failed/);
    assert.equal(s.fake.member('alice.adams@corp.example.com')?.orgRole, 'manager');
    const list = textOf((await page(alice, '/_gateway/admin/sync')).html);
    assert.match(list, /alice done \d+ applied, 0 failed/);
  });

  test('a sync is refused while another holds the lock', async () => {
    const token = csrfOf((await page(alice, '/_gateway/admin/sync')).html);
    await s.t.gw.deps.redis!.set('sag:sync:lock', 'someone-else', 'PX', 60_000);
    try {
      const res = await post(alice, '/_gateway/admin/sync/apply', { _csrf: token, fingerprint: 'x' });
      assert.equal(res.status, 409);
      assert.match(textOf(await res.text()), /Another sync is running/);
    } finally {
      await s.t.gw.deps.redis!.del('sag:sync:lock');
    }
  });
});

async function waitForRun(location: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const { html } = await page(alice, location);
    if (!html.includes('http-equiv="refresh"')) return textOf(html);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the sync run did not finish');
}

describe('audit log and sessions', () => {
  test('the audit log filters by user, kind and time, and shows the exact AD reason for failures', async () => {
    await new Client(s.t.url).login('bob', 'wrong-password-for-audit');
    const html = (await page(alice, '/_gateway/admin/audit?user=bob&kind=login')).html;
    const rows = [...html.matchAll(/<tr[^>]*><td><time[^>]*>[^<]*<\/time><\/td><td title="([^"]+)">/g)].map((m) => m[1]);
    assert.ok(rows.length >= 2);
    assert.ok(rows.every((k) => k!.startsWith('login.')), rows.join());
    assert.match(html, /<code>invalid_credentials<\/code>/);
    const future = (await page(alice, '/_gateway/admin/audit?since=2999-01-01')).html;
    assert.match(textOf(future), /No events match\./);
    const bad = await page(alice, '/_gateway/admin/audit?since=yesterday');
    assert.equal(bad.status, 400);
  });

  test('a name that matched no account is listed only as its hash, and typing the name finds it', async () => {
    const typed = 'Oops-My-Passw0rd-Here';
    await new Client(s.t.url).login(typed, 'wrong');
    const all = (await page(alice, '/_gateway/admin/audit?kind=login.failure')).html;
    assert.ok(!all.includes(typed), 'the typed text is not on the page');
    const found = (await page(alice, `/_gateway/admin/audit?user=${encodeURIComponent(typed)}`)).html;
    const hashed = s.t.gw.deps.names.hash(typed);
    assert.match(found, new RegExp(`>${hashed}<`), 'the entry is found by the name as typed');
    assert.match(found, /<code>no_such_user<\/code>/);
    assert.doesNotMatch(textOf((await page(alice, '/_gateway/admin/audit?user=some-other-typo')).html), new RegExp(hashed));
  });

  test('revoking ends bob’s sessions: his next request goes to the login page', async () => {
    const victim = await signedIn(s.t.url, 'bob', DEMO_PASSWORD);
    assert.equal((await victim.get('/_gateway/me', { accept: 'application/json' })).status, 200);
    const list = (await page(alice, '/_gateway/admin/sessions')).html;
    assert.match(list, /<th scope="row">bob/);
    const token = csrfOf(list);
    const res = await post(alice, '/_gateway/admin/sessions/revoke', { _csrf: token, user: 'bob' });
    assert.equal(res.status, 303);
    assert.match(textOf((await page(alice, res.headers.get('location')!)).html), /Ended \d+ session\(s\) of bob\./);
    const next = await victim.get('/organizations/acme/issues/');
    assert.equal(next.status, 302);
    assert.match(next.headers.get('location')!, /^\/_gateway\/login/);
    assert.equal((await bob.get('/_gateway/me', { accept: 'application/json' })).status, 401, 'all of bob’s sessions ended');
    assert.equal((await alice.get('/_gateway/admin/')).status, 200, 'alice is still signed in');
    const audit = (await s.t.gw.deps.audit.recent(20)).find((e) => e.kind === 'session.revoked');
    assert.equal(audit?.actor, 'alice');
    assert.equal(audit?.user, 'bob');
  });
});
