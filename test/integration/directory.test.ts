// LdapDirectory against the real Samba AD DC started by the test runner, with the shared fixtures.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { USERS, GROUPS, DEMO_PASSWORD, DOMAIN_POLICY, type FixtureUser } from '../../src/dev/fixtures.js';
import { LdapDirectory, DirectoryAuthError } from '../../src/directory/ldapDirectory.js';
import type { Config } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';
import { silentLogger } from '../../src/shared/logger.js';
import { createPso, grantPsoRead, readServicePassword, sambaTool, testDc, testLdapConfig } from '../support/dc.js';
import type { AccountLockoutPolicy } from '../../src/directory/directory.js';

interface Op {
  url: string;
  op: string;
  ok: boolean;
}

function makeDirectory(ldap: Partial<Config['ldap']> = {}, readBindPassword = readServicePassword) {
  const ops: Op[] = [];
  const dir = new LdapDirectory({
    ldap: testLdapConfig(ldap),
    readBindPassword,
    logger: silentLogger(),
    onLdapOp: (url, op, _ms, ok) => ops.push({ url, op, ok }),
  });
  return { dir, ops };
}

async function refusal(p: Promise<unknown>): Promise<DirectoryAuthError> {
  const err = await p.then(
    () => assert.fail('expected the sign-in to be refused'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof DirectoryAuthError, `expected DirectoryAuthError, got ${String(err)}`);
  return err;
}

const { dir, ops } = makeDirectory();
after(() => dir.close());

const fixtureUsers = Object.values(USERS) as FixtureUser[];

for (const u of fixtureUsers.filter((f) => f.sAMAccountName !== 'lockme')) {
  test(`${u.sAMAccountName}: right password gives ${u.outcome.kind === 'ok' ? 'the account' : u.outcome.reason}`, async () => {
    if (u.outcome.kind === 'refused') {
      const err = await refusal(dir.authenticate(u.sAMAccountName, u.password));
      assert.equal(err.reason, u.outcome.reason);
      return;
    }
    const user = await dir.authenticate(u.sAMAccountName, u.password);
    assert.equal(user.dn, u.dn);
    assert.equal(user.sAMAccountName, u.sAMAccountName);
    assert.equal(user.userPrincipalName, u.userPrincipalName);
    assert.equal(user.email, u.email);
    assert.equal(user.displayName, u.displayName);
    assert.match(user.guid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.match(user.sid, /^S-1-5-21-\d+-\d+-\d+-\d+$/);
    assert.equal(user.blockedReason, undefined);
    const byName = new Map(user.groups.map((g) => [g.name, g]));
    for (const [name, path] of Object.entries(u.paths)) {
      assert.deepEqual(byName.get(name)?.path, path, `path to ${name}`);
    }
    for (const name of u.notIn) assert.ok(!byName.has(name), `must not be in ${name}`);
  });

  test(`${u.sAMAccountName}: wrong password is invalid credentials (52e)`, async () => {
    const err = await refusal(dir.authenticate(u.sAMAccountName, 'not-' + u.password));
    assert.equal(err.reason, 'invalid_credentials');
    assert.equal(err.subCode, '52e');
    assert.equal(err.code, 'GW_INVALID_CREDENTIALS');
    assert.equal(err.status, 401);
  });
}

test('refused accounts map to the codes docs/design.md §7 shows', async () => {
  const expected = {
    disabled: ['GW_ACCOUNT_DISABLED', 403, '533'],
    expired: ['GW_ACCOUNT_EXPIRED', 403, '701'],
    mustchange: ['GW_PASSWORD_EXPIRED', 403, '773'],
    offhours: ['GW_LOGON_NOT_PERMITTED', 403, '530'],
    elsewhere: ['GW_LOGON_NOT_PERMITTED', 403, '531'],
  } as const;
  for (const [name, [code, status, sub]] of Object.entries(expected)) {
    const err = await refusal(dir.authenticate(name, DEMO_PASSWORD));
    assert.deepEqual([err.code, err.status, err.subCode], [code, status, sub], name);
  }
});

test('the three username forms and any case find the same account', async () => {
  const forms = ['alice', 'ALICE', ' Alice ', 'CORP\\alice', 'corp\\ALICE', 'alice@corp.example.com', 'Alice@CORP.example.COM'];
  const guids = new Set<string>();
  for (const f of forms) guids.add((await dir.authenticate(f, DEMO_PASSWORD)).guid);
  assert.equal(guids.size, 1);
  const bob = await dir.authenticate('bob@staff.example.org', DEMO_PASSWORD);
  assert.equal(bob.sAMAccountName, 'bob');
});

test('other domains and suffixes are unknown users', async () => {
  for (const f of ['OTHER\\alice', 'alice@evil.example.com', 'bob@corp.example.org']) {
    const err = await refusal(dir.authenticate(f, DEMO_PASSWORD));
    assert.equal(err.code, 'GW_INVALID_CREDENTIALS', f);
  }
});

test('an unknown user is refused like a wrong password, after a bind that counts against nobody', async () => {
  ops.length = 0;
  const err = await refusal(dir.authenticate('nobody-here', DEMO_PASSWORD));
  assert.equal(err.reason, 'no_such_user');
  assert.equal(err.code, 'GW_INVALID_CREDENTIALS');
  assert.ok(ops.some((o) => o.op === 'bind_user'), 'a timing bind was made');
});

test('filter metacharacters never widen the search', async () => {
  for (const name of ['alice*', '*', 'a)(cn=*', '*)(objectClass=*', 'al\\2a', 'ali\u0000ce', '(', ')', 'Pat (Star*) Paren']) {
    const err = await refusal(dir.authenticate(name, DEMO_PASSWORD));
    assert.equal(err.code, 'GW_INVALID_CREDENTIALS', JSON.stringify(name));
    assert.equal(await dir.lookup(name), null, JSON.stringify(name));
  }
});

test('an empty or oversized password is refused without asking the directory', async () => {
  ops.length = 0;
  for (const pw of ['', 'x'.repeat(1025)]) {
    const err = await refusal(dir.authenticate('alice', pw));
    assert.equal(err.code, 'GW_INVALID_CREDENTIALS');
  }
  assert.deepEqual(ops, []);
});

test('lookup reports why an account may not sign in', async () => {
  assert.equal((await dir.lookup('disabled'))?.blockedReason, 'account_disabled');
  assert.equal((await dir.lookup('expired'))?.blockedReason, 'account_expired');
  assert.equal((await dir.lookup('mustchange'))?.blockedReason, 'password_must_change');
  const alice = await dir.lookup('CORP\\Alice');
  assert.equal(alice?.sAMAccountName, 'alice');
  assert.equal(alice?.blockedReason, undefined);
  assert.equal(await dir.lookup('nobody-here'), null);
});

test('groups: nesting, primary group, comma and Chinese names, SIDs and DNs', async () => {
  const alice = await dir.authenticate('alice', DEMO_PASSWORD);
  const users = alice.groups.find((g) => g.name === GROUPS.sentryUsers.name);
  assert.ok(users);
  assert.equal(users.dn, GROUPS.sentryUsers.dn);
  assert.match(users.sid, /^S-1-5-21-/);
  assert.equal(alice.groups.find((g) => g.name === 'Domain Users')?.sid, alice.sid.replace(/-\d+$/, '-513'));

  const primary = await dir.authenticate('primary', DEMO_PASSWORD);
  assert.equal(primary.groups.find((g) => g.name === 'Sentry Users')?.sid, users.sid);

  const dave = await dir.authenticate('dave', DEMO_PASSWORD);
  assert.equal(dave.groups.find((g) => g.name === 'Ops EMEA')?.dn, GROUPS.opsEmea.dn);
  const carol = await dir.authenticate('carol', DEMO_PASSWORD);
  assert.equal(carol.groups.find((g) => g.name === '研发部')?.dn, GROUPS.rnd.dn);
});

test('objectGUID is in the byte order Samba itself shows', async () => {
  const alice = await dir.lookup('alice');
  const shown = await sambaTool(['user', 'show', 'alice', '--attributes=objectGUID']);
  assert.match(shown, new RegExp(`objectGUID: ${alice?.guid}`, 'i'));
});

test('lockoutThreshold comes from the domain object', async () => {
  const policy = await dir.lockoutPolicy();
  assert.equal(policy.threshold, DOMAIN_POLICY.lockoutThreshold);
  assert.ok(policy.observationWindowMs >= 60_000, `observation window ${policy.observationWindowMs} ms`);
});

test("a person's fine-grained policy is read where the service account may, and the stricter policy applies", async () => {
  const dc = testDc();
  await sambaTool(['user', 'create', 'psoperson', DEMO_PASSWORD, '--userou=OU=People']).catch(() => undefined);
  await createPso('sag-dir-strict', { precedence: 2, lockoutThreshold: 4, windowMinutes: 45, applyTo: ['psoperson'] });
  const dn = `CN=psoperson,OU=People,${dc.baseDn}`;
  // A plain account as the service account: AD names the PSO but hides its settings.
  await sambaTool(['user', 'create', 'svc-noread', 'Svc!NoRead-Bind-1', '--userou=OU=People']).catch(() => undefined);
  const { dir: plain } = makeDirectory({ bindDn: `CN=svc-noread,OU=People,${dc.baseDn}` }, async () => 'Svc!NoRead-Bind-1');
  await grantPsoRead();
  const { dir: granted } = makeDirectory();
  try {
    const hidden = await plain.accountLockoutPolicy(dn);
    assert.equal(hidden.fineGrained, 'unreadable');
    assert.deepEqual([hidden.source, hidden.threshold], ['domain', DOMAIN_POLICY.lockoutThreshold], 'unreadable: the domain policy, and nothing stricter invented');

    const read = await granted.accountLockoutPolicy(dn);
    assert.deepEqual(read.fineGrained, { name: 'sag-dir-strict', dn: `CN=sag-dir-strict,CN=Password Settings Container,CN=System,${dc.baseDn}`, threshold: 4, observationWindowMs: 45 * 60_000 });
    assert.equal(read.source, 'fine-grained');
    assert.equal(read.threshold, 4);
    assert.equal(read.observationWindowMs, Math.max(45 * 60_000, read.domain.observationWindowMs));

    const none = await granted.accountLockoutPolicy(USERS.alice.dn);
    assert.deepEqual([none.fineGrained, none.source, none.threshold], ['none', 'domain', DOMAIN_POLICY.lockoutThreshold]);

    // The sign-in hook gets the same policy before the password goes to AD.
    let seen: AccountLockoutPolicy | undefined;
    await refusal(granted.authenticate('psoperson', 'wrong-password', { beforeBind: async (_key, p) => void (seen = p) }));
    assert.equal(seen?.threshold, 4);
  } finally {
    await plain.close();
    await granted.close();
    await sambaTool(['domain', 'passwordsettings', 'pso', 'delete', 'sag-dir-strict']).catch(() => undefined);
  }
});

test('one service connection is bound once and reused', async () => {
  const { dir: d, ops: o } = makeDirectory();
  try {
    await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => d.authenticate(n, DEMO_PASSWORD)));
    await d.lookup('alice');
    assert.equal(o.filter((x) => x.op === 'bind_service').length, 1);
  } finally {
    await d.close();
  }
});

