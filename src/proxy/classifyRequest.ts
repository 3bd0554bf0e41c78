// Decides which pipeline a request takes (docs/design.md §6), in that section's order. Pure: the tests are a table.
import type { Config } from '../config/schema.js';

export type RouteClass =
  | 'gateway'
  | 'redirectLogin'
  | 'redirectLogout'
  | 'internalOnly'
  | 'ingestion'
  | 'tokenApi'
  | 'bypassPath'
  | 'session';

/** Classes forwarded without a gateway session; they lose Cookie and identity headers. */
export const ANONYMOUS_CLASSES: ReadonlySet<RouteClass> = new Set(['ingestion', 'tokenApi', 'bypassPath']);

export interface ClassifyInput {
  /** Normalised (decoded) path without the query. */
  path: string;
  authorization?: string | undefined;
}

const PROJECT_ID_PATH = /^\/api\/[1-9][0-9]*\//;
const INTERNAL_ONLY = ['/_sentry-ad-gateway', '/api/0/relays', '/api/0/internal'];

// The credentials Sentry's own authentication classes take on /api/0/ (src/sentry/api/authentication.py),
// by the shape Sentry issues them in. DRF's get_authorization_header(request).split() splits on
// whitespace and each class compares the scheme lower-cased, so the scheme is case-insensitive and
// the header must be exactly a scheme and one credential:
// - UserAuthTokenAuthentication, `Bearer`: user, OAuth and integration tokens, made by
//   apitoken.generate_token as `sntryu_` + token_hex(32), or bare token_hex(32) (tokens made before
//   prefixes, and every token made without a type).
// - OrgAuthTokenAuthentication, `Bearer`: `sntrys_` + base64 JSON payload + `_` + base64 secret of 32
//   bytes without padding (utils/security/orgauthtoken_token.py generate_token).
// - DSNAuthentication, `DSN <dsn>`: ProjectKey.from_dsn takes the URL's user as the public key (32 hex,
//   optionally `:secret`) and the last path segment as the project id.
// - ApiKeyAuthentication, `Basic base64(key:)`: DRF's BasicAuthentication decodes `key:password` and
//   Sentry takes only an empty password; keys are uuid4().hex (models/apikey.py).
// Anything else (a made-up `Bearer x`, a password in Basic) is no token Sentry could accept: it needs a
// session like any other request, since Sentry endpoints without authentication would take it as anonymous.
const AUTHORIZATION = /^([A-Za-z]+)[ \t]+([^ \t]+)$/;
const BEARER_TOKEN = /^(?:sntryu_)?[0-9a-f]{64}$|^sntrys_[A-Za-z0-9+/]+={0,2}_[A-Za-z0-9+/]{43}$/;
const DSN = /^https?:\/\/[0-9a-f]{32}(?::[0-9a-f]{32})?@[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~-]+)*\/[1-9][0-9]*$/;
const API_KEY = /^[0-9a-f]{32}:$/;

/**
 * True for a credential of one of the shapes Sentry issues and accepts on /api/0/ (above). Basic with a
 * password is a person's Sentry password: that must go through AD sign-in, never straight to Sentry.
 */
export function isTokenCredential(authorization: string | undefined): boolean {
  const m = AUTHORIZATION.exec(authorization ?? '');
  if (!m) return false;
  const credential = m[2]!;
  switch (m[1]!.toLowerCase()) {
    case 'bearer':
      return BEARER_TOKEN.test(credential);
    case 'dsn':
      return DSN.test(credential);
    case 'basic': {
      // Only the canonical encoding: what decodes leniently but re-encodes differently is not a key.
      const decoded = Buffer.from(credential, 'base64');
      return decoded.toString('base64') === credential && API_KEY.test(decoded.toString('latin1'));
    }
    default:
      return false;
  }
}

/** True when `path` is `prefix` or below it, never a sibling sharing the leading characters. */
export function isUnder(path: string, prefix: string): boolean {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || path.startsWith(`${p}/`);
}

function isIngestion(path: string): boolean {
  return (
    path === '/api/store/' ||
    PROJECT_ID_PATH.test(path) ||
    isUnder(path, '/api/embed/error-page/') ||
    isUnder(path, '/js-sdk-loader/') ||
    path === '/_health/'
  );
}

export function classifyRequest(input: ClassifyInput, bypass: Config['bypass']): RouteClass {
  const { path } = input;
  if (isUnder(path, '/_gateway')) return 'gateway';
  // Sentry's own password login must never be reachable through the gateway.
  if (isUnder(path, '/auth/login')) return 'redirectLogin';
  if (isUnder(path, '/auth/logout')) return 'redirectLogout';
  // Endpoints for callers on the inside network only answer 404 from outside, whatever the request
  // carries: the Sentry-side module's own (offboarding, called by the gateway), and Sentry's Relay and
  // internal APIs. Relay reaches `web` directly in every supported layout, and some of its endpoints
  // take no authentication at all (RelayRegisterChallengeEndpoint: `authentication_classes = ()`).
  if (INTERNAL_ONLY.some((prefix) => isUnder(path, prefix))) return 'internalOnly';
  if (bypass.ingestion && isIngestion(path)) return 'ingestion';
  // /api/0/auth/ checks Sentry's own passwords (and makes Sentry sessions): it is never a token bypass.
  if (bypass.tokenApi && path.startsWith('/api/0/') && !isUnder(path, '/api/0/auth') && isTokenCredential(input.authorization)) return 'tokenApi';
  for (const prefix of bypass.paths) if (isUnder(path, prefix)) return 'bypassPath';
  return 'session';
}
