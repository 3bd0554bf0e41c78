import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authenticatorCipher, readDer } from '../../src/auth/kerberos/authenticatorBytes.js';
import { der, hex, KRB5, SPNEGO } from '../support/der.js';

const CIPHER = Buffer.alloc(200, 0x5a);

function apReq(cipher = CIPHER, tokId = [0x01, 0x00]): Buffer {
  const encrypted = der(0x30, der(0xa0, der(0x02, Buffer.from([18]))), der(0xa1, der(0x02, Buffer.from([3]))), der(0xa2, der(0x04, cipher)));
  const ticket = der(0xa3, der(0x61, Buffer.alloc(150, 1)));
  const body = der(0x30, der(0xa0, der(0x02, Buffer.from([5]))), der(0xa1, der(0x02, Buffer.from([14]))), der(0xa2, der(0x03, Buffer.from([0, 0x20, 0, 0, 0]))), ticket, der(0xa4, encrypted));
  return der(0x60, KRB5, Buffer.from(tokId), der(0x6e, body));
}
const spnego = (inner: Buffer) => der(0x60, SPNEGO, der(0xa0, der(0x30, der(0xa0, der(0x30, KRB5)), der(0xa2, der(0x04, inner)))));

test('the authenticator cipher is found bare and inside SPNEGO, the same bytes', () => {
  assert.deepEqual(authenticatorCipher(apReq()), CIPHER);
  assert.deepEqual(authenticatorCipher(spnego(apReq())), CIPHER);
});

test('not found: another token id, a missing field, trailing bytes, or any truncation', () => {
  assert.equal(authenticatorCipher(apReq(CIPHER, [0x02, 0x00])), null, 'an AP-REP, not an AP-REQ');
  assert.equal(authenticatorCipher(apReq(Buffer.alloc(0))), null, 'an empty cipher');
  assert.equal(authenticatorCipher(Buffer.concat([apReq(), Buffer.from([0])])), null, 'a byte after the token');
  assert.equal(authenticatorCipher(der(0x60, KRB5, Buffer.from([1, 0]), der(0x6e, der(0x30, der(0xa0, der(0x02, Buffer.from([5]))))))), null, 'no [4]');
  const whole = spnego(apReq());
  for (let n = 0; n < whole.length; n++) assert.equal(authenticatorCipher(whole.subarray(0, n)), null, `${n} bytes`);
});

test('DER lengths have one spelling: long forms of short lengths and leading zero bytes are refused', () => {
  assert.deepEqual(readDer(hex('0403616263'), 0), { tag: 4, start: 2, end: 5 });
  assert.equal(readDer(hex('048103616263'), 0), null, '0x81 for a length under 128');
  assert.equal(readDer(Buffer.concat([hex('04820080'), Buffer.alloc(128)]), 0), null, 'a leading zero byte');
  assert.equal(readDer(hex('0480616263'), 0), null, 'indefinite');
  assert.equal(readDer(hex('0404616263'), 0), null, 'past the end');
  assert.equal(readDer(hex('1f0100'), 0), null, 'a multi-byte tag');
  assert.deepEqual(readDer(Buffer.concat([hex('048180'), Buffer.alloc(128)]), 0), { tag: 4, start: 3, end: 131 });
});