test('a rotated bind password file is re-read once after invalid credentials', async () => {
  let calls = 0;
  const right = await readServicePassword();
  const { dir: d } = makeDirectory({}, async () => (++calls === 1 ? 'stale-password' : right));
  try {
    assert.equal((await d.lookup('alice'))?.sAMAccountName, 'alice');
    assert.equal(calls, 2);
  } finally {
    await d.close();
  }
  const { dir: bad } = makeDirectory({}, async () => 'stale-password');
  try {
    await assert.rejects(bad.lookup('alice'), (e: unknown) => e instanceof GatewayError && e.code === 'GW_DIRECTORY_UNAVAILABLE');
  } finally {
    await bad.close();
  }
});

test('failover: a dead first DC is skipped and the working one is preferred next time', async () => {
  const dead = 'ldaps://127.0.0.1:1';
  const { dir: d, ops: o } = makeDirectory({ urls: [dead, testDc().ldapsUrl] });
  try {
    assert.equal((await d.authenticate('alice', DEMO_PASSWORD)).sAMAccountName, 'alice');
    const err = await refusal(d.authenticate('alice', 'wrong-password'));
    assert.equal(err.reason, 'invalid_credentials');
    assert.equal(o.filter((x) => x.url === dead).length, 1, 'the dead DC is tried only once');
    assert.deepEqual(await d.health().then((h) => h.map((s) => s.ok)), [false, true]);
  } finally {
    await d.close();
  }
});

