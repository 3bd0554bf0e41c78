// The Kerberos test harness against the test DC's real KDC: kinit, klist, the exported keytab, curl --negotiate.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { readKeytab } from '../../src/auth/kerberos/keytab.js';
import { USERS } from '../../src/dev/fixtures.js';
import { KinitError, currentKvno, kinit, klist } from '../../src/dev/kerberosKdc.js';
import { testDc } from '../support/dc.js';
import { curlNegotiate, kerberosFixture, SERVICE_HOST, type KerberosFixture } from '../support/kerberos.js';

const run = promisify(execFile);

/** A keytab as [kvno, principal, enctype] rows, by the gateway's reader. */
async function keytabRows(file: string): Promise<[number, string, string][]> {
  return (await readKeytab(file)).map((e) => [e.kvno, e.principal, e.enctypeName]);
}

/** The same by MIT's `klist -k -e`, to check the reader against. */
async function klistRows(file: string): Promise<[number, string, string][]> {
  const { stdout } = await run('klist', ['-k', '-e', file]);
  return [...stdout.matchAll(/^\s*(\d+) (\S+) \(([^)]+)\)/gm)].map((m) => [Number(m[1]), m[2]!, m[3]!]);
}

let krb: KerberosFixture;
/** Answers 401 Negotiate until a request carries a token, then 200 with what it got. */
let server: Server;
let port: number;
const tokens: string[] = [];

before(async () => {
  krb = await kerberosFixture();
  server = createServer((req, res) => {
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Negotiate ')) {
      res.writeHead(401, { 'WWW-Authenticate': 'Negotiate', 'Content-Type': 'text/html' }).end('<form>sign in</form>');
      return;
    }
    tokens.push(auth.slice('Negotiate '.length));
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('token received');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  await new Promise((r) => server.close(r));
  await krb.close();
});

test('kinit with a fixture user’s password gets a TGT that klist shows', async () => {
  const env = await krb.ticket('alice');
  const out = await klist(env);
  assert.match(out, /Default principal: alice@CORP\.EXAMPLE\.COM/);
  assert.match(out, /krbtgt\/CORP\.EXAMPLE\.COM@CORP\.EXAMPLE\.COM/);
});

test('kinit with a wrong password fails and says so', async () => {
  const err = await kinit(krb.env, `dave@${testDc().realm}`, USERS.dave.password + 'x', `${krb.dir}/ccache.wrong`).then(
    () => assert.fail('kinit with a wrong password succeeded'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KinitError);
  assert.match(err.message, /Password incorrect/);
});

test('the exported keytab holds HTTP/sentry.corp.example.com with AES keys at the account’s current kvno', async () => {
  const rows = await keytabRows(krb.service.keytabFile);
  const kvno = await currentKvno(testDc(), krb.service.account);
  assert.deepEqual(
    rows.map(([, p, e]) => [p, e]).sort(),
    [
      [`HTTP/${SERVICE_HOST}@CORP.EXAMPLE.COM`, 'aes128-cts-hmac-sha1-96'],
      [`HTTP/${SERVICE_HOST}@CORP.EXAMPLE.COM`, 'aes256-cts-hmac-sha1-96'],
    ],
  );
  assert.ok(rows.every(([k]) => k === kvno), `keytab kvnos ${rows.map((r) => r[0]).join(',')} vs directory ${kvno}`);
  assert.deepEqual(rows, await klistRows(krb.service.keytabFile));
});

test('curl --negotiate with a ticket sends a SPNEGO token for the service', async () => {
  const env = await krb.ticket('alice');
  const r = await curlNegotiate(env, port, '/_gateway/login');
  // curl with one auth method sends the token on the first request, without waiting for the challenge.
  assert.deepEqual(r.statuses, [200]);
  assert.equal(r.body, 'token received');
  // A GSS-API initial context token (RFC 2743 §3.1: 0x60) carrying the SPNEGO mechanism, 1.3.6.1.5.5.2.
  const bytes = Buffer.from(tokens.at(-1)!, 'base64');
  assert.equal(bytes[0], 0x60);
  assert.ok(bytes.includes(Buffer.from([0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02])));
  // The service ticket came from the KDC, with AES.
  assert.match(await klist(env), new RegExp(`HTTP/${SERVICE_HOST.replaceAll('.', '\\.')}@CORP\\.EXAMPLE\\.COM`));
});

test('curl --negotiate without a ticket sends no token and ends on the 401 body', async () => {
  const before = tokens.length;
  const r = await curlNegotiate(krb.env, port, '/_gateway/login');
  assert.equal(r.status, 401);
  assert.equal(r.headers['www-authenticate'], 'Negotiate');
  assert.equal(r.body, '<form>sign in</form>');
  assert.equal(tokens.length, before);
});

test('rotating the service account gives a keytab with the old and the new kvno', async () => {
  const own = await kerberosFixture({ host: 'rotate.corp.example.com' });
  try {
    const old = await currentKvno(testDc(), own.service.account);
    const rotated = await own.rotate();
    assert.equal(await currentKvno(testDc(), own.service.account), old + 1);
    const kvnos = [...new Set((await keytabRows(rotated.keytabFile)).map(([k]) => k))].sort();
    assert.deepEqual(kvnos, [old, old + 1]);
    assert.deepEqual(await keytabRows(rotated.keytabFile), await klistRows(rotated.keytabFile));
    // The keytab in use before is left as it was.
    assert.deepEqual([...new Set((await keytabRows(own.service.keytabFile)).map(([k]) => k))], [old]);
  } finally {
    await own.close();
  }
});
