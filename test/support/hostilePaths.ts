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
