import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyRequest, isUnder, type RouteClass } from '../../src/proxy/classifyRequest.js';

const ON = { ingestion: true, tokenApi: true, paths: ['/hooks/', '/extensions/github/webhook'] };
const OFF = { ingestion: false, tokenApi: false, paths: [] };

type Row = [path: string, authorization: string | undefined, expected: RouteClass, bypass?: typeof ON];

const table: Row[] = [
  // 1. the gateway itself
  ['/_gateway', undefined, 'gateway'],
  ['/_gateway/login', undefined, 'gateway'],
  ['/_gateway/admin/users', 'Bearer x', 'gateway'],
  ['/_gatewayx/login', undefined, 'session'],
  // Sentry's own sign-in pages are replaced by ours
  ['/auth/login/', undefined, 'redirectLogin'],
  ['/auth/login', undefined, 'redirectLogin'],
  ['/auth/login/acme/', undefined, 'redirectLogin'],
  ['/auth/logout/', undefined, 'redirectLogout'],
  ['/auth/loginx/', undefined, 'session'],
  ['/auth/login/', 'Bearer tok', 'redirectLogin'],
  // the Sentry-side module's internal endpoints are never forwarded from outside
  ['/_sentry-ad-gateway/offboard/', undefined, 'moduleInternal'],
  ['/_sentry-ad-gateway/offboard/', 'Bearer tok', 'moduleInternal'],
  ['/_sentry-ad-gateway', undefined, 'moduleInternal'],
  ['/_sentry-ad-gatewayx/', undefined, 'session'],
  // 2. ingestion
  ['/api/store/', undefined, 'ingestion'],
  ['/api/123/envelope/', undefined, 'ingestion'],
  ['/api/1/store/', undefined, 'ingestion'],
  ['/api/42/minidump', undefined, 'ingestion'],
  ['/api/42/security/', undefined, 'ingestion'],
  ['/api/42/integration/otlp/v1/traces', undefined, 'ingestion'],
  ['/api/embed/error-page/', undefined, 'ingestion'],
  ['/js-sdk-loader/0123456789abcdef0123456789abcdef.min.js', undefined, 'ingestion'],
  ['/_health/', undefined, 'ingestion'],
  ['/api/0/', undefined, 'session'],
  ['/api/0/projects/', undefined, 'session'],
  ['/api/01/envelope/', undefined, 'session'],
  ['/api/123', undefined, 'session'],
  ['/api/123abc/envelope/', undefined, 'session'],
  ['/api/store/extra', undefined, 'session'],
  ['/_health/extra', undefined, 'session'],
  ['/api/123/envelope/', undefined, 'session', OFF],
  // 3. token API
  ['/api/0/organizations/acme/chunk-upload/', 'Bearer sntrys_abc', 'tokenApi'],
  ['/api/0/projects/', 'bearer abc', 'tokenApi'],
  ['/api/0/projects/', 'BASIC dXNlcjo=', 'tokenApi'],
  ['/api/0/projects/', 'Basic dXNlcjo=', 'tokenApi'],
  // a password in Basic is a person's Sentry password, never an API key: it needs an AD session
  ['/api/0/projects/', 'Basic YWRtaW46Z3Vlc3M=', 'session'],
  ['/api/0/projects/', 'Basic Om5va2V5', 'session'],
  ['/api/0/projects/', 'Basic !!!', 'session'],
  // Sentry's own password check is not a token endpoint, whatever the credential
  ['/api/0/auth/', 'Basic YWRtaW46Z3Vlc3M=', 'session'],
  ['/api/0/auth/', 'Bearer sntryu_abc', 'session'],
  ['/api/0/auth/validate/', 'Bearer sntryu_abc', 'session'],
  ['/api/0/projects/', 'DSN https://key@sentry.example.com/1', 'session'],
  ['/api/0/projects/', 'Sentry sentry_key=abc', 'session'],
  ['/api/0/projects/', 'Bearer', 'session'],
  ['/api/0/projects/', 'Bearer ', 'session'],
  ['/api/0/projects/', 'Bearertoken', 'session'],
  ['/api/0/projects/', '', 'session'],
  ['/api/0', 'Bearer abc', 'session'],
  ['/organizations/acme/issues/', 'Bearer abc', 'session'],
  ['/api/0/projects/', 'Bearer abc', 'session', OFF],
  // 4. configured prefixes, on segment boundaries
  ['/hooks/', undefined, 'bypassPath'],
  ['/hooks', undefined, 'bypassPath'],
  ['/hooks/release/x/', undefined, 'bypassPath'],
  ['/hooksx/', undefined, 'session'],
  ['/extensions/github/webhook/', undefined, 'bypassPath'],
  ['/extensions/github/webhooks/', undefined, 'session'],
  // 5. everything else
  ['/', undefined, 'session'],
  ['/organizations/acme/issues/', undefined, 'session'],
];

describe('classifyRequest', () => {
  for (const [path, authorization, expected, bypass = ON] of table) {
    const label = `${path}${authorization !== undefined ? ` [Authorization: ${authorization}]` : ''}${bypass === OFF ? ' (bypass off)' : ''} → ${expected}`;
    it(label, () => assert.equal(classifyRequest({ path, authorization }, bypass), expected));
  }
});

describe('isUnder', () => {
  it('matches the prefix itself and what lies below, never siblings', () => {
    assert.equal(isUnder('/a/b', '/a'), true);
    assert.equal(isUnder('/a', '/a/'), true);
    assert.equal(isUnder('/ab', '/a'), false);
    assert.equal(isUnder('/anything', '/'), true);
  });
});
