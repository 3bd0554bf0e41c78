import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyTokenBytes, MAX_TOKEN_CHARS, readTokenBytes } from '../../src/auth/kerberos/tokenBytes.js';
import { checkKeytabBytes, classifyGssError, hostBasedService } from '../../src/auth/kerberos/gssapiAcceptor.js';
import { mapPrincipal } from '../../src/auth/kerberos/negotiate.js';
import { der, hex, KRB5, SPNEGO } from '../support/der.js';

// A real NTLMSSP NEGOTIATE message (type 1, the flags and version a Windows client sends).
const NTLM_NEGOTIATE = 'TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAO5CAAAADw==';

const NTLM = hex('060a2b06010401823702020a');
const MS_KRB5 = hex('06092a864882f712010202');

/** A GSS krb5 token around an AP-REQ skeleton: only the framing the replay key is found by, cipher `fill`. */
function krb5ApReq(size = 300): Buffer {
  const encrypted = der(0x30, der(0xa0, der(0x02, Buffer.from([18]))), der(0xa2, der(0x04, Buffer.alloc(size, 7))));
  const apReq = der(0x6e, der(0x30, der(0xa0, der(0x02, Buffer.from([5]))), der(0xa1, der(0x02, Buffer.from([14]))), der(0xa4, encrypted)));
  return der(0x60, KRB5, Buffer.from([0x01, 0x00]), apReq);
}

/** SPNEGO NegTokenInit offering `mechs`, with `mechToken` as its first token. */
function negTokenInit(mechs: Buffer[], mechToken: Buffer): string {
  return der(0x60, SPNEGO, der(0xa0, der(0x30, der(0xa0, der(0x30, ...mechs)), der(0xa2, der(0x04, mechToken))))).toString('base64');
}

test('an NTLM blob under Negotiate is told apart by its bytes: raw NTLMSSP, or SPNEGO naming only NTLM', () => {
  assert.equal(classifyTokenBytes(NTLM_NEGOTIATE), 'ntlm');
  assert.equal(classifyTokenBytes(negTokenInit([NTLM], Buffer.from(NTLM_NEGOTIATE, 'base64'))), 'ntlm');
  // The second leg (NegTokenResp carrying NTLMSSP AUTHENTICATE) as well.
  const resp = der(0xa1, der(0x30, der(0xa2, der(0x04, Buffer.from('NTLMSSP\0\x03\0\0\0', 'latin1'))))).toString('base64');
  assert.equal(classifyTokenBytes(resp), 'ntlm');
});

test('SPNEGO that offers Kerberos goes to GSSAPI, whatever else it offers', () => {
  const apReq = krb5ApReq();
  assert.equal(classifyTokenBytes(negTokenInit([MS_KRB5, KRB5, NTLM], apReq)), null);
  assert.equal(classifyTokenBytes(negTokenInit([KRB5], apReq)), null);
  assert.equal(classifyTokenBytes(apReq.toString('base64')), null);
});

test('a token GSSAPI is to decide comes with its authenticator, the same bytes wrapped in SPNEGO or not', () => {
  const apReq = krb5ApReq(300);
  const bare = readTokenBytes(apReq.toString('base64'));
  const wrapped = readTokenBytes(negTokenInit([MS_KRB5, KRB5], apReq));
  assert.ok('authenticator' in bare && 'authenticator' in wrapped);
  assert.deepEqual(bare.authenticator, Buffer.alloc(300, 7), 'the AP-REQ cipher itself');
  assert.deepEqual(wrapped.authenticator, bare.authenticator);
  assert.deepEqual(readTokenBytes(NTLM_NEGOTIATE), { refused: 'ntlm' });
  assert.deepEqual(readTokenBytes('QQ=='), { refused: 'malformed' });
});

test('malformed: not base64, empty, over 64 KiB, truncated, or not a GSS token at all', () => {
  const good = negTokenInit([KRB5], krb5ApReq());
  assert.equal(classifyTokenBytes(good), null);
  const bytes = Buffer.from(good, 'base64');
  // The outer length (0x82 nn nn) written once more with a leading zero byte: the same value, not DER.
  const longer = Buffer.concat([Buffer.from([0x60, 0x83, 0x00]), bytes.subarray(2)]).toString('base64');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  // A length that needs padding: its last character has unused bits to flip.
  const padded = [301, 302, 303].map((n) => negTokenInit([KRB5], krb5ApReq(n))).find((t) => t.endsWith('='))!;
  const last = padded.length - /=*$/.exec(padded)![0].length - 1;
  const alias = padded.slice(0, last) + alphabet[alphabet.indexOf(padded[last]!) ^ 1] + padded.slice(last + 1);
  const cases: Array<[string, string]> = [
    ['', 'empty'],
    ['not base64!', 'not base64'],
    ['YWJj\n', 'a newline'],
    ['YWJjZA', 'unpadded'],
    [good.slice(0, good.length - 8), 'truncated'],
    [Buffer.from('hello world, not a token').toString('base64'), 'not GSS'],
    [der(0x60, hex('06052b0601ffff'), Buffer.alloc(8)).toString('base64'), 'a GSS token of no mechanism we know'],
    ['A'.repeat(MAX_TOKEN_CHARS + 4), 'too long'],
    [longer, 'a length not in its shortest form'],
    [alias, 'base64 with the unused bits of its last character set'],
    [negTokenInit([KRB5], der(0x60, KRB5, Buffer.alloc(300, 1))), 'a Kerberos token with no AP-REQ to find an authenticator in'],
  ];
  assert.deepEqual(Buffer.from(alias, 'base64'), Buffer.from(padded, 'base64'));
  assert.equal(classifyTokenBytes(padded), null);
  for (const [token, why] of cases) assert.equal(classifyTokenBytes(token), 'malformed', why);
});

