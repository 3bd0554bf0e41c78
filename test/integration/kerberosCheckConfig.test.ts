// `check-config [--connect]` with auth.kerberos on, as an operator runs it: real keytabs exported by samba-tool from
// the test DC (and one written by ktutil for an SPN no account holds), the directory read over LDAPS.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { writeDevConfig } from '../../src/dev/devConfig.js';
import { currentKvno } from '../../src/dev/kerberosKdc.js';
import { runCli, type CliRun } from '../support/cli.js';
import { testDc } from '../support/dc.js';
import { testRedisUrl } from '../support/gateway.js';
import { kerberosFixture, type KerberosFixture, type ServiceKeytab } from '../support/kerberos.js';

let dir: string;
let krb: KerberosFixture;
/** A service of its own whose password this file rotates, so its old keytab is stale. */
let stale: KerberosFixture;
let rotated: ServiceKeytab;
let n = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sag-test-krbcheck-'));
  krb = await kerberosFixture();
  stale = await kerberosFixture({ host: 'stale.corp.example.com' });
  rotated = await stale.rotate();
});
after(async () => {
  await krb.close();
  await stale.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The dev config for the test DC with auth.kerberos on and `kerberos` merged in (written unchecked, as an operator may); check-config's run on it. */
async function checkConfig(kerberos: Record<string, unknown>, args: string[] = []): Promise<CliRun> {
  const { file: base } = writeDevConfig({
    dir: join(dir, `c${n++}`),
    dc: testDc(),
    redisUrl: testRedisUrl(),
    upstreamUrl: 'http://127.0.0.1:9',
    listen: '127.0.0.1:0',
    publicUrl: 'https://sentry.corp.example.com',
  });
  const doc = parseYaml(readFileSync(base, 'utf8')) as Record<string, unknown>;
  doc['auth'] = { kerberos: { enabled: true, keytabFile: krb.service.keytabFile, servicePrincipal: krb.service.servicePrincipal, realms: { 'CORP.EXAMPLE.COM': 'CORP' }, ...kerberos } };
  const file = base.replace(/\.yaml$/, '.kerberos.yaml');
  writeFileSync(file, stringify(doc));
  return runCli(['check-config', '--config', file, ...args], { timeoutMs: 30_000 });
}

test('a keytab samba-tool exported: the binding loads, the principal is listed with its kvno and AES enctypes', async () => {
  const kvno = await currentKvno(testDc(), krb.service.account);
  const r = await checkConfig({});
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok {3}kerberos binding: loaded \(kerberos 7\./);
  assert.ok(r.stdout.includes(`ok   auth.kerberos.keytabFile: HTTP/sentry.corp.example.com@CORP.EXAMPLE.COM: kvno ${kvno} (aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96)`), r.stdout);
  assert.doesNotMatch(r.stdout, /warning: .*kerberos/i);
});

test('--connect: the account holding the SPN is at a kvno the keytab holds', async () => {
  const kvno = await currentKvno(testDc(), krb.service.account);
  const r = await checkConfig({}, ['--connect']);
  assert.ok(r.stdout.includes(`ok   kerberos kvno: ${krb.service.account} is at kvno ${kvno}, which the keytab holds`), r.stdout + r.stderr);
});

test('--connect after a password change without a new keytab: names the kvno the KDC uses and the ones the keytab has', async () => {
  const kvno = await currentKvno(testDc(), stale.service.account);
  const r = await checkConfig({ keytabFile: stale.service.keytabFile, servicePrincipal: stale.service.servicePrincipal }, ['--connect']);
  assert.equal(r.code, 1);
  assert.ok(
    r.stdout.includes(`FAIL kerberos kvno: ${stale.service.account} is at kvno ${kvno}, the keytab holds ${kvno - 1}: tickets issued now cannot be decrypted; export the keytab again`),
    r.stdout,
  );
  // The keytab exported across the change holds both: fine.
  const ok = await checkConfig({ keytabFile: rotated.keytabFile, servicePrincipal: stale.service.servicePrincipal }, ['--connect']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.ok(ok.stdout.includes(`HTTP/stale.corp.example.com@CORP.EXAMPLE.COM: kvno ${kvno - 1} (aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96); kvno ${kvno} (`), ok.stdout);
});

test('a keytab without the configured principal names what it holds instead', async () => {
  const r = await checkConfig({ servicePrincipal: 'HTTP/gateway.corp.example.com' });
  assert.equal(r.code, 1);
  assert.ok(
    r.stdout.includes(`FAIL auth.kerberos.keytabFile: ${krb.service.keytabFile} holds no key for HTTP/gateway.corp.example.com@CORP.EXAMPLE.COM; it holds HTTP/sentry.corp.example.com@CORP.EXAMPLE.COM`),
    r.stdout,
  );
});

test('a file that is not a keytab, and one that is empty, each say so', async () => {
  const pem = join(dir, 'not.keytab');
  writeFileSync(pem, '-----BEGIN CERTIFICATE-----\n');
  const r = await checkConfig({ keytabFile: pem });
  assert.equal(r.code, 1);
  assert.ok(r.stdout.includes(`FAIL auth.kerberos.keytabFile: ${pem} is not a keytab (it does not start with 0x05 0x02)`), r.stdout);
  const empty = join(dir, 'empty.keytab');
  writeFileSync(empty, '');
  assert.ok((await checkConfig({ keytabFile: empty })).stdout.includes(`FAIL auth.kerberos.keytabFile: ${empty} is empty`));
});

test('--connect with an SPN no account holds: says browsers get no ticket', async () => {
  const keytab = join(dir, 'nobody.keytab');
  const made = spawnSync('ktutil', [], { input: `addent -password -p HTTP/nobody.corp.example.com@CORP.EXAMPLE.COM -k 1 -e aes256-cts-hmac-sha1-96\nsomething\nwkt ${keytab}\n`, encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const r = await checkConfig({ keytabFile: keytab, servicePrincipal: 'HTTP/nobody.corp.example.com' }, ['--connect']);
  assert.equal(r.code, 1);
  assert.ok(r.stdout.includes('FAIL kerberos kvno: no account in the directory holds the SPN HTTP/nobody.corp.example.com: browsers get no ticket for it'), r.stdout);
});

test('a missing keytab and a second realm stop the config from loading, each at its key', async () => {
  const missing = join(dir, 'missing.keytab');
  const r = await checkConfig({ keytabFile: missing, realms: { 'CORP.EXAMPLE.COM': 'CORP', 'EMEA.EXAMPLE.COM': 'EMEA' } });
  assert.equal(r.code, 1);
  const out = r.stdout + r.stderr;
  assert.ok(out.includes(`auth.kerberos.keytabFile: file not found: ${missing}`), out);
  assert.ok(out.includes("auth.kerberos.realms: names 2 realms; only one is accepted, the directory's own ({ CORP.EXAMPLE.COM: CORP })"), out);
});
