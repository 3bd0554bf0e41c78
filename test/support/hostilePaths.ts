// Generators of hostile request paths, shared by the unit properties and the over-HTTP property.
import fc from 'fast-check';

// One seed for every run, so CI is repeatable; FC_SEED=<n> explores other inputs locally.
fc.configureGlobal({ seed: Number(process.env['FC_SEED'] ?? 20261126) });

// The alphabet, plus whole tokens so the generator reaches real routes often.
const CHARS = ['/', '.', '%', '2', 'e', 'E', 'f', 'F', '5', 'c', 'C', '\\', ';', 'a', 'p', 'i', '0', '1', '_', 'g', 't', 'w', 'y'];
const TOKENS = [
  'api', '0', '1', '42', '01', '_gateway', 'auth', 'login', 'logout', 'store', 'envelope', 'embed', 'error-page',
  'js-sdk-loader', '_health', 'organizations', 'public-status', '..', '.', '%2e', '%2E', '%2e%2e', '%2f', '%2F',
  '%5c', '%5C', '%00', '%25', '%252e', '%252f', '%c0%ae', '%e2%80%a8', '%ff', '%61', '%7e', ';', '..;', '.;x', '//', '\\', '%2',
  // Sentry's endpoints without authentication (Relay's registration) and the secret-bearing invite paths
  'relays', 'register', 'challenge', 'internal', 'accept', 'accept-invite',
];
const piece = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 2, arbitrary: fc.constantFrom(...CHARS) });
// Real route prefixes, so that a good share of generated paths are accepted and land in every class.
const PREFIXES = [
  '/', '/api/0/', '/api/1/', '/api/store/', '/api/embed/error-page/', '/_gateway/', '/js-sdk-loader/', '/_health/', '/public-status/', '/auth/login/', '/api/',
  // Paths that normalise differently (a repeated slash, a dot segment), the inside-only APIs and secrets after them
  '/api/0//auth/', '/api/0/relays/register/challenge/', '/api/0/internal/', '//accept/1/', '/./accept/1/', '/api/0//accept-invite/1/', '/accept/1/',
];
/** A path-ish string: a route prefix (or just '/') then tokens and characters, segment separators likely. */
export const hostilePath = fc
  .tuple(
    fc.constantFrom(...PREFIXES),
    fc.array(fc.oneof({ weight: 2, arbitrary: piece }, { weight: 1, arbitrary: fc.constant('/') }), { minLength: 0, maxLength: 12 }),
  )
  .map(([prefix, parts]) => prefix + parts.join(''));

/** The session page a framing case hides behind an ingestion request: it must never reach Sentry undecided. */
export const smuggledPage = (host: string) => `GET /organizations/acme/ HTTP/1.1\r\n${host}Accept: application/json\r\n\r\n`;

/**
 * Request smuggling and malformed framing, as raw bytes: the node proxy's table (test/integration/hostile.test.ts),
 * which the proxies in front (nginxMode, caddyMode) run in part, by name (FRAMING_THROUGH_A_PROXY).
 */
export function framingCases(host: string, token: string): [string, string][] {
  const smuggled = smuggledPage(host);
  return [
    ['Content-Length with Transfer-Encoding', `POST /api/1/envelope/ HTTP/1.1\r\n${host}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['Transfer-Encoding before Content-Length', `POST /api/1/envelope/ HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${smuggled}`],
    ['duplicate Content-Length, different values', `POST /api/1/envelope/ HTTP/1.1\r\n${host}Content-Length: 0\r\nContent-Length: 60\r\n\r\n${smuggled}`],
    ['Content-Length list', `POST /api/1/envelope/ HTTP/1.1\r\n${host}Content-Length: 0, 60\r\n\r\n${smuggled}`],
    ['signed Content-Length', `POST /api/1/envelope/ HTTP/1.1\r\n${host}Content-Length: +0\r\n\r\n${smuggled}`],
    ['Transfer-Encoding that is not chunked last', `POST /api/1/envelope/ HTTP/1.1\r\n${host}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`],
    ['obfuscated Transfer-Encoding', `POST /api/1/envelope/ HTTP/1.1\r\n${host}Transfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n${smuggled}`],
    ['obs-fold continuation line', `GET /api/1/envelope/ HTTP/1.1\r\n${host}X-Folded: a\r\n Transfer-Encoding: chunked\r\n\r\n`],
    ['bare LF line endings', `GET /api/1/envelope/ HTTP/1.1\n${host.trim()}\nX-A: b\n\n`],
    ['bare CR inside a header value', `GET /api/1/envelope/ HTTP/1.1\r\n${host}X-A: b\rTransfer-Encoding: chunked\r\n\r\n`],
    ['NUL inside a header value', `GET /api/1/envelope/ HTTP/1.1\r\n${host}X-A: b\x00c\r\n\r\n`],
    ['space inside a header name', `GET /api/1/envelope/ HTTP/1.1\r\n${host}X A: b\r\n\r\n`],
    ['invalid chunk size', `POST /api/1/envelope/ HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
    ['HTTP/1.0 with chunked', `POST /api/1/envelope/ HTTP/1.0\r\n${host}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['a token request smuggling a session page', `POST /api/0/projects/ HTTP/1.1\r\n${host}Authorization: Bearer ${token}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    ['absolute-form target for another host', `GET http://internal.example/organizations/acme/ HTTP/1.1\r\n${host}\r\n`],
    // These once reached new URL() on the error path and took the whole process down.
    ['a target of just //', `GET // HTTP/1.1\r\n${host}\r\n`],
    ['a scheme-relative target', `GET //evil.example/organizations/acme/?lang=en HTTP/1.1\r\n${host}\r\n`],
    ['an absolute-form target with a broken authority', `GET http://[/organizations/ HTTP/1.1\r\n${host}\r\n`],
    ['raw space in the target', `GET /api/1/envelope/ HTTP/1.1 HTTP/1.1\r\n${host}\r\n`],
  ];
}

/** The framing cases run through nginx and Caddy: each carries a session page that must not arrive undecided. */
export const FRAMING_THROUGH_A_PROXY: readonly string[] = [
  'Content-Length with Transfer-Encoding', 'Transfer-Encoding before Content-Length', 'duplicate Content-Length, different values', 'Content-Length list',
  'Transfer-Encoding that is not chunked last', 'obfuscated Transfer-Encoding', 'HTTP/1.0 with chunked', 'a token request smuggling a session page',
  'absolute-form target for another host', 'a scheme-relative target',
];