test('every DC down is GW_DIRECTORY_UNAVAILABLE, for sign-in and lookup', async () => {
  const { dir: d } = makeDirectory({ urls: ['ldaps://127.0.0.1:1', 'ldap://127.0.0.1:2'] });
  try {
    for (const p of [d.authenticate('alice', DEMO_PASSWORD), d.lookup('alice'), d.lockoutPolicy()]) {
      await assert.rejects(p, (e: unknown) => e instanceof GatewayError && e.code === 'GW_DIRECTORY_UNAVAILABLE' && e.status === 503);
    }
  } finally {
    await d.close();
  }
});

test('a DC that accepts and never answers is abandoned after ldap.timeout', async () => {
  const sockets = new Set<net.Socket>();
  const hang = net.createServer((s) => sockets.add(s));
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  const port = (hang.address() as net.AddressInfo).port;
  const { dir: d } = makeDirectory({ urls: [`ldaps://127.0.0.1:${port}`, testDc().ldapsUrl], timeout: 300 });
  try {
    assert.equal((await d.authenticate('bob', DEMO_PASSWORD)).sAMAccountName, 'bob');
    const { dir: only } = makeDirectory({ urls: [`ldaps://127.0.0.1:${port}`], timeout: 300 });
    await assert.rejects(only.lookup('bob'), (e: unknown) => e instanceof GatewayError && e.code === 'GW_DIRECTORY_UNAVAILABLE');
    await only.close();
  } finally {
    await d.close();
    for (const s of sockets) s.destroy();
    hang.close();
  }
});

