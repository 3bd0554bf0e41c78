// Where the gateway reads the service keys from (auth/kerberos/keytabPlace.ts): a private copy in the first place
// that takes a directory, else the configured file in place; and the stale copies a killed gateway left behind.
// The tests run as root, which writes through any mode bits, so a place that refuses a directory is one under a
// regular file (what a read-only filesystem is to mkdtemp: it cannot make anything there).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { checkKerberosLocal } from '../../src/auth/kerberos/kerberosChecks.js';
import { GssapiAcceptor, type KerberosBinding } from '../../src/auth/kerberos/gssapiAcceptor.js';
import { placeKeytab, removeStaleKeytabDirs } from '../../src/auth/kerberos/keytabPlace.js';
import { loadKerberosBinding } from '../../src/auth/kerberos/loadBinding.js';
import type { Config } from '../../src/config/schema.js';

const SERVICE = 'HTTP/sentry.example.com';
let dir: string;
let keytab: string;
let refusing: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sag-test-keytabplace-'));
  keytab = join(dir, 'http.keytab');
  const r = spawnSync('ktutil', [], { input: `addent -password -p ${SERVICE}@CORP.EXAMPLE.COM -k 2 -e aes256-cts-hmac-sha1-96\nsecret\nwkt ${keytab}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(join(dir, 'a-file'), 'not a directory');
  refusing = join(dir, 'a-file', 'tmp');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A pid that ran and has exited. */
function deadPid(): number {
  const r = spawnSync('/bin/true');
  return r.pid!;
}

test('the private copy goes in the first place that takes a directory, named with our pid', () => {
  const writable = mkdtempSync(join(dir, 'shm-'));
  const place = placeKeytab(keytab, [refusing, writable]);
  assert.equal(place.how, 'copy');
  assert.ok(place.how === 'copy' && place.dir.startsWith(join(writable, `sag-keytab-${process.pid}-`)), JSON.stringify(place));
  rmSync(place.how === 'copy' ? place.dir : '', { recursive: true, force: true });
});

test('with no writable place the keytab is read in place, with a warning that says what that costs', async () => {
  const place = placeKeytab(keytab, [refusing, join(dir, 'missing')]);
  assert.equal(place.how, 'in place');
  assert.equal(place.keytab, keytab);
  assert.match(place.how === 'in place' ? place.warning : '', /half-written file there is seen as is/);

  const loaded = await loadKerberosBinding();
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.why);
  const before = process.env['KRB5_KTNAME'];
  const acceptor = new GssapiAcceptor({ keytabFile: keytab, servicePrincipal: SERVICE, binding: loaded.binding as unknown as KerberosBinding, parents: [refusing] });
  try {
    assert.equal(process.env['KRB5_KTNAME'], `FILE:${keytab}`);
    // A keytab without our key is still refused on reload, and nothing is written beside the configured file.
    const good = readFileSync(keytab);
    writeFileSync(keytab, Buffer.from([0x05, 0x02]));
    await assert.rejects(acceptor.reload(), /holds no keys/);
    writeFileSync(keytab, good);
    await acceptor.reload();
  } finally {
    acceptor.close();
  }
  assert.ok(existsSync(keytab), 'closing never removes the configured file');
  assert.equal(process.env['KRB5_KTNAME'], before);
});

test('check-config says where serve will read the keys from, and warns when it is the file in place', async () => {
  const k = { enabled: true, keytabFile: keytab, servicePrincipal: SERVICE, realms: { 'CORP.EXAMPLE.COM': 'CORP' } } as unknown as Config['auth']['kerberos'];
  const binding = await loadKerberosBinding();
  const copy = await checkKerberosLocal(k, binding, [dir]);
  assert.match(copy.checks.find((c) => c.name === 'kerberos keytab copy')!.detail, new RegExp(`a private copy in ${dir}$`));
  assert.deepEqual(copy.warnings, []);
  const inPlace = await checkKerberosLocal(k, binding, [refusing]);
  assert.match(inPlace.checks.find((c) => c.name === 'kerberos keytab copy')!.detail, /the file in place/);
  assert.equal(inPlace.warnings.length, 1);
  assert.match(inPlace.warnings[0]!, /no writable place for a private copy/);
});

test('stale copies are removed: only ours by name, directories, our uid, and only where the pid no longer runs', () => {
  const parent = mkdtempSync(join(dir, 'stale-'));
  const dead = deadPid();
  const make = (name: string) => {
    mkdirSync(join(parent, name));
    writeFileSync(join(parent, name, 'keytab'), 'keys');
    return name;
  };
  const gone = make(`sag-keytab-${dead}-abc123`);
  const mine = make(`sag-keytab-${process.pid}-def456`);
  const running = make(`sag-keytab-${process.ppid}-ghi789`);
  const unnamed = make('sag-keytab-XYZ123');
  const notOurs = make(`other-${dead}-abc`);
  const otherUid = make(`sag-keytab-${dead}-uid999`);
  chownSync(join(parent, otherUid), 65534, 65534);
  writeFileSync(join(parent, `sag-keytab-${dead}-file`), 'a file, not a copy');

  const removed = removeStaleKeytabDirs(parent).map((p) => basename(p));
  assert.deepEqual(removed, [gone]);
  for (const kept of [mine, running, unnamed, notOurs, otherUid, `sag-keytab-${dead}-file`]) assert.ok(existsSync(join(parent, kept)), kept);

  // serve cleans on start; check-config only looks.
  const again = make(`sag-keytab-${dead}-again1`);
  const looked = placeKeytab(keytab, [parent], false);
  assert.ok(existsSync(join(parent, again)));
  const started = placeKeytab(keytab, [parent]);
  assert.ok(!existsSync(join(parent, again)));
  for (const p of [looked, started]) if (p.how === 'copy') rmSync(p.dir, { recursive: true, force: true });
});
