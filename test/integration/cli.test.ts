// The real command line as an operator runs it: a child process, real config files, the test DC and Redis.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { writeDevConfig } from '../../src/dev/devConfig.js';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { runCli, type CliRun } from '../support/cli.js';
import { testDc } from '../support/dc.js';
import { testRedisUrl } from '../support/gateway.js';


/** Every CLI output seen, so the last test can check none of it carries the bind password. */
const outputs: CliRun[] = [];

async function cli(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<CliRun> {
  const run = await runCli(args, { ...opts, timeoutMs: 30_000 });
  outputs.push(run);
  return run;
}

let dir: string;
let configFile: string;
let bindPassword: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sag-test-cli-'));
  const dc = testDc();
  bindPassword = readFileSync(dc.servicePasswordFile, 'utf8').trim();
  configFile = writeDevConfig({
    dir: join(dir, 'good'),
    dc,
    redisUrl: testRedisUrl(),
    upstreamUrl: 'http://127.0.0.1:9',
    listen: '127.0.0.1:0',
    publicUrl: 'http://127.0.0.1:8080',
  }).file;
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The good config with `edit` applied, written next to it. */
function variant(name: string, edit: (doc: Record<string, Record<string, unknown>>) => void): string {
  const doc = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, Record<string, unknown>>;
  edit(doc);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

describe('usage', () => {
  test('no command: exit 2 with usage', async () => {
    const r = await cli([]);
    assert.equal(r.code, 2);
    assert.match(r.stdout + r.stderr, /usage: sentry-ad-gateway/);
  });

  test('an unknown command: exit 2 and says which', async () => {
    const r = await cli(['frobnicate', '--config', configFile]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command: frobnicate/);
  });

  test('an unknown flag: exit 2', async () => {
    const r = await cli(['check-config', '--config', configFile, '--no-such-flag']);
    assert.equal(r.code, 2);
  });

  test('--help: exit 0 with usage', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /check-config/);
  });
});

