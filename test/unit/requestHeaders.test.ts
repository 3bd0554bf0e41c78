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

describe('buildRequestHeaders drops every client-address and override header, on every class', () => {
  // Relay believes the first of CF-Connecting-IP, X-Vercel-Forwarded-For, X-Sentry-Forwarded-For and
  // X-Forwarded-For (relay-server/src/extractors/forwarded_for.rs); Sentry and other servers read the rest.
  const claimed: Record<string, string> = {
    'cf-connecting-ip': '6.6.6.1',
    'cf-connecting-ipv6': '2001:db8::6',
    'x-vercel-forwarded-for': '6.6.6.2',
    'x-sentry-forwarded-for': '6.6.6.3',
    'x-forwarded-for': '6.6.6.4',
    'x-real-ip': '6.6.6.5',
    forwarded: 'for=6.6.6.6',
    'true-client-ip': '6.6.6.7',
    'x-client-ip': '6.6.6.8',
    'x-cluster-client-ip': '6.6.6.9',
    'fastly-client-ip': '6.6.6.10',
    'x-original-forwarded-for': '6.6.6.11',
    'x-original-url': '/api/0/relays/register/challenge/',
    'x-rewrite-url': '/api/0/internal/',
    'x-http-method-override': 'DELETE',
    'x-http-method': 'DELETE',
    'x-method-override': 'DELETE',
  };
  const classes: [string, Parameters<typeof buildRequestHeaders>[2]][] = [
    ['signed-in', { clientAddress: '192.0.2.1', anonymous: false, requestId: 'r-1', assertion: 'jwt' }],
    ['anonymous (token API, ingestion, bypass paths)', { clientAddress: '192.0.2.1', anonymous: true, requestId: 'r-1' }],
    ['WebSocket handshake', { clientAddress: '192.0.2.1', anonymous: false, requestId: 'r-1', assertion: 'jwt', websocket: true }],
  ];
  for (const [what, opts] of classes) {
    test(`${what}: only the gateway's own X-Forwarded-For names the client`, () => {
      const out = buildRequestHeaders({ ...claimed, accept: '*/*' }, policy, opts);
      for (const name of Object.keys(claimed)) if (name !== 'x-forwarded-for') assert.equal(out[name], undefined, name);
      assert.equal(out['x-forwarded-for'], '192.0.2.1');
      assert.equal(out.accept, '*/*');
    });
  }
});