test('a certificate for another name is refused (tlsServerName is verified)', async () => {
  const { dir: d } = makeDirectory({ tlsServerName: 'dc2.corp.example.com' });
  try {
    await assert.rejects(d.lookup('alice'), (e: unknown) => e instanceof GatewayError && e.code === 'GW_DIRECTORY_UNAVAILABLE');
  } finally {
    await d.close();
  }
});

test('lockout: after the threshold AD answers 775, even for the right password', async () => {
  await sambaTool(['user', 'unlock', 'lockme']);
  try {
    for (let i = 0; i < DOMAIN_POLICY.lockoutThreshold; i++) {
      const err = await refusal(dir.authenticate('lockme', `wrong-${i}`));
      assert.equal(err.reason, 'invalid_credentials');
    }
    const err = await refusal(dir.authenticate('lockme', DEMO_PASSWORD));
    assert.equal(err.reason, 'account_locked');
    assert.equal(err.code, 'GW_ACCOUNT_LOCKED');
    assert.equal(err.status, 423);
    assert.equal((await dir.lookup('lockme'))?.blockedReason, 'account_locked');
  } finally {
    await sambaTool(['user', 'unlock', 'lockme']);
  }
  assert.equal((await dir.authenticate('lockme', DEMO_PASSWORD)).sAMAccountName, 'lockme');
});