describe('check-config', () => {
  test('a valid file exits 0', async () => {
    const r = await cli(['check-config', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configuration is valid/);
  });

  test('SAG_CONFIG names the file when --config is absent', async () => {
    const r = await cli(['check-config'], { env: { SAG_CONFIG: configFile } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(configFile));
  });

  test('a missing file exits 1 and names it', async () => {
    const missing = join(dir, 'nope.yaml');
    const r = await cli(['check-config', '--config', missing]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(missing));
  });

  const broken = () =>
    variant('broken', (d) => {
      d.server!.colour = 'blue'; // unknown key
      d.ldap!.timeout = 'soonish'; // bad duration
      d.upstream!.url = 'not a url'; // bad URL
      delete d.ldap!.bindPasswordFile; // missing required key
      d.session!.cookieName = 'sentrysid'; // clash with Sentry (cross-check)
    });

  test('a file with several problems exits 1 and prints every one with its key path', async () => {
    const r = await cli(['check-config', '--config', broken()]);
    assert.equal(r.code, 1);
    for (const path of ['server.colour', 'ldap.timeout', 'upstream.url', 'ldap.bindPasswordFile']) {
      assert.match(r.stderr, new RegExp(`^\\s+${path.replace('.', '\\.')}: `, 'm'), `${path} missing in:\n${r.stderr}`);
    }
    assert.match(r.stderr, /server\.colour: unknown key/);
    assert.match(r.stderr, /ldap\.timeout: .*soonish/);
  });

  test('--json lists the problems for machines', async () => {
    const r = await cli(['check-config', '--json', '--config', broken()]);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { ok: boolean; problems: { path: string; message: string }[] };
    assert.equal(out.ok, false);
    const paths = out.problems.map((p) => p.path);
    for (const path of ['server.colour', 'ldap.timeout', 'upstream.url', 'ldap.bindPasswordFile']) assert.ok(paths.includes(path), `${path} missing in ${paths.join(', ')}`);
    for (const p of out.problems) assert.equal(typeof p.message, 'string');
  });

  test('a bind password file that does not exist is reported with its path', async () => {
    const missing = join(dir, 'no-such-bind-password');
    const r = await cli(['check-config', '--config', variant('nofile', (d) => void (d.ldap!.bindPasswordFile = missing))]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ldap\.bindPasswordFile: .*not found/);
    assert.ok(r.stderr.includes(missing));
  });

  test('a metrics token file that does not exist is reported with its key and path, not left for serve to trip on', async () => {
    const missing = join(dir, 'no-such-metrics-token');
    const r = await cli(['check-config', '--config', variant('nometricstoken', (d) => void (d.server!.metricsTokenFile = missing))]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /server\.metricsTokenFile: .*not found/);
    assert.ok(r.stderr.includes(missing));
  });

  test('a bad environment override is reported at its key path', async () => {
    const r = await cli(['check-config', '--json', '--config', configFile], { env: { SAG_LDAP__TIMEOUT: 'nonsense' } });
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { problems: { path: string; message: string }[] };
    assert.ok(out.problems.some((p) => p.path === 'ldap.timeout' && p.message.includes('nonsense')), r.stdout);
  });

  test('an unknown SAG_ variable is reported', async () => {
    const r = await cli(['check-config', '--config', configFile], { env: { SAG_FOO: 'bar' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SAG_FOO/);
  });

  test('a good environment override is applied', async () => {
    const r = await cli(['check-config', '--config', configFile], { env: { SAG_LDAP__TIMEOUT: '3s', SAG_LDAP__URLS: '["ldaps://a.example","ldaps://b.example"]' } });
    assert.equal(r.code, 0, r.stderr);
  });

  test('--connect binds to the DC and pings Redis', async () => {
    // A database of its own: what other suites leave in the shared one (a second factor someone enrolled) is
    // a real reason for --connect to fail (the key file and Redis's persistence are then needed), not this test's.
    const env = { SAG_SESSION__REDIS_URL: testRedisUrl().replace(/\/\d*$/, '/13') };
    const r = await cli(['check-config', '--connect', '--config', configFile], { env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok\s+ldap ldaps:\/\/\S+: service account bind ok/);
    assert.match(r.stdout, /ok\s+redis: answered PONG/);
    const json = await cli(['check-config', '--connect', '--json', '--config', configFile], { env });
    assert.equal(json.code, 0);
    const out = JSON.parse(json.stdout) as { ok: boolean; checks: { name: string; ok: boolean }[] };
    assert.equal(out.ok, true);
    assert.ok(out.checks.some((c) => c.name.startsWith('ldap ') && c.ok));
    assert.ok(out.checks.some((c) => c.name === 'redis' && c.ok));
  });

  test('--connect with a wrong bind password exits 1', async () => {
    const wrong = join(dir, 'wrong_bind_password');
    writeFileSync(wrong, 'Wrong-Bind-Pw-For-Test-9\n', { mode: 0o600 });
    const r = await cli(['check-config', '--connect', '--config', variant('wrongbind', (d) => void (d.ldap!.bindPasswordFile = wrong))]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL\s+ldap /);
    assert.ok(!(r.stdout + r.stderr).includes('Wrong-Bind-Pw-For-Test-9'), 'the wrong password is not echoed');
  });

  test('--connect to a Redis that is not there exits 1', async () => {
    const r = await cli(['check-config', '--connect', '--config', configFile], { env: { SAG_SESSION__REDIS_URL: 'redis://127.0.0.1:1/0' } });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL\s+redis/);
  });
});

describe('explain', () => {
  test('alice: nested groups with their path, ALLOWED, manager from the SRE rule', async () => {
    const r = await cli(['explain', 'alice', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^alice — Alice Adams <alice\.adams@corp\.example\.com>/);
    assert.match(r.stdout, /Sentry Users\s+via Platform Oncall → SRE/);
    assert.match(r.stdout, /SRE\s+via Platform Oncall/);
    assert.match(r.stdout, /Platform Oncall\s+direct member/);
    assert.match(r.stdout, /Domain Users\s+primary group/);
    assert.match(r.stdout, /Access:\s+ALLOWED/);
    assert.match(r.stdout, /Admin:\s+yes/);
    assert.match(r.stdout, /Org role: manager — rule 1 \(SRE\)/);
    assert.match(r.stdout, /sre\s+admin\s+rule 1 \(SRE\)/);
    assert.match(r.stdout, /backend\s+\S+\s+rule 1 \(SRE\)/);
    assert.doesNotMatch(r.stdout, /Password:/, 'no password check without --password-stdin');
  });

  test('explain shows the lockout policy that applies, and what the gateway allows under it', async () => {
    const r = await cli(['explain', 'alice', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Lockout:\s+the domain policy applies \(locks after 10 bad passwords within 30m\)/);
    assert.match(r.stdout, /gateway:\s+5 failed sign-ins, then 429 until 30m pass without a failure/);
    const json = JSON.parse((await cli(['explain', 'alice', '--json', '--config', configFile])).stdout) as { lockout: { applies: string; domain: { threshold: number }; gateway: { failuresAllowed: number } } };
    assert.equal(json.lockout.applies, 'domain');
    assert.equal(json.lockout.domain.threshold, 10);
    assert.equal(json.lockout.gateway.failuresAllowed, 5);
  });

  test('every accepted name form finds the same person', async () => {
    for (const form of ['CORP\\alice', 'alice@corp.example.com', 'ALICE']) {
      const r = await cli(['explain', form, '--json', '--config', configFile]);
      assert.equal(r.code, 0, form);
      assert.equal((JSON.parse(r.stdout) as { user: { username: string } }).user.username, 'alice', form);
    }
  });

  test('--json carries the same facts', async () => {
    const r = await cli(['explain', 'alice', '--json', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      found: boolean;
      user: { username: string; email: string };
      groups: { name: string; path: string[] }[];
      access: { allowed: boolean };
      admin: boolean;
      orgRole: { role: string; from: string };
      teams: { slug: string; role: string; from: string[] }[];
    };
    assert.equal(out.found, true);
    assert.equal(out.user.username, 'alice');
    assert.deepEqual(out.groups.find((g) => g.name === 'Sentry Users')?.path, ['Platform Oncall', 'SRE', 'Sentry Users']);
    assert.equal(out.access.allowed, true);
    assert.equal(out.admin, true);
    assert.equal(out.orgRole.role, 'manager');
    assert.match(out.orgRole.from, /SRE/);
    const sre = out.teams.find((t) => t.slug === 'sre');
    assert.equal(sre?.role, 'admin');
    assert.ok(sre?.from.some((f) => f.includes('SRE')));
    assert.ok(out.teams.some((t) => t.slug === 'backend'));
  });

  test('outsider: DENIED, default role', async () => {
    const r = await cli(['explain', 'outsider', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Access:\s+DENIED/);
    assert.match(r.stdout, /Teams:\s+\(none\)/);
    const json = JSON.parse((await cli(['explain', 'outsider', '--json', '--config', configFile])).stdout) as { access: { allowed: boolean } };
    assert.equal(json.access.allowed, false);
  });

  test('a member of a deny group: DENIED', async () => {
    const r = await cli(['explain', 'denied', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Access:\s+DENIED/);
  });

  test('an unknown user exits 1', async () => {
    const r = await cli(['explain', 'nobody', '--config', configFile]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /nobody: no such user/);
    const json = await cli(['explain', 'nobody', '--json', '--config', configFile]);
    assert.equal(json.code, 1);
    assert.deepEqual(JSON.parse(json.stdout), { found: false, username: 'nobody' });
  });

  test('explain without a user is a usage error', async () => {
    const r = await cli(['explain', '--config', configFile]);
    assert.equal(r.code, 2);
  });

  test('--password-stdin: a wrong password is refused, the right one verified', async () => {
    // Wrong first, so the right one afterwards resets AD's bad-password count.
    const wrong = await cli(['explain', 'alice', '--password-stdin', '--config', configFile], { stdin: 'Not-Her-Password-1\n' });
    assert.equal(wrong.code, 0, wrong.stderr);
    assert.match(wrong.stdout, /Password: refused/);
    assert.ok(!(wrong.stdout + wrong.stderr).includes('Not-Her-Password-1'));

    const right = await cli(['explain', 'alice', '--password-stdin', '--config', configFile], { stdin: DEMO_PASSWORD + '\n' });
    assert.equal(right.code, 0, right.stderr);
    assert.match(right.stdout, /Password: verified/);

    const json = await cli(['explain', 'alice', '--password-stdin', '--json', '--config', configFile], { stdin: DEMO_PASSWORD });
    assert.equal((JSON.parse(json.stdout) as { password: string }).password, 'verified');
    for (const r of [right, json]) assert.ok(!(r.stdout + r.stderr).includes(DEMO_PASSWORD), 'the user password is not echoed');
  });
});

describe('secrets', () => {
  test('the bind password never appears in any CLI output', async () => {
    // Also the most verbose path: debug logging with a connect check.
    await cli(['check-config', '--connect', '--config', configFile], { env: { SAG_LOG__LEVEL: 'trace' } });
    await cli(['explain', 'alice', '--config', configFile], { env: { SAG_LOG__LEVEL: 'trace' } });
    assert.ok(outputs.length > 20, 'the other tests ran first');
    for (const r of outputs) {
      assert.ok(!r.stdout.includes(bindPassword), `stdout leaks the bind password: ${r.stdout.slice(0, 200)}`);
      assert.ok(!r.stderr.includes(bindPassword), `stderr leaks the bind password: ${r.stderr.slice(0, 200)}`);
    }
  });
});
