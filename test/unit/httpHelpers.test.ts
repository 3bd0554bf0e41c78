import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csrfTokenFor, verifyCsrfToken } from '../../src/auth/csrf.js';
import { perUserLimit } from '../../src/auth/throttle.js';
import { pickLang } from '../../src/http/i18n.js';
import { safeNext } from '../../src/http/safeNext.js';

const PUBLIC = 'https://sentry.example.com';

test('safeNext keeps same-site paths and drops everything that could leave the site', () => {
  const cases: [unknown, string][] = [
    ['/organizations/acme/issues/?query=is%3Aunresolved', '/organizations/acme/issues/?query=is%3Aunresolved'],
    ['/settings/#security', '/settings/#security'],
    ['//evil.example/x', '/'],
    ['/.//evil.example', '/'],
    ['/x/..//evil.example', '/'],
    ['/%2e//evil.example', '/'],
    ['/\\evil.example', '/'],
    ['\\\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['https://sentry.example.com/ok/', '/'],
    ['javascript:alert(1)', '/'],
    ['/ok\r\nSet-Cookie: x=1', '/'],
    ['/\tevil', '/'],
    ['', '/'],
    [undefined, '/'],
    [['/a', '/b'], '/'],
    ['/_gateway/login?next=/x', '/'],
    ['/_gateway/logout', '/'],
    ['/_gateway/reauth?next=/x', '/'],
    ['/_gateway/me', '/_gateway/me'],
    ['/' + 'a'.repeat(3000), '/'],
  ];
  for (const [input, expected] of cases) assert.equal(safeNext(input, PUBLIC), expected, JSON.stringify(input));
});

test('pickLang: ?lang= wins, then Accept-Language by quality, English by default', () => {
  const cases: [string | undefined, string | undefined, string][] = [
    [undefined, undefined, 'en'],
    [undefined, 'zh-CN,zh;q=0.9', 'zh-CN'],
    [undefined, 'zh-TW', 'zh-CN'],
    [undefined, 'zh-Hans-CN', 'zh-CN'],
    [undefined, 'fr-FR,en;q=0.5,zh;q=0.9', 'zh-CN'],
    [undefined, 'fr-FR,en;q=0.9,zh;q=0.5', 'en'],
    [undefined, 'de', 'en'],
    [undefined, 'zh;q=0', 'en'],
    ['en', 'zh-CN', 'en'],
    ['zh-CN', 'en', 'zh-CN'],
    ['xx', 'zh-CN', 'zh-CN'],
  ];
  for (const [q, al, expected] of cases) assert.equal(pickLang(q, al), expected, `${q} ${al}`);
});

test('the per-user throttle stays below the lockout threshold', () => {
  const cases: [number | 'auto', number, number][] = [
    ['auto', 0, 5],
    ['auto', 10, 5],
    ['auto', 5, 3],
    ['auto', 3, 1],
    ['auto', 2, 1],
    ['auto', 1, 1],
    [8, 0, 8],
    [8, 6, 4],
    [3, 10, 3],
  ];
  for (const [setting, threshold, expected] of cases) assert.equal(perUserLimit(setting, threshold), expected, `${setting} with threshold ${threshold}`);
});

test('CSRF tokens verify only against their own cookie, under any current secret', () => {
  const token = csrfTokenFor('cookie-value-1', 'old-secret');
  assert.equal(verifyCsrfToken('cookie-value-1', token, ['new-secret', 'old-secret']), true);
  assert.equal(verifyCsrfToken('cookie-value-2', token, ['new-secret', 'old-secret']), false);
  assert.equal(verifyCsrfToken('cookie-value-1', token, ['new-secret']), false);
  assert.equal(verifyCsrfToken(undefined, token, ['old-secret']), false);
  assert.equal(verifyCsrfToken('cookie-value-1', '', ['old-secret']), false);
  assert.equal(verifyCsrfToken('cookie-value-1', ['x'], ['old-secret']), false);
});
