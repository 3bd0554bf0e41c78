import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyRequest, isUnder, type RouteClass } from '../../src/proxy/classifyRequest.js';
import { API_KEY_BASIC, DSN, LEGACY_TOKEN, ORG_TOKEN, USER_TOKEN } from '../support/sentryTokens.js';

const ON = { ingestion: true, tokenApi: true, paths: ['/hooks/', '/extensions/github/webhook'] };
const OFF = { ingestion: false, tokenApi: false, paths: [] };

type Row = [path: string, authorization: string | undefined, expected: RouteClass, bypass?: typeof ON];

const table: Row[] = [
  // 1. the gateway itself
  ['/_gateway', undefined, 'gateway'],
  ['/_gateway/login', undefined, 'gateway'],
  ['/_gateway/admin/users', `Bearer ${USER_TOKEN}`, 'gateway'],
  ['/_gatewayx/login', undefined, 'session'],
  // Sentry's own sign-in pages are replaced by ours
  ['/auth/login/', undefined, 'redirectLogin'],
  ['/auth/login', undefined, 'redirectLogin'],
  ['/auth/login/acme/', undefined, 'redirectLogin'],
  ['/auth/logout/', undefined, 'redirectLogout'],
  ['/auth/loginx/', undefined, 'session'],
  ['/auth/login/', 'Bearer tok', 'redirectLogin'],
  // the Sentry-side module's internal endpoints are never forwarded from outside
  ['/_sentry-ad-gateway/offboard/', undefined, 'internalOnly'],
  ['/_sentry-ad-gateway/offboard/', 'Bearer tok', 'internalOnly'],
  ['/_sentry-ad-gateway', undefined, 'internalOnly'],
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
  // 3. token API: only the credential shapes Sentry issues and accepts on /api/0/ (src/sentry/api/authentication.py)
  ['/api/0/organizations/acme/chunk-upload/', `Bearer ${ORG_TOKEN}`, 'tokenApi'],
  ['/api/0/projects/', `Bearer ${USER_TOKEN}`, 'tokenApi'],
  ['/api/0/projects/', `bearer ${USER_TOKEN}`, 'tokenApi'],
  ['/api/0/projects/', `BEARER  ${LEGACY_TOKEN}`, 'tokenApi'],
  ['/api/0/projects/', `Bearer\t${LEGACY_TOKEN}`, 'tokenApi'],
  ['/api/0/projects/', API_KEY_BASIC, 'tokenApi'],
  ['/api/0/projects/', API_KEY_BASIC.replace('Basic', 'BASIC'), 'tokenApi'],
  ['/api/0/projects/', `DSN ${DSN}`, 'tokenApi'],
  ['/api/0/projects/', `dsn ${DSN}`, 'tokenApi'],
  // anything else that merely looks like a token needs a session (Sentry's unauthenticated endpoints would take it)
  ['/api/0/projects/', 'Bearer abc', 'session'],
  ['/api/0/projects/', 'bearer abc', 'session'],
  ['/api/0/projects/', 'Bearer sntrys_abc', 'session'],
  ['/api/0/projects/', 'Bearer sntryu_abc', 'session'],
  ['/api/0/projects/', `Bearer ${USER_TOKEN}x`, 'session'],
  ['/api/0/projects/', `Bearer ${USER_TOKEN.toUpperCase().replace('SNTRYU_', 'sntryu_')}`, 'session'],
  ['/api/0/projects/', `Bearer ${LEGACY_TOKEN.slice(1)}`, 'session'],
  ['/api/0/projects/', `Bearer ${USER_TOKEN} ${USER_TOKEN}`, 'session'],
  ['/api/0/projects/', `Token ${USER_TOKEN}`, 'session'],
  ['/api/0/projects/', `${USER_TOKEN}`, 'session'],
  ['/api/0/projects/', 'BASIC dXNlcjo=', 'session'],
  ['/api/0/projects/', 'Basic dXNlcjo=', 'session'],
  // a password in Basic is a person's Sentry password, never an API key: it needs an AD session
  ['/api/0/projects/', 'Basic YWRtaW46Z3Vlc3M=', 'session'],
  ['/api/0/projects/', `Basic ${Buffer.from(`${'a'.repeat(32)}:x`).toString('base64')}`, 'session'],
  ['/api/0/projects/', 'Basic Om5va2V5', 'session'],
  ['/api/0/projects/', 'Basic !!!', 'session'],
  // a key Sentry would decode leniently (padding, stray characters) but that is not its canonical encoding
  ['/api/0/projects/', `${API_KEY_BASIC}==`, 'session'],
  ['/api/0/projects/', `${API_KEY_BASIC.slice(0, 10)}*${API_KEY_BASIC.slice(10)}`, 'session'],
  // Sentry's own password check is not a token endpoint, whatever the credential
  ['/api/0/auth/', 'Basic YWRtaW46Z3Vlc3M=', 'session'],
  ['/api/0/auth/', `Bearer ${USER_TOKEN}`, 'session'],
  ['/api/0/auth/validate/', `Bearer ${USER_TOKEN}`, 'session'],
  ['/api/0/projects/', 'DSN https://key@sentry.example.com/1', 'session'],
  ['/api/0/projects/', `DSN ${DSN}/`, 'session'],
  ['/api/0/projects/', `DSN ${DSN.replace('https', 'javascript')}`, 'session'],
  ['/api/0/projects/', 'DSN abc', 'session'],
  ['/api/0/projects/', 'Sentry sentry_key=abc', 'session'],
  ['/api/0/projects/', 'Bearer', 'session'],
  ['/api/0/projects/', 'Bearer ', 'session'],
  ['/api/0/projects/', 'Bearertoken', 'session'],
  ['/api/0/projects/', '', 'session'],
  ['/api/0', `Bearer ${USER_TOKEN}`, 'session'],
  ['/organizations/acme/issues/', `Bearer ${USER_TOKEN}`, 'session'],
  ['/api/0/projects/', `Bearer ${USER_TOKEN}`, 'session', OFF],
  // Relay's and Sentry's internal APIs are for the inside network: 404 from outside, token or not
  ['/api/0/relays/register/challenge/', undefined, 'internalOnly'],
  ['/api/0/relays/register/challenge/', `Bearer ${USER_TOKEN}`, 'internalOnly'],
  ['/api/0/relays/projectconfigs/', 'Bearer x', 'internalOnly'],
  ['/api/0/relays', undefined, 'internalOnly'],
  ['/api/0/internal/health/', `Bearer ${ORG_TOKEN}`, 'internalOnly'],
  ['/api/0/internal/', undefined, 'internalOnly'],
  ['/api/0/relaysx/', `Bearer ${USER_TOKEN}`, 'tokenApi'],
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
