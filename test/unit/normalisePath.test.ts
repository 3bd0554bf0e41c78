import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalisePath } from '../../src/proxy/normalisePath.js';
import { isGatewayError } from '../../src/errors.js';

const HOSTS = ['sentry.example.com'];

describe('normalisePath accepts real Sentry paths unchanged', () => {
  const ok: [string, string][] = [
    ['/', '/'],
    ['/organizations/acme/issues/', '/organizations/acme/issues/'],
    ['/api/0/projects/acme/web/events/?query=a%20b', '/api/0/projects/acme/web/events/'],
    ['/api/0/organizations/acme/releases/my%40app%401.0/', '/api/0/organizations/acme/releases/my@app@1.0/'],
    ['/api/0/projects/acme/my%20project/', '/api/0/projects/acme/my project/'],
    ['/api/0/organizations/acme/releases/1.0~beta/', '/api/0/organizations/acme/releases/1.0~beta/'],
    ['/api/0/organizations/acme/releases/1.0%7Ebeta/', '/api/0/organizations/acme/releases/1.0~beta/'],
    ['/api/0/organizations/acme/releases/caf%C3%A9/', '/api/0/organizations/acme/releases/café/'],
    ['/api/0/x/100%25/', '/api/0/x/100%/'],
    ['/api/123/envelope/?sentry_key=abc&sentry_version=7', '/api/123/envelope/'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a..b/c.', '/a..b/c.'],
  ];
  for (const [input, decoded] of ok) {
    it(input, () => {
      const t = normalisePath(input, HOSTS);
      assert.equal(t.path, decoded);
      assert.equal(t.target, input, 'forwarded byte for byte');
    });
  }

  it('passes the query string through untouched, even odd encodings', () => {
    const t = normalisePath('/api/0/x/?q=%2e%2e%2f%00&next=//evil', HOSTS);
    assert.equal(t.query, '?q=%2e%2e%2f%00&next=//evil');
    assert.equal(t.path, '/api/0/x/');
  });

  it('turns an absolute-form target for our host into origin-form', () => {
    assert.equal(normalisePath('http://sentry.example.com/api/0/?a=1', HOSTS).target, '/api/0/?a=1');
    assert.equal(normalisePath('https://SENTRY.example.com', HOSTS).target, '/');
  });
});

describe('normalisePath refuses anything that could route differently upstream', () => {
  const bad: [string, string][] = [
    ['/api/0/../../_gateway/', 'dot-dot segment'],
    ['/api/./0/', 'dot segment'],
    ['/api/0/..', 'trailing dot-dot'],
    ['/api/%2e%2e/0/', 'encoded dot-dot'],
    ['/api/%2E%2e/0/', 'mixed-case encoded dot-dot'],
    ['/api/.%2e/0/', 'half-encoded dot-dot'],
    ['/api/0/..;/x', 'dot-dot with path parameter'],
    ['/api/123%2f..%2f0/', 'encoded slash'],
    ['/api/123%2F0/', 'upper-case encoded slash'],
    ['/api/123%5c0/', 'encoded backslash'],
    ['/api/123\\..\\0/', 'raw backslash'],
    ['/api/0/%00/', 'encoded NUL'],
    ['/api/0/\u0000/', 'raw NUL'],
    ['/api/0/%0a/', 'encoded newline'],
    ['/api/%252e%252e/0/', 'double-encoded dot-dot'],
    ['/api/123%252f0/', 'double-encoded slash'],
    ['//evil.example/', 'leading //'],
    ['//', 'bare //'],
    ['/api/0//auth/', 'empty segment that merges into Sentry\'s password check'],
    ['/api/0/projects//', 'trailing empty segment'],
    ['/api/0//accept-invite/1/abc/', 'empty segment before a secret'],
    ['http://sentry.example.com/api/0//auth/', 'empty segment in an absolute-form target'],
    ['/api/%zz/', 'invalid percent-encoding'],
    ['/api/%4', 'truncated percent-encoding'],
    ['/api/%C3%28/', 'invalid UTF-8'],
    ['/api/%FF/', 'lone high byte'],
    ['/api/%31%32%33/envelope/', 'encoded digits'],
    ['/%5fgateway/login', 'encoded underscore'],
    ['/api/0/a b/', 'raw space'],
    ['/api/0/caf\u00e9/', 'raw non-ASCII'],
    ['http://evil.example/api/0/', 'absolute-form for another host'],
    ['ftp://sentry.example.com/', 'non-http absolute-form'],
    ['*', 'asterisk-form'],
    ['sentry.example.com:443', 'authority-form'],
    ['', 'empty target'],
  ];
  for (const [input, why] of bad) {
    it(`${why}: ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => normalisePath(input, HOSTS),
        (e: unknown) => isGatewayError(e) && e.code === 'GW_BAD_PATH' && e.status === 400,
      );
    });
  }
});