test('a principal maps to exactly one sAMAccountName in the NetBIOS domain of an allowed realm', () => {
  const realms = { 'CORP.EXAMPLE.COM': 'CORP', 'EMEA.CORP.EXAMPLE.COM': 'EMEA' };
  assert.deepEqual(mapPrincipal('alice@CORP.EXAMPLE.COM', realms), { ok: true, account: 'CORP\\alice', realm: 'CORP.EXAMPLE.COM', name: 'alice' });
  assert.deepEqual(mapPrincipal('bob@EMEA.CORP.EXAMPLE.COM', realms), { ok: true, account: 'EMEA\\bob', realm: 'EMEA.CORP.EXAMPLE.COM', name: 'bob' });
  const refused: Array<[string, string]> = [
    ['alice@OTHER.TEST', 'realm_not_allowed'],
    ['alice@corp.example.com', 'realm_not_allowed'], // realms are compared as the KDC writes them
    ['alice@toString', 'realm_not_allowed'],
    ['alice@__proto__', 'realm_not_allowed'],
    ['HTTP/host.corp.example.com@CORP.EXAMPLE.COM', 'malformed'],
    ['alice@corp.example.com@CORP.EXAMPLE.COM', 'malformed'], // an enterprise name: never read as a UPN
    ['CORP\\alice@CORP.EXAMPLE.COM', 'malformed'],
    ['ali\nce@CORP.EXAMPLE.COM', 'malformed'],
    ['ali\u2028ce@CORP.EXAMPLE.COM', 'malformed'],
    [' alice@CORP.EXAMPLE.COM', 'malformed'],
    ['@CORP.EXAMPLE.COM', 'malformed'],
    ['alice', 'malformed'],
  ];
  for (const [principal, reason] of refused) assert.deepEqual(mapPrincipal(principal, realms), { ok: false, reason }, JSON.stringify(principal));
});

test('GSSAPI failures are sorted by the words MIT Kerberos gives', () => {
  const table: Array<[string, string]> = [
    ['Unspecified GSS failure.  Minor code may provide more information: Wrong principal in request', 'wrong_service'],
    ['Unspecified GSS failure.  Minor code may provide more information: Request ticket server HTTP/other.corp.example.com@CORP.EXAMPLE.COM not found in keytab (ticket kvno 2)', 'wrong_service'],
    ['Unspecified GSS failure.  Minor code may provide more information: Ticket expired', 'expired'],
    ['Unspecified GSS failure.  Minor code may provide more information: Clock skew too great', 'expired'],
    ['Unspecified GSS failure.  Minor code may provide more information: Request is a replay', 'replayed'],
    ['A token was invalid: Token header is malformed or corrupt', 'malformed'],
    ['Defective token detected: ', 'malformed'],
    ['Unspecified GSS failure.  Minor code may provide more information: Something new', 'rejected'],
  ];
  for (const [text, reason] of table) assert.equal(classifyGssError(text), reason, text);
});

test('a keytab is checked before it replaces the one in use; the service name is host-based', () => {
  const spn = 'HTTP/sentry.corp.example.com';
  // One entry: HTTP/sentry.corp.example.com@CORP.EXAMPLE.COM, kvno 2, aes256 (MIT's 0x0502 layout).
  const str = (s: string) => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), Buffer.from(s)]);
  const entry = (host: string) => {
    const body = Buffer.concat([Buffer.from([0, 2]), str('CORP.EXAMPLE.COM'), str('HTTP'), str(host), Buffer.from([0, 0, 0, 1]), Buffer.alloc(4), Buffer.from([2, 0, 18, 0, 32]), Buffer.alloc(32, 9)]);
    const len = Buffer.alloc(4);
    len.writeInt32BE(body.length);
    return Buffer.concat([len, body]);
  };
  const keytab = (host: string) => Buffer.concat([Buffer.from([0x05, 0x02]), entry(host)]);
  assert.equal(checkKeytabBytes(keytab('sentry.corp.example.com'), spn), null);
  assert.match(checkKeytabBytes(keytab('other.corp.example.com'), spn) ?? '', /no key for HTTP\/sentry\.corp\.example\.com/);
  assert.ok(checkKeytabBytes(Buffer.alloc(0), spn));
  assert.ok(checkKeytabBytes(Buffer.from('principal=HTTP/x\n'), spn));
  assert.ok(checkKeytabBytes(keytab('sentry.corp.example.com').subarray(0, 30), spn), 'truncated');
  assert.equal(hostBasedService('HTTP/sentry.corp.example.com'), 'HTTP@sentry.corp.example.com');
});
