// The keytab reader on real bytes written by MIT's ktutil (the samba-tool export is read in
// test/integration/kerberosKdc.test.ts), and on files cut short, emptied or not keytabs at all.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { describeKeys, KeytabError, parseKeytab, readKeytab } from '../../src/auth/kerberos/keytab.js';

const PRINCIPAL = 'HTTP/sentry.example.com@CORP.EXAMPLE.COM';
let dir: string;
let file: string;
let bytes: Buffer;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sag-keytab-'));
  file = join(dir, 'http.keytab');
  // kvno 300 does not fit the entry's 8-bit kvno: ktutil writes 300 & 0xff there and the full value in the trailing 32 bits.
  const script = [
    `addent -password -p ${PRINCIPAL} -k 300 -e aes256-cts-hmac-sha1-96`,
    'secret-one',
    `addent -password -p ${PRINCIPAL} -k 7 -e aes128-cts-hmac-sha1-96`,
    'secret-two',
    `addent -password -p HTTP/other.example.com@CORP.EXAMPLE.COM -k 1 -e arcfour-hmac`,
    'secret-three',
    `wkt ${file}`,
    '',
  ].join('\n');
  const r = spawnSync('ktutil', [], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  bytes = readFileSync(file);
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function problem(p: Promise<unknown>): Promise<KeytabError> {
  const e = await p.then(
    () => assert.fail('expected the keytab to be refused'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof KeytabError, String(e));
  return e;
}

test('lists principal, kvno and enctype of each key, the 32-bit kvno where the 8-bit one overflowed', async () => {
  const entries = await readKeytab(file);
  assert.deepEqual(
    entries.map((e) => [e.principal, e.kvno, e.enctypeName]),
    [
      [PRINCIPAL, 300, 'aes256-cts-hmac-sha1-96'],
      [PRINCIPAL, 7, 'aes128-cts-hmac-sha1-96'],
      ['HTTP/other.example.com@CORP.EXAMPLE.COM', 1, 'arcfour-hmac'],
    ],
  );
  assert.equal(describeKeys(entries, PRINCIPAL), 'kvno 7 (aes128-cts-hmac-sha1-96); kvno 300 (aes256-cts-hmac-sha1-96)');
});

test('what it returns holds no key material', async () => {
  const entries = await readKeytab(file);
  assert.deepEqual(Object.keys(entries[0]!).sort(), ['enctype', 'enctypeName', 'kvno', 'principal', 'timestamp']);
});

test('a missing file, an unreadable one and an empty one are each named', async () => {
  const missing = await problem(readKeytab(join(dir, 'nope.keytab')));
  assert.equal(missing.problem, 'missing');
  assert.match(missing.message, /keytab not found: .*nope\.keytab/);

  const empty = join(dir, 'empty.keytab');
  writeFileSync(empty, '');
  assert.equal((await problem(readKeytab(empty))).message, `${empty} is empty`);

  const headerOnly = join(dir, 'header.keytab');
  writeFileSync(headerOnly, Buffer.from([0x05, 0x02]));
  assert.equal((await problem(readKeytab(headerOnly))).message, `${headerOnly} holds no keys`);

  // A directory where the file should be: read fails with EISDIR whoever runs the test (root reads any mode).
  const unreadable = await problem(readKeytab(dir));
  assert.equal(unreadable.problem, 'unreadable');
  assert.match(unreadable.message, /keytab not readable: .*\(EISDIR\)/);
});

test('a file that is not a keytab says so', () => {
  assert.throws(() => parseKeytab(Buffer.from('-----BEGIN PRIVATE KEY-----\n'), 'x.pem'), { problem: 'not_keytab', message: 'x.pem is not a keytab (it does not start with 0x05 0x02)' });
  assert.throws(() => parseKeytab(Buffer.from([0x05, 0x01, 0, 0]), 'old.keytab'), { problem: 'not_keytab', message: /version 0x0501; only 0x0502/ });
});

test('every cut of a real keytab is refused as truncated, never read as fewer keys', () => {
  // Entry boundaries cut cleanly would read as a shorter keytab: a cut inside an entry must not.
  const boundaries = new Set<number>([2]);
  for (let pos = 2; pos < bytes.length; ) {
    pos += 4 + bytes.readInt32BE(pos);
    boundaries.add(pos);
  }
  for (let n = 3; n < bytes.length; n++) {
    if (boundaries.has(n)) {
      assert.ok(parseKeytab(bytes.subarray(0, n)).length >= 1);
      continue;
    }
    assert.throws(() => parseKeytab(bytes.subarray(0, n), 'cut.keytab'), { problem: 'truncated' }, `cut at ${n} of ${bytes.length}`);
  }
});

test('an entry whose lengths point past its end is refused', () => {
  const bad = Buffer.from(bytes);
  // The realm's length (the u16 after the entry size and component count) made larger than the entry.
  bad.writeUInt16BE(0xfff0, 2 + 4 + 2);
  assert.throws(() => parseKeytab(bad, 'bad.keytab'), { problem: 'truncated', message: /bad\.keytab is truncated or damaged \(realm/ });
});
