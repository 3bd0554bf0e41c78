// Loading the config: defaults from docs/design.md §4, durations, every problem at once with its key path, env overrides.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig, realmOfBaseDn, type LoadResult } from '../../src/config/loadConfig.js';
import type { Config } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'sag-test-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const bindPasswordFile = join(dir, 'bind_password');
writeFileSync(bindPasswordFile, 'not-a-real-password\n', { mode: 0o600 });

/** The smallest valid config: only the keys that have no default. */
function minimal(): Record<string, Record<string, unknown>> {
  return {
    server: { publicUrl: 'https://sentry.example.com' },
    upstream: { url: 'http://sentry-web:9000' },
    ldap: {
      urls: ['ldaps://dc1.corp.example.com'],
      bindDn: 'CN=svc-sentry,OU=Service Accounts,DC=corp,DC=example,DC=com',
      bindPasswordFile,
      baseDn: 'DC=corp,DC=example,DC=com',
    },
  };
}

let n = 0;
function load(doc: unknown, env: Record<string, string> = {}): LoadResult {
  const file = join(dir, `gateway-${n++}.yaml`);
  writeFileSync(file, typeof doc === 'string' ? doc : stringify(doc));
  return loadConfig({ file, env });
}

function ok(doc: unknown, env: Record<string, string> = {}): Config {
  const r = load(doc, env);
  if (!r.ok) assert.fail(`expected a valid config, got: ${r.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return r.config;
}

function problems(doc: unknown, env: Record<string, string> = {}): { path: string; message: string }[] {
  const r = load(doc, env);
  assert.equal(r.ok, false, 'expected the config to be refused');
  return r.ok ? [] : r.problems;
}

function paths(doc: unknown, env: Record<string, string> = {}): string[] {
  return problems(doc, env).map((p) => p.path);
}

function withKey(section: string, key: string, value: unknown) {
  const doc = minimal();
  doc[section] = { ...(doc[section] ?? {}), [key]: value };
  return doc;
}

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('defaults', () => {
  test('a minimal config gets every behaviour default of docs/design.md §4', () => {
    const c = ok(minimal());
    const expected: [string, unknown][] = [
      ['server.listen', '0.0.0.0:8080'],
      ['server.trustProxy', 'loopback'],
      ['server.metricsListen', ''],
      ['server.bodyTimeout', 60 * S],
      ['upstream.timeout', 60 * S],
      ['upstream.maxBodyBytes', 104_857_600],
      ['upstream.maxConnections', 512],
      ['upstream.rewriteOrigins', []],
      ['ldap.startTls', false],
      ['ldap.tlsRejectUnauthorized', true],
      ['ldap.timeout', 5 * S],
      ['access.allowGroups', []],
      ['access.denyGroups', []],
      ['throttle.perUser', 'auto'],
      ['throttle.perAddress', 20],
      ['throttle.window', 15 * M],
      ['session.redisUrl', ''],
      ['session.cookieName', 'sag_session'],
      ['session.idleTimeout', 8 * H],
      ['session.absoluteTimeout', 7 * D],
      ['session.revalidateInterval', 5 * M],
      ['sentry.provisionOnLogin', true],
      ['sentry.loginTimeout', 3 * S],
      ['sentry.sync.interval', 15 * M],
      ['sentry.sync.removeMembers', false],
      ['sentry.sync.maxRemovalsPercent', 10],
      ['mapping.defaultOrgRole', 'member'],
      ['mapping.rules', []],
      ['assertion.header', 'X-Sentry-Gateway-Assertion'],
      ['assertion.algorithm', 'ES256'],
      ['assertion.ttl', 60 * S],
      ['assertion.audience', 'sentry'],
      ['bypass.ingestion', true],
      ['bypass.tokenApi', true],
      ['bypass.paths', []],
      ['log.level', 'info'],
      ['mfa.require', 'never'],
      ['mfa.trustedNetworks', []],
      ['mfa.requireForGroups', []],
      ['mfa.enrolFrom', undefined],
      ['mfa.methods', ['webauthn', 'totp']],
      ['mfa.keyFile', '/run/secrets/mfa_key'],
      ['mfa.webauthn.userVerification', 'preferred'],
    ];
    for (const [path, value] of expected) {
      const actual = path.split('.').reduce<unknown>((node, k) => (node as Record<string, unknown>)[k], c);
      assert.deepEqual(actual, value, path);
    }
  });

  test('sentry.url and upstream.ingestUrl stay unset, so they fall back to upstream.url', () => {
    const c = ok(minimal());
    assert.equal(c.sentry.url, undefined);
    assert.equal(c.upstream.ingestUrl, undefined);
  });

  test('an empty redisUrl loads with a warning about in-memory sessions', () => {
    const r = load(minimal());
    assert.ok(r.ok);
    assert.ok(r.warnings.some((w) => /session\.redisUrl/.test(w) && /development/.test(w)), r.warnings.join('\n'));
  });
});

describe('durations', () => {
  const table: [string, number][] = [
    ['90s', 90 * S],
    ['15m', 15 * M],
    ['8h', 8 * H],
    ['7d', 7 * D],
    ['1500ms', 1500],
    ['0', 0],
  ];
  for (const [text, ms] of table) {
    test(`"${text}" is ${ms} ms`, () => {
      assert.equal(ok(withKey('sentry', 'sync', { interval: text })).sentry.sync.interval, ms);
    });
  }

  for (const bad of ['nonsense', '5 minutes', '10', '-5s', '5x', '']) {
    test(`"${bad}" is refused at its key path`, () => {
      const found = problems(withKey('ldap', 'timeout', bad));
      const p = found.find((x) => x.path === 'ldap.timeout');
      assert.ok(p, `no problem at ldap.timeout: ${JSON.stringify(found)}`);
      if (bad) assert.match(p.message, /duration/);
    });
  }
});

describe('every problem at once', () => {
  test('several problems in several sections are all reported with their key paths', () => {
    const doc = minimal();
    doc.server = { ...doc.server, publicUrl: 'not a url', colour: 'blue' };
    doc.upstream = { ...doc.upstream, timeout: 'soon' };
    doc.ldap = { ...doc.ldap, bindPasswordFile: join(dir, 'does-not-exist') };
    doc.session = { idleTimeout: 'forever', cookieName: 'sentrysid' };
    doc.log = { level: 'chatty' };
    const found = paths(doc);
    for (const p of ['server.publicUrl', 'server.colour', 'upstream.timeout', 'session.idleTimeout', 'log.level', 'ldap.bindPasswordFile']) {
      assert.ok(found.includes(p), `missing ${p} in ${JSON.stringify(found)}`);
    }
  });

  test('a missing bind password file is named with its path', () => {
    const missing = join(dir, 'no-such-secret');
    const found = problems(withKey('ldap', 'bindPasswordFile', missing));
    const p = found.find((x) => x.path === 'ldap.bindPasswordFile');
    assert.ok(p);
    assert.ok(p.message.includes(missing));
  });

  test('required keys that are absent are reported', () => {
    const found = paths({ server: {}, upstream: {}, ldap: {} });
    for (const p of ['server.publicUrl', 'upstream.url', 'ldap.urls', 'ldap.bindDn', 'ldap.bindPasswordFile', 'ldap.baseDn']) {
      assert.ok(found.includes(p), `missing ${p} in ${JSON.stringify(found)}`);
    }
  });

  test('a file that is not YAML, or not a mapping, is one problem, not a crash', () => {
    assert.deepEqual(paths('server: [unclosed'), ['(file)']);
    assert.deepEqual(paths('- a\n- b\n'), ['(file)']);
    const r = loadConfig({ file: join(dir, 'absent.yaml'), env: {} });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && /not found/.test(r.problems[0]!.message));
  });
});

describe('unknown keys are errors at any depth', () => {
  const table: [string, (d: Record<string, Record<string, unknown>>) => void, string][] = [
    ['top level', (d) => void (d.extras = { a: 1 }), 'extras'],
    ['section', (d) => void (d.ldap!.timout = '5s'), 'ldap.timout'],
    ['nested section', (d) => void (d.sentry = { sync: { intervall: '5m' } }), 'sentry.sync.intervall'],
    ['mapping rule', (d) => void (d.mapping = { rules: [{ group: 'SRE', orgrole: 'manager' }] }), 'mapping.rules.0.orgrole'],
    ['team in a rule', (d) => void (d.mapping = { rules: [{ group: 'SRE', teams: [{ slug: 'sre', rank: 'admin' }] }] }), 'mapping.rules.0.teams.0.rank'],
  ];
  for (const [name, edit, path] of table) {
    test(`${name}: ${path}`, () => {
      const doc = minimal();
      edit(doc);
      const found = problems(doc);
      assert.ok(found.some((p) => p.path === path && /unknown key/.test(p.message)), JSON.stringify(found));
    });
  }

  test('two unknown keys in one section are two problems', () => {
    const doc = minimal();
    doc.ldap = { ...doc.ldap, foo: 1, bar: 2 };
    const found = paths(doc);
    assert.ok(found.includes('ldap.foo') && found.includes('ldap.bar'), JSON.stringify(found));
  });
});

describe('environment overrides', () => {
  test('SAG_LDAP__BIND_DN stays a string even when it looks like YAML', () => {
    for (const value of ['CN=svc: sentry,DC=corp', '[not, a, list]', 'true', '12345', '{a: 1}', 'null']) {
      assert.equal(ok(minimal(), { SAG_LDAP__BIND_DN: value }).ldap.bindDn, value);
    }
  });

  test('SAG_LDAP__URLS takes a JSON/YAML list, in order', () => {
    const c = ok(minimal(), { SAG_LDAP__URLS: '["ldaps://a","ldaps://b"]' });
    assert.deepEqual(c.ldap.urls, ['ldaps://a', 'ldaps://b']);
  });

  test('SAG_SESSION__IDLE_TIMEOUT=30m is a duration', () => {
    assert.equal(ok(minimal(), { SAG_SESSION__IDLE_TIMEOUT: '30m' }).session.idleTimeout, 30 * M);
  });

  test('SAG_LDAP__START_TLS=true is a boolean and lets ldap:// through', () => {
    const c = ok(withKey('ldap', 'urls', ['ldap://dc1.corp.example.com']), { SAG_LDAP__START_TLS: 'true' });
    assert.equal(c.ldap.startTls, true);
  });

  test('numbers and nested keys: SAG_THROTTLE__PER_ADDRESS, SAG_SENTRY__SYNC__REMOVE_MEMBERS', () => {
    const c = ok(minimal(), { SAG_THROTTLE__PER_ADDRESS: '7', SAG_SENTRY__SYNC__REMOVE_MEMBERS: 'true' });
    assert.equal(c.throttle.perAddress, 7);
    assert.equal(c.sentry.sync.removeMembers, true);
  });

  test('the environment wins over the file', () => {
    const c = ok(withKey('log', 'level', 'debug'), { SAG_LOG__LEVEL: 'warn' });
    assert.equal(c.log.level, 'warn');
  });

  test('an override can fill a key missing from the file', () => {
    const doc = minimal();
    delete doc.upstream!.url;
    assert.equal(ok(doc, { SAG_UPSTREAM__URL: 'http://sentry-web:9000' }).upstream.url, 'http://sentry-web:9000');
  });

  test('a bad override is reported at the key path it overrides', () => {
    const found = problems(minimal(), { SAG_LDAP__TIMEOUT: 'nonsense' });
    assert.ok(found.some((p) => p.path === 'ldap.timeout'), JSON.stringify(found));
  });

  test('an unknown SAG_ variable is a problem; non-key SAG_ variables and others are ignored', () => {
    const found = problems(minimal(), { SAG_FOO: '1', SAG_LDAP__NOPE: 'x', HOME: '/root' });
    assert.ok(found.some((p) => p.path === 'SAG_FOO'), JSON.stringify(found));
    assert.ok(found.some((p) => p.path === 'SAG_LDAP__NOPE'), JSON.stringify(found));
    ok(minimal(), { SAG_CONFIG: '/etc/gateway.yaml', PATH: '/usr/bin' });
  });
});

describe('refusals that protect the deployment', () => {
  test('ldap:// without startTls is refused', () => {
    const found = problems(withKey('ldap', 'urls', ['ldaps://dc1.corp.example.com', 'ldap://dc2.corp.example.com']));
    assert.ok(found.some((p) => p.path === 'ldap.urls' && /startTls/.test(p.message)), JSON.stringify(found));
  });

  test('ldap:// with startTls is accepted', () => {
    const doc = withKey('ldap', 'urls', ['ldap://dc1.corp.example.com']);
    doc.ldap!.startTls = true;
    ok(doc);
  });

  for (const name of ['sentrysid', 'sc', 'su', 'sudo']) {
    test(`cookieName "${name}" clashes with Sentry's own cookie`, () => {
      const found = problems(withKey('session', 'cookieName', name));
      assert.ok(found.some((p) => p.path === 'session.cookieName'), JSON.stringify(found));
    });
  }

  const bad: [string, string, unknown, string][] = [
    ['a non-http publicUrl', 'server', 'publicUrl', 'ftp://sentry.example.com'],
    ['a listen address without a port', 'server', 'listen', '0.0.0.0'],
    ['an ldap url with a path', 'ldap', 'urls', ['ldaps://dc1/extra']],
    ['an empty DC list', 'ldap', 'urls', []],
    ['an unknown algorithm', 'assertion', 'algorithm', 'HS256'],
    ['a non-redis redisUrl', 'session', 'redisUrl', 'http://127.0.0.1:6379'],
    ['a bypass path under /_gateway', 'bypass', 'paths', ['/_gateway/admin']],
  ].map(([name, section, key, value]) => [name as string, section as string, value, `${section as string}.${key as string}`]);
  for (const [name, section, value, path] of bad) {
    test(`${name} is refused at ${path}`, () => {
      const found = paths(withKey(section, path.split('.')[1]!, value));
      assert.ok(found.some((p) => p === path || p.startsWith(path + '.')), JSON.stringify(found));
    });
  }

  test('an absolute timeout shorter than the idle timeout is refused', () => {
    const found = paths(withKey('session', 'absoluteTimeout', '1h'));
    assert.ok(found.includes('session.absoluteTimeout'), JSON.stringify(found));
  });
});

