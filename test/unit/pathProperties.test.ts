// Property-based checks of path normalisation and classification (docs/design.md §6): generated hostile
// request targets either get refused, or mean exactly the same thing to every later parser.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { configSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';
import { ANONYMOUS_CLASSES, classifyRequest, type RouteClass } from '../../src/proxy/classifyRequest.js';
import { normalisePath, type NormalisedTarget } from '../../src/proxy/normalisePath.js';
import { hostilePath } from '../support/hostilePaths.js';
import { API_KEY_BASIC, DSN, LEGACY_TOKEN, ORG_TOKEN, USER_TOKEN } from '../support/sentryTokens.js';

const bypass = configSchema.parse({
  server: { publicUrl: 'https://sentry.example.com' },
  upstream: { url: 'http://web:9000' },
  ldap: { urls: ['ldaps://dc.test'], bindDn: 'CN=svc', bindPasswordFile: '/dev/null', baseDn: 'DC=test' },
  bypass: { paths: ['/public-status/'] },
}).bypass;

const query = fc.constantFrom('', '?next=/x', '?a=%2e%2e/%2f', '?/../../api/0/');
// Credentials Sentry accepts, and look-alikes it does not issue.
const ACCEPTED = [`Bearer ${USER_TOKEN}`, `bearer ${ORG_TOKEN}`, `Bearer ${LEGACY_TOKEN}`, API_KEY_BASIC, `DSN ${DSN}`];
const authorization = fc.constantFrom(undefined, ...ACCEPTED, 'Bearer abc', 'Basic a2V5Og==', 'Basic dXNlcjpwYXNz', 'DSN xyz', 'bearer  t ');

function tryNormalise(target: string): NormalisedTarget | GatewayError {
  try {
    return normalisePath(target, ['sentry.example.com']);
  } catch (e) {
    assert.ok(e instanceof GatewayError, `only GatewayErrors escape, got ${String(e)}`);
    assert.equal(e.code, 'GW_BAD_PATH');
    return e;
  }
}

/** What a WHATWG URL parser (browsers, most HTTP stacks) resolves the raw path to, decoded. */
function resolvedElsewhere(rawPath: string): string {
  return decodeURIComponent(new URL(rawPath, 'http://upstream.invalid').pathname);
}

/** One more round of percent-decoding, as a careless upstream might do; the input when that fails. */
function decodeAgain(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const RUNS = { numRuns: 4000 };

describe('normalisePath on generated hostile paths', () => {
  test('never throws anything but a 400 GW_BAD_PATH', () => {
    fc.assert(fc.property(hostilePath, query, (p, q) => void tryNormalise(p + q)), RUNS);
  });

  test('an accepted path is forwarded byte for byte as received', () => {
    fc.assert(
      fc.property(hostilePath, query, (p, q) => {
        const t = tryNormalise(p + q);
        if (t instanceof GatewayError) return;
        assert.equal(t.rawPath, p);
        assert.equal(t.query, q);
        assert.equal(t.target, p + q);
      }),
      RUNS,
    );
  });

  test('an accepted path resolves to the same decoded path in a URL parser (no dot segments, no encoded separators)', () => {
    fc.assert(
      fc.property(hostilePath, (p) => {
        const t = tryNormalise(p);
        if (t instanceof GatewayError) return;
        assert.equal(resolvedElsewhere(t.rawPath), t.path, `raw ${t.rawPath}`);
      }),
      RUNS,
    );
  });

  test('decoding an accepted path a second time adds no separator or dot segment', () => {
    fc.assert(
      fc.property(hostilePath, (p) => {
        const t = tryNormalise(p);
        if (t instanceof GatewayError) return;
        const twice = decodeAgain(t.path);
        assert.equal(twice.split('/').length, t.path.split('/').length, `raw ${t.rawPath}`);
        assert.ok(!twice.includes('\\'), `raw ${t.rawPath}`);
        for (const seg of twice.split('/')) assert.ok(seg.split(';', 1)[0] !== '..' && seg.split(';', 1)[0] !== '.', `raw ${t.rawPath}`);
      }),
      RUNS,
    );
  });

  test('normalising is idempotent: an accepted raw path is accepted again with the same meaning', () => {
    fc.assert(
      fc.property(hostilePath, (p) => {
        const t = tryNormalise(p);
        if (t instanceof GatewayError) return;
        const again = tryNormalise(t.rawPath);
        assert.ok(!(again instanceof GatewayError));
        assert.equal(again.path, t.path);
      }),
      RUNS,
    );
  });

  test('an absolute-form target for another host is always refused', () => {
    fc.assert(
      fc.property(hostilePath, fc.constantFrom('http://evil.example', 'https://sentry.example.com.evil', 'http://web:9000', 'HTTP://127.0.0.1'), (p, origin) => {
        assert.ok(tryNormalise(origin + p) instanceof GatewayError);
      }),
      { numRuns: 500 },
    );
  });
});

describe('classification of accepted paths', () => {
  test('classes the same after a URL parser resolves the path, and after one more decode', () => {
    fc.assert(
      fc.property(hostilePath, authorization, (p, auth) => {
        const t = tryNormalise(p);
        if (t instanceof GatewayError) return;
        const ours = classifyRequest({ path: t.path, authorization: auth }, bypass);
        assert.equal(classifyRequest({ path: resolvedElsewhere(t.rawPath), authorization: auth }, bypass), ours, `raw ${t.rawPath}`);
        // A second decode may change characters, never which pipeline an anonymous request lands in.
        if (ANONYMOUS_CLASSES.has(ours)) {
          const twice = classifyRequest({ path: decodeAgain(t.path), authorization: auth }, bypass);
          assert.ok(ANONYMOUS_CLASSES.has(twice) || twice === ours, `raw ${t.rawPath}: ${ours} then ${twice}`);
        }
      }),
      RUNS,
    );
  });

  test('anonymous classes only ever come from the routes docs/design.md §6 names', () => {
    const allowed: Record<string, (path: string, auth: string | undefined) => boolean> = {
      ingestion: (path) =>
        path === '/api/store/' || /^\/api\/[1-9][0-9]*\//.test(path) || path.startsWith('/api/embed/error-page') || path.startsWith('/js-sdk-loader') || path === '/_health/',
      // Sentry's password endpoint is /api/0/auth/ (and below); a sibling such as /api/0/authapi is an ordinary API path.
      tokenApi: (path, auth) => path.startsWith('/api/0/') && !/^\/api\/0\/(auth|relays|internal)(\/|$)/.test(path) && ACCEPTED.includes(auth ?? ''),
      bypassPath: (path) => path.startsWith('/public-status'),
    };
    fc.assert(
      fc.property(hostilePath, authorization, (p, auth) => {
        const t = tryNormalise(p);
        if (t instanceof GatewayError) return;
        const cls: RouteClass = classifyRequest({ path: t.path, authorization: auth }, bypass);
        if (ANONYMOUS_CLASSES.has(cls)) assert.ok(allowed[cls]!(t.path, auth), `${cls} for ${t.path} (${auth ?? 'no auth'})`);
        // /api/0/ is the management API: it is never ingestion, whatever follows.
        if (t.path.startsWith('/api/0/')) assert.notEqual(cls, 'ingestion');
      }),
      RUNS,
    );
  });

  test('a person’s Basic password is never a token', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes(':')), fc.string({ minLength: 1, maxLength: 12 }), (user, pass) => {
        const auth = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
        assert.notEqual(classifyRequest({ path: '/api/0/organizations/', authorization: auth }, bypass), 'tokenApi');
      }),
      { numRuns: 1000 },
    );
  });
});
