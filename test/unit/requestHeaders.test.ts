// The Connection rule of header hygiene: listed headers stay on their hop, except the ones the gateway decides on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildRequestHeaders, connectionNamesDecidedHeader } from '../../src/proxy/headers.js';

const ASSERTION = 'x-sentry-gateway-assertion';
const policy = { assertionHeader: ASSERTION, cookieNames: ['sag_session'], publicHost: 'sentry.example.com', publicProto: 'https' };

describe('connectionNamesDecidedHeader', () => {
  const table: [string | string[] | undefined, string | undefined][] = [
    [undefined, undefined],
    ['keep-alive', undefined],
    ['close', undefined],
    ['Upgrade', undefined],
    ['keep-alive, X-Trace', undefined],
    ['authorization', 'authorization'],
    ['keep-alive, Authorization', 'authorization'],
    ['close,authorization', 'authorization'],
    ['  AUTHORIZATION  ', 'authorization'],
    [['keep-alive', 'Cookie'], 'cookie'],
    ['host', 'host'],
    ['Content-Length', 'content-length'],
    ['transfer-encoding', 'transfer-encoding'],
    ['X-Sentry-Gateway-Assertion', ASSERTION],
    ['x-trace,,cookie', 'cookie'],
  ];
  for (const [value, expected] of table) {
    test(`${JSON.stringify(value)} → ${expected ?? 'allowed'}`, () => assert.equal(connectionNamesDecidedHeader(value, ASSERTION), expected));
  }
});

describe('buildRequestHeaders with a Connection list', () => {
  const opts = { clientAddress: '192.0.2.1', anonymous: true, requestId: 'r-1' };

  test('a listed hop-by-hop or unknown header is dropped', () => {
    const out = buildRequestHeaders({ connection: 'close, x-trace', 'x-trace': '1', accept: '*/*' }, policy, opts);
    assert.equal(out['x-trace'], undefined);
    assert.equal(out.accept, '*/*');
  });

  test('a listed Authorization is forwarded all the same: the request was judged by it', () => {
    const out = buildRequestHeaders({ connection: 'keep-alive, Authorization', authorization: 'Bearer t' }, policy, opts);
    assert.equal(out.authorization, 'Bearer t');
  });

  test('a listed Cookie still reaches a signed-in request (minus the gateway cookie)', () => {
    const out = buildRequestHeaders({ connection: 'cookie', cookie: 'sentrysid=a; sag_session=b' }, policy, { ...opts, anonymous: false, assertion: 'jwt' });
    assert.equal(out.cookie, 'sentrysid=a');
    assert.equal(out[ASSERTION], 'jwt');
  });
});