describe('mfa', () => {
  const keyFile = join(dir, 'mfa_key');
  writeFileSync(keyFile, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', { mode: 0o600 });
  const withRedis = (mfa: Record<string, unknown>): Record<string, Record<string, unknown>> => ({ ...minimal(), session: { redisUrl: 'redis://127.0.0.1:6379/0' }, mfa: { keyFile, ...mfa } });

  test('a second factor "outside" a trusted network, for a group, with IPv4 and IPv6 networks and lone addresses', () => {
    const c = ok(withRedis({ require: 'outside', trustedNetworks: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'], requireForGroups: ['Sentry Owners'], enrolFrom: [], methods: ['totp'] }));
    assert.equal(c.mfa.require, 'outside');
    assert.deepEqual(c.mfa.trustedNetworks, ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
    assert.deepEqual(c.mfa.enrolFrom, []);
    assert.deepEqual(c.mfa.methods, ['totp']);
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ['a network that is no CIDR', { trustedNetworks: ['10.0.0.0/8', 'office'] }, 'mfa.trustedNetworks.1'],
    ['a prefix longer than the family allows', { trustedNetworks: ['10.0.0.0/33'] }, 'mfa.trustedNetworks.0'],
    ['an IPv6 prefix past 128', { enrolFrom: ['2001:db8::/129'] }, 'mfa.enrolFrom.0'],
    ['a host name as a network', { enrolFrom: ['vpn.corp.example.com'] }, 'mfa.enrolFrom.0'],
    ['an unknown require', { require: 'sometimes' }, 'mfa.require'],
    ['an unknown method', { methods: ['sms'] }, 'mfa.methods.0'],
    ['no method', { methods: [] }, 'mfa.methods'],
    ['a method twice', { methods: ['totp', 'totp'] }, 'mfa.methods'],
    ['an empty group', { requireForGroups: [''] }, 'mfa.requireForGroups.0'],
    ['an unknown user verification', { webauthn: { userVerification: 'always' } }, 'mfa.webauthn.userVerification'],
    ['an unknown key', { lifetime: '1h' }, 'mfa.lifetime'],
    ['"outside" with no trusted network', { require: 'outside' }, 'mfa.trustedNetworks'],
  ];
  for (const [name, mfa, path] of bad) {
    test(`${name} is refused at ${path}`, () => {
      const found = paths(withRedis(mfa));
      assert.ok(found.includes(path), JSON.stringify(found));
    });
  }

  test('"outside" with trustProxy: true is refused: a forged X-Forwarded-For would claim a trusted network', () => {
    const doc = withRedis({ require: 'outside', trustedNetworks: ['10.0.0.0/8'] });
    doc.server = { ...doc.server, trustProxy: true };
    const p = problems(doc).find((x) => x.path === 'server.trustProxy');
    assert.ok(p && /X-Forwarded-For/.test(p.message), JSON.stringify(p));
    doc.server = { ...doc.server, trustProxy: '10.1.2.3' };
    ok(doc);
  });

  test('WebAuthn with an IP address in publicUrl is refused (no RP ID); without webauthn in methods it loads', () => {
    const doc = withRedis({ require: 'always' });
    doc.server = { ...doc.server, publicUrl: 'https://10.0.0.5' };
    assert.ok(paths(doc).includes('server.publicUrl'));
    doc.mfa = { ...doc.mfa, methods: ['totp'] };
    ok(doc);
  });

  test('a second factor without Redis is refused: factors are never kept in process memory', () => {
    const doc = { ...minimal(), mfa: { keyFile, require: 'always' } };
    const p = problems(doc).find((x) => x.path === 'mfa');
    assert.ok(p && /session\.redisUrl/.test(p.message), JSON.stringify(p));
  });

  test('a missing key file is named with its path, also when it is the default and a group asks for a factor', () => {
    const missing = join(dir, 'no-mfa-key');
    const found = problems(withRedis({ require: 'always', keyFile: missing }));
    assert.ok(found.some((p) => p.path === 'mfa.keyFile' && p.message.includes(missing)), JSON.stringify(found));
    const doc = withRedis({ requireForGroups: ['Sentry Owners'] });
    delete (doc.mfa as Record<string, unknown>).keyFile;
    assert.ok(problems(doc).some((p) => p.path === 'mfa.keyFile' && p.message.includes('/run/secrets/mfa_key')));
  });

  test('a key file that holds no 32-byte base64 key is refused at mfa.keyFile, naming the line and never its content', () => {
    const bad = join(dir, 'bad_mfa_key');
    writeFileSync(bad, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nsecret-but-not-a-key\n', { mode: 0o600 });
    const p = problems(withRedis({ require: 'always', keyFile: bad })).find((x) => x.path === 'mfa.keyFile');
    assert.ok(p && /line 2/.test(p.message) && !p.message.includes('secret-but-not-a-key'), JSON.stringify(p));
    writeFileSync(bad, '\n');
    assert.ok(problems(withRedis({ require: 'always', keyFile: bad })).some((x) => x.path === 'mfa.keyFile' && /no key/.test(x.message)));
  });

  test('with the second factor off, the default key file need not exist', () => {
    ok(minimal());
  });

  test('SAG_MFA__REQUIRE, SAG_MFA__TRUSTED_NETWORKS and SAG_MFA__WEBAUTHN__USER_VERIFICATION override the file', () => {
    const c = ok(withRedis({}), { SAG_MFA__REQUIRE: 'outside', SAG_MFA__TRUSTED_NETWORKS: '["10.0.0.0/8"]', SAG_MFA__WEBAUTHN__USER_VERIFICATION: 'required' });
    assert.equal(c.mfa.require, 'outside');
    assert.deepEqual(c.mfa.trustedNetworks, ['10.0.0.0/8']);
    assert.equal(c.mfa.webauthn.userVerification, 'required');
    assert.ok(paths(withRedis({}), { SAG_MFA__TRUSTED_NETWORKS: '["nowhere"]' }).includes('mfa.trustedNetworks.0'));
  });
});

describe('nginx mode', () => {
  test('off by default, with no decision cache', () => {
    const c = ok(minimal());
    assert.equal(c.nginx.enabled, false);
    assert.equal(c.nginx.decisionCache, 0);
    assert.deepEqual(c.nginx.realIpFrom, []);
  });

  test('a decision cache as long as assertion.ttl or longer is refused: a cached decision carries an assertion', () => {
    assert.deepEqual(paths({ ...minimal(), nginx: { enabled: true, decisionCache: '60s' } }), ['nginx.decisionCache']);
    assert.deepEqual(paths({ ...minimal(), assertion: { ttl: '30s' }, nginx: { enabled: true, decisionCache: '45s' } }), ['nginx.decisionCache']);
    assert.equal(ok({ ...minimal(), nginx: { enabled: true, decisionCache: '3s' } }).nginx.decisionCache, 3 * S);
  });

  test('with trustProxy false no nginx could ever be answered: refused', () => {
    const doc = { ...minimal(), server: { ...minimal().server, trustProxy: false }, nginx: { enabled: true } };
    assert.deepEqual(paths(doc), ['server.trustProxy']);
  });

  test('realIpFrom takes CIDRs only, and listen no nginx syntax', () => {
    assert.deepEqual(paths({ ...minimal(), nginx: { realIpFrom: ['10.0.0.0/8', 'lb.example.com'] } }), ['nginx.realIpFrom.1']);
    assert.deepEqual(paths({ ...minimal(), nginx: { listen: '80; include /etc/passwd' } }), ['nginx.listen']);
  });
});

describe('kerberos', () => {
  const keytabFile = join(dir, 'http.keytab');
  writeFileSync(keytabFile, Buffer.from([0x05, 0x02]), { mode: 0o600 });
  const withKerberos = (kerberos: Record<string, unknown>, netbiosDomain = 'CORP'): Record<string, Record<string, unknown>> => {
    const doc = minimal();
    return { ...doc, ldap: { ...doc.ldap, netbiosDomain }, auth: { kerberos: { enabled: true, keytabFile, servicePrincipal: 'HTTP/sentry.example.com', realms: { 'CORP.EXAMPLE.COM': 'CORP' }, ...kerberos } } };
  };

  test('on with a realm mapped to the directory’s domain loads; off, nothing about it is checked', () => {
    const r = load(withKerberos({}));
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    assert.deepEqual(r.warnings.filter((w) => w.includes('kerberos')), []);
    ok({ ...minimal(), auth: { kerberos: { enabled: false, keytabFile: join(dir, 'not-there.keytab') } } });
  });

  test('on with no realm is refused: no ticket could sign anyone in', () => {
    const p = problems(withKerberos({ realms: {} }));
    assert.deepEqual(p.map((x) => x.path), ['auth.kerberos.realms']);
    assert.match(p[0]!.message, /names no realm.*CORP\.EXAMPLE\.COM: CORP/);
  });

  test('a second realm is refused at auth.kerberos.realms: bob@PARTNER.COM would sign in as CORP\\bob', () => {
    const p = problems(withKerberos({ realms: { 'CORP.EXAMPLE.COM': 'CORP', 'PARTNER.COM': 'CORP' } }));
    assert.deepEqual(p.map((x) => x.path), ['auth.kerberos.realms']);
    assert.match(p[0]!.message, /names 2 realms; only one is accepted, the directory's own \(\{ CORP\.EXAMPLE\.COM: CORP \}\)/);
    assert.match(p[0]!.message, /would sign in as this domain's account of the same name/);
  });

  test('the one realm is the DNS name of ldap.baseDn upper-cased, whatever OU the base names', () => {
    const p = problems(withKerberos({ realms: { 'PARTNER.COM': 'CORP' } }));
    assert.deepEqual(p.map((x) => x.path), ['auth.kerberos.realms.PARTNER.COM']);
    assert.match(p[0]!.message, /must be CORP\.EXAMPLE\.COM, the DNS name of ldap\.baseDn upper-cased/);
    // A parent domain's realm is another realm too.
    assert.deepEqual(paths(withKerberos({ realms: { 'EXAMPLE.COM': 'CORP' } })), ['auth.kerberos.realms.EXAMPLE.COM']);
    const scoped = withKerberos({});
    scoped.ldap = { ...scoped.ldap, baseDn: 'OU=People, dc=corp,dc=example,dc=com' };
    ok(scoped);
    const noDc = withKerberos({});
    noDc.ldap = { ...noDc.ldap, baseDn: 'O=Example' };
    assert.deepEqual(paths(noDc), ['ldap.baseDn']);
    assert.equal(realmOfBaseDn('OU=People,DC=emea,DC=corp,DC=example,DC=com'), 'EMEA.CORP.EXAMPLE.COM');
  });

  test('the realm maps to the directory’s one domain', () => {
    const p = problems(withKerberos({ realms: { 'CORP.EXAMPLE.COM': 'EMEA' } }));
    assert.deepEqual(p.map((x) => x.path), ['auth.kerberos.realms.CORP.EXAMPLE.COM']);
    assert.match(p[0]!.message, /maps to "EMEA", but the directory knows one domain, ldap\.netbiosDomain "CORP"/);
    assert.deepEqual(paths(withKerberos({}, '')), ['auth.kerberos.realms.CORP.EXAMPLE.COM']);
  });

  test('the keytab is a secret file: a missing one is named with its path, also the default one', () => {
    const missing = join(dir, 'missing.keytab');
    const p = problems(withKerberos({ keytabFile: missing }));
    assert.deepEqual(p, [{ path: 'auth.kerberos.keytabFile', message: `file not found: ${missing}` }]);
    const doc = withKerberos({});
    delete (doc.auth!.kerberos as Record<string, unknown>).keytabFile;
    assert.deepEqual(problems(doc), [{ path: 'auth.kerberos.keytabFile', message: 'file not found: /run/secrets/http.keytab' }]);
    assert.deepEqual(paths(withKey('auth', 'kerberos', { keytabFile: missing }), { SAG_AUTH__KERBEROS__ENABLED: 'true', SAG_AUTH__KERBEROS__REALMS: '{CORP.EXAMPLE.COM: CORP}', SAG_LDAP__NETBIOS_DOMAIN: 'CORP' }), ['auth.kerberos.keytabFile']);
  });

  test('a service principal for another host than publicUrl’s is a warning: browsers ask for HTTP/<the host they see>', () => {
    const r = load(withKerberos({ servicePrincipal: 'HTTP/gateway.internal.example.com' }));
    assert.ok(r.ok);
    assert.ok(r.warnings.some((w) => /servicePrincipal is HTTP\/gateway\.internal\.example\.com but server\.publicUrl's host is sentry\.example\.com/.test(w)), JSON.stringify(r.warnings));
  });
});
