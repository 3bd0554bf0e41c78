// Decides which pipeline a request takes (SPEC §6), in the spec's order. Pure: the tests are a table.
import type { Config } from '../config/schema.js';

export type RouteClass =
  | 'gateway'
  | 'redirectLogin'
  | 'redirectLogout'
  | 'moduleInternal'
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
// Sentry decides token auth by scheme; anything else (e.g. 'DSN') falls back to the session cookie.
const TOKEN_AUTH = /^(bearer|basic)[ \t]+([^ \t]+)[ \t]*$/i;

/**
 * A bearer token, or a legacy API key (Basic with the key as user and no password). Basic with a
 * password is a person's Sentry password: that must go through AD sign-in, never straight to Sentry.
 */
export function isTokenCredential(authorization: string | undefined): boolean {
  const m = TOKEN_AUTH.exec(authorization ?? '');
  if (!m) return false;
  if (m[1]!.toLowerCase() === 'bearer') return true;
  const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 && colon === decoded.length - 1;
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
  // The Sentry-side module's own endpoints (offboarding) are for the gateway's calls on the inside
  // network only; from outside they answer 404 whatever the request carries.
  if (isUnder(path, '/_sentry-ad-gateway')) return 'moduleInternal';
  if (bypass.ingestion && isIngestion(path)) return 'ingestion';
  // /api/0/auth/ checks Sentry's own passwords (and makes Sentry sessions): it is never a token bypass.
  if (bypass.tokenApi && path.startsWith('/api/0/') && !isUnder(path, '/api/0/auth') && isTokenCredential(input.authorization)) return 'tokenApi';
  for (const prefix of bypass.paths) if (isUnder(path, prefix)) return 'bypassPath';
  return 'session';
}
