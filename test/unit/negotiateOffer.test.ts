import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Request } from 'express';
import type { Deps } from '../../src/compositionRoot.js';
import { negotiateOffer, negotiateToken, passwordFormOff, windowsSignInHref } from '../../src/http/routes/negotiateRoutes.js';

/** Only what the offer rules read: the kerberos keys, the public URL, the client address, whether Kerberos loaded. */
function deps(kerberos: { networks?: string[]; passwordForm?: 'everyone' | 'outsideNetworks' }, loaded = true, address = '10.1.2.3'): Deps {
  return {
    config: { server: { publicUrl: 'https://sentry.corp.example.com' }, auth: { kerberos: { networks: kerberos.networks ?? [], passwordForm: kerberos.passwordForm ?? 'everyone' } } },
    addressOf: () => address,
    ...(loaded ? { kerberos: {} } : {}),
  } as unknown as Deps;
}

function req(headers: Record<string, string> = {}, query: Record<string, string> = {}, method = 'GET'): Request {
  return { method, headers: { accept: 'text/html,application/xhtml+xml', ...headers }, query } as unknown as Request;
}

test('Negotiate is offered to a navigating browser inside networks, Kerberos loaded; never to anyone else', () => {
  assert.deepEqual(negotiateOffer(deps({}), req(), false), { inside: true, challenge: true, button: false, passwordOff: false });
  assert.equal(negotiateOffer(deps({ networks: ['10.0.0.0/8'] }), req(), false).challenge, true);
  const never: Array<[Deps, Request, string]> = [
    [deps({}, false), req(), 'binding or keytab did not load'],
    [deps({ networks: ['192.168.0.0/16'] }), req(), 'outside networks'],
    [deps({}), req({ accept: 'application/json' }), 'an XHR / API client'],
    [deps({}), req({ accept: '*/*' }), 'no text/html'],
    [deps({}), req({}, {}, 'HEAD'), 'HEAD (express serves it from the GET route)'],
  ];
  for (const [d, r, why] of never) assert.deepEqual(negotiateOffer(d, r, false), { inside: false, challenge: false, button: false, passwordOff: false }, why);
});

test('a browser marked signed out (the cookie, or a session cookie whose session was revoked) gets the button, not a challenge; ?sso=1 asks once', () => {
  const marked = req({ cookie: 'other=1; __Host-sag_signed_out=1' });
  assert.deepEqual(negotiateOffer(deps({}), marked, false), { inside: true, challenge: false, button: true, passwordOff: false });
  assert.deepEqual(negotiateOffer(deps({}), req(), true), { inside: true, challenge: false, button: true, passwordOff: false });
  const pressed = req({ cookie: '__Host-sag_signed_out=1', 'sec-fetch-site': 'same-origin' }, { sso: '1' });
  assert.deepEqual(negotiateOffer(deps({}), pressed, false), { inside: true, challenge: true, button: false, passwordOff: false });
  const typed = req({ cookie: '__Host-sag_signed_out=1', 'sec-fetch-site': 'none' }, { sso: '1' });
  assert.equal(negotiateOffer(deps({}), typed, false).challenge, true, 'typed or bookmarked');
  // Another site sending a signed-out person to ?sso=1 (or a client that does not say where it comes from): the button.
  const lured: Array<Record<string, string>> = [
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
    { 'sec-fetch-site': 'cross-site', referer: 'https://sentry.corp.example.com/_gateway/login' },
    {},
    { referer: 'https://evil.example.net/_gateway/login' },
    { referer: 'https://sentry.corp.example.com.evil.example.net/' },
  ];
  for (const h of lured) {
    const sent = req({ cookie: '__Host-sag_signed_out=1', ...h }, { sso: '1' });
    assert.deepEqual(negotiateOffer(deps({}), sent, false), { inside: true, challenge: false, button: true, passwordOff: false }, JSON.stringify(h));
  }
  // Over http browsers send no Sec-Fetch-Site: the button's page as the Referer will do.
  const fromButton = req({ cookie: '__Host-sag_signed_out=1', referer: 'https://sentry.corp.example.com/_gateway/login?next=%2F' }, { sso: '1' });
  assert.equal(negotiateOffer(deps({}), fromButton, false).challenge, true);
  // Over http the mark has no __Host- prefix (browsers refuse one without Secure); the prefixed name does not count there.
  const plain = { ...deps({}), config: { server: { publicUrl: 'http://127.0.0.1:8080' }, auth: { kerberos: { networks: [], passwordForm: 'everyone' } } } } as unknown as Deps;
  assert.equal(negotiateOffer(plain, req({ cookie: 'sag_signed_out=1' }), false).challenge, false);
  assert.equal(negotiateOffer(plain, req({ cookie: '__Host-sag_signed_out=1' }), false).challenge, true);
});

test('passwordForm: outsideNetworks turns the password form off only inside networks', () => {
  const d = deps({ networks: ['10.0.0.0/8'], passwordForm: 'outsideNetworks' });
  assert.equal(passwordFormOff(d, req()), true);
  assert.equal(passwordFormOff(deps({ networks: ['10.0.0.0/8'], passwordForm: 'outsideNetworks' }, true, '203.0.113.9'), req()), false);
  assert.equal(passwordFormOff(deps({ networks: ['10.0.0.0/8'], passwordForm: 'everyone' }), req()), false);
  // Kerberos off (no binding): the password form stays, or nobody could sign in.
  assert.equal(passwordFormOff(deps({ networks: ['10.0.0.0/8'], passwordForm: 'outsideNetworks' }, false), req()), false);
});

test('only the Negotiate scheme carries a token; the button keeps next and the language', () => {
  assert.equal(negotiateToken(req({ authorization: 'Negotiate YIIB' })), 'YIIB');
  assert.equal(negotiateToken(req({ authorization: 'negotiate   YIIB ' })), 'YIIB');
  assert.equal(negotiateToken(req({ authorization: 'Negotiate' })), '');
  assert.equal(negotiateToken(req({ authorization: 'NTLM TlRMTVNTUAAB' })), undefined);
  assert.equal(negotiateToken(req({ authorization: 'Basic YTpi' })), undefined);
  assert.equal(negotiateToken(req()), undefined);
  assert.equal(windowsSignInHref('/organizations/acme/?a=1'), '/_gateway/login?sso=1&next=%2Forganizations%2Facme%2F%3Fa%3D1');
  assert.equal(windowsSignInHref('/', 'zh-CN'), '/_gateway/login?sso=1&lang=zh-CN');
});
