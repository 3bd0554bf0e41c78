// The request the decision endpoint rebuilds from what nginx passes: the original method, target, Connection and
// Upgrade, never the subrequest's own hop headers, and nothing when a fact is missing or repeated.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decisionStyle, originalRequest } from '../../src/proxy/authDecision.js';

const base = { 'x-sag-method': 'POST', 'x-sag-uri': '/api/0/projects/?x=1', cookie: 'sag_session=a', host: 'sentry.example.com', connection: 'close', 'content-length': '0' };

describe('originalRequest', () => {
  test('the original method, raw target, Connection and Upgrade replace the subrequest’s own', () => {
    const r = originalRequest({ ...base, 'x-sag-connection': 'Upgrade, authorization', 'x-sag-upgrade': 'websocket' });
    assert.ok(r);
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/api/0/projects/?x=1');
    assert.equal(r.headers.connection, 'Upgrade, authorization');
    assert.equal(r.headers.upgrade, 'websocket');
    assert.equal(r.upgrade, true);
    assert.equal(r.headers.cookie, 'sag_session=a');
    assert.equal(r.headers['content-length'], undefined, "the subrequest's framing is not the request's");
    assert.ok(!Object.keys(r.headers).some((h) => h.startsWith('x-sag-')));
  });

  test('without Connection or Upgrade from nginx, the request has neither: the subrequest’s "close" is not the client’s', () => {
    const r = originalRequest({ ...base, 'x-sag-connection': '', 'x-sag-upgrade': '' });
    assert.ok(r);
    assert.equal(r.headers.connection, undefined);
    assert.equal(r.headers.upgrade, undefined);
    assert.equal(r.upgrade, false);
  });

  test('a missing or repeated fact gives no request at all (the endpoint refuses it)', () => {
    assert.equal(originalRequest({ ...base, 'x-sag-method': undefined }), undefined);
    assert.equal(originalRequest({ ...base, 'x-sag-uri': '' }), undefined);
    assert.equal(originalRequest({ ...base, 'x-sag-connection': ['a', 'b'] } as never), undefined);
    assert.equal(originalRequest({ ...base, 'x-sag-upgrade': ['websocket', 'h2c'] } as never), undefined);
  });
});

describe('originalRequest, forward style (Caddy forward_auth, Traefik forwardAuth)', () => {
  const fwd = { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/organizations/acme/?q=1', cookie: 'sag_session=a', connection: 'close' };

  test('method and target come from X-Forwarded-Method / -Uri, which are not passed on as headers', () => {
    const r = originalRequest(fwd, 'forward');
    assert.ok(r);
    assert.equal(r.method, 'GET');
    assert.equal(r.url, '/organizations/acme/?q=1');
    assert.equal(r.headers['x-forwarded-uri'], undefined);
    assert.equal(r.headers['x-forwarded-method'], undefined);
    assert.equal(r.headers.connection, undefined, "the decision request's own Connection is not the client's");
    assert.equal(r.upgrade, false);
  });

  test("the nginx style's facts mean nothing here, and X-Forwarded-* mean nothing in the nginx style", () => {
    assert.equal(originalRequest({ 'x-sag-method': 'GET', 'x-sag-uri': '/organizations/acme/' }, 'forward'), undefined);
    assert.equal(originalRequest(fwd), undefined);
  });

  test('Sec-WebSocket-Key alone makes it a handshake, judged as one', () => {
    const r = originalRequest({ ...fwd, 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }, 'forward');
    assert.ok(r);
    assert.equal(r.upgrade, true);
    assert.equal(r.headers.upgrade, 'websocket');
  });

  test('a repeated fact is no fact', () => {
    assert.equal(originalRequest({ ...fwd, 'x-forwarded-uri': ['/a', '/b'] }, 'forward'), undefined);
  });
});

describe('decisionStyle', () => {
  test('no query is the nginx style, style=forward alone the forward style, anything more no style at all', () => {
    assert.equal(decisionStyle(''), 'nginx');
    assert.equal(decisionStyle('?style=forward'), 'forward');
    for (const q of ['?style=forward&x=1', '?x=1&style=forward', '?style=forward&style=forward', '?style=Forward', '?style=', '?x=1', '?&']) assert.equal(decisionStyle(q), undefined, q);
  });
});
