// Header hygiene both ways: nothing a client sends may claim an identity, hop-by-hop headers stay
// on their hop, and the forwarding headers are ours alone (docs/design.md §6).
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHeaders } from './forward.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
// Identity claims and forwarding facts only the gateway may state: who the user is, which address the
// client has (Relay's forwarded_for extractor, relay-server/src/extractors/forwarded_for.rs, takes the
// first of CF-Connecting-IP, X-Vercel-Forwarded-For, X-Sentry-Forwarded-For, X-Forwarded-For: a client
// naming its own address would pass per-project IP filters and set `{{auto}}` user IPs and geo data),
// and which URL or method a server behind us should use instead of the one we judged.
export const IDENTITY_HEADERS: readonly string[] = [
  'x-forwarded-user',
  'x-remote-user',
  'remote-user',
  'forwarded',
  'x-real-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'x-vercel-forwarded-for',
  'x-sentry-forwarded-for',
  'true-client-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'fastly-client-ip',
  'x-original-forwarded-for',
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
];
const IDENTITY: ReadonlySet<string> = new Set(IDENTITY_HEADERS);
// We already answered any 100-continue ourselves; upstream must not be asked again.
const REQUEST_ONLY = new Set(['expect', 'host']);

export interface RequestHeaderPolicy {
  /** Lower-case assertion header name. */
  assertionHeader: string;
  /** The gateway's own cookies (session and CSRF, under every name they have had): never forwarded. */
  cookieNames: readonly string[];
  /** Host (with port if any) and scheme of server.publicUrl. */
  publicHost: string;
  publicProto: string;
}

export interface ForwardOptions {
  clientAddress: string;
  /** Anonymous classes lose the whole Cookie header. */
  anonymous: boolean;
  /** Keep Upgrade/Connection for a WebSocket handshake. */
  websocket?: boolean;
  assertion?: string | undefined;
  requestId: string;
}

// Message framing is never the client's to drop: `Connection: content-length` would otherwise send a body unframed.
const FRAMING = new Set(['content-length', 'transfer-encoding']);
// End-to-end headers the gateway decides on (classification, session, framing, routing). A Connection
// header naming one would make what we forward differ from what we judged: such a request is refused.
export const DECIDED_ON: ReadonlySet<string> = new Set(['authorization', 'cookie', 'host', ...FRAMING]);

const NO_TOKENS: readonly string[] = [];

/** Every header name a Connection header lists, lower-cased. */
function listedNames(value: string | string[] | undefined): readonly string[] {
  // The values nearly every peer sends name no header: skip the split.
  if (value === undefined || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return NO_TOKENS;
  const text = Array.isArray(value) ? value.join(',') : value;
  return text
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

/** The names a Connection header removes from this hop; framing is never one of them. */
function connectionTokens(value: string | string[] | undefined, keep: ReadonlySet<string> = FRAMING): readonly string[] {
  const names = listedNames(value);
  return names === NO_TOKENS ? names : names.filter((t) => !keep.has(t));
}

/**
 * The first header the client's Connection header lists that the gateway decides on (or undefined):
 * `Connection: authorization` would otherwise strip the token a request was classified by after
 * classification, sending Sentry an anonymous request (RFC 9110 §7.6.1 lets a proxy refuse it).
 */
export function connectionNamesDecidedHeader(value: string | string[] | undefined, assertionHeader: string): string | undefined {
  for (const name of listedNames(value)) if (DECIDED_ON.has(name) || name === assertionHeader) return name;
  return undefined;
}

/** True for headers that describe this hop or our own proxying and never cross it. */
function isHopHeader(name: string, listed: readonly string[]): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-') || listed.includes(name);
}

/** Removes `name=…` pairs from a Cookie header, keeping every other pair byte for byte. */
export function removeCookie(header: string, name: string): string | undefined {
  if (!header.includes(name)) return header;
  const kept = header.split(';').filter((pair) => {
    const eq = pair.indexOf('=');
    return (eq === -1 ? pair : pair.slice(0, eq)).trim() !== name;
  });
  const out = kept.join(';').replace(/^[ \t]+/, '');
  return out === '' ? undefined : out;
}

export function buildRequestHeaders(
  incoming: IncomingHttpHeaders,
  policy: RequestHeaderPolicy,
  opts: ForwardOptions,
): RequestHeaders {
  // Requests listing a decided-on header are refused before this; never dropping one is the second lock.
  const listed = connectionTokens(incoming.connection, DECIDED_ON);
  const out: RequestHeaders = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    // Some app servers read `X_Forwarded_User` as `X-Forwarded-User`; Sentry needs no header with an underscore.
    if (name.includes('_')) continue;
    if (isHopHeader(name, listed) || IDENTITY.has(name) || REQUEST_ONLY.has(name)) continue;
    if (name === policy.assertionHeader || name.startsWith('x-auth-request-') || name.startsWith('x-forwarded-')) continue;
    if (name === 'cookie') {
      if (opts.anonymous) continue;
      let cookie: string | undefined = String(value);
      for (const own of policy.cookieNames) cookie = cookie === undefined ? undefined : removeCookie(cookie, own);
      if (cookie !== undefined) out.cookie = cookie;
      continue;
    }
    out[name] = value;
  }
  // Framing is the upstream client's: a body of unknown length is re-chunked, whatever the method.
  out.host = policy.publicHost;
  out['x-forwarded-for'] = opts.clientAddress;
  out['x-forwarded-proto'] = policy.publicProto;
  out['x-forwarded-host'] = policy.publicHost;
  out['x-request-id'] = opts.requestId;
  if (opts.websocket) {
    out.connection = 'Upgrade';
    out.upgrade = 'websocket';
  }
  if (opts.assertion !== undefined) out[policy.assertionHeader] = opts.assertion;
  return out;
}

/** Filters upstream response headers (flat raw [name, value, …] list), mapping kept values. */
export function filterResponseHeaders(raw: readonly string[], map: (lowerName: string, value: string) => string): string[] {
  let listed: readonly string[] = NO_TOKENS;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') listed = [...listed, ...connectionTokens(raw[i + 1])];
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (isHopHeader(lower, listed)) continue;
    out.push(name, map(lower, raw[i + 1]!));
  }
  return out;
}
