// Turns a raw request target into the path we classify on, refusing any target whose meaning
// could differ between this gateway and the upstream (docs/design.md §6): we only forward paths that are
// already normal, so what we authorise is exactly what Sentry routes.
import { GatewayError } from '../errors.js';

export interface NormalisedTarget {
  /** Percent-decoded path used for classification. */
  path: string;
  /** The path exactly as received: this is what we forward. */
  rawPath: string;
  /** '' or '?…', passed through untouched. */
  query: string;
  /** Origin-form request target to forward: rawPath + query. */
  target: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Raw bytes a client must have percent-encoded: controls, space, '#', '\' and anything non-ASCII.
const FORBIDDEN_RAW = /[\x00-\x20\x7f-\uffff#\\]/;
// Decoded characters that change routing or smuggle controls: '/', '\', NUL and other controls.
const FORBIDDEN_DECODED = /[\x00-\x1f\x7f\\]/;
// A decoded path still holding an encoded dot, slash, backslash or NUL was double-encoded.
const DOUBLE_ENCODED = /%(2e|2f|5c|00)/i;
// Encoded unreserved characters (RFC 3986 §6.2.2.2) are not normal; '~' is spared because
// some encoders escape it by habit and it carries no routing meaning.
const ENCODED_UNRESERVED = /%(3[0-9]|[46][1-9a-f]|[57][0-9a]|2d|2e|5f)/i;

function bad(reason: string): GatewayError {
  return new GatewayError('GW_BAD_PATH', `bad request path: ${reason}`);
}

function decodeStrict(raw: string): string {
  if (!raw.includes('%')) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c !== 0x25) {
      bytes.push(c);
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw bad('invalid percent-encoding');
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw bad('invalid UTF-8');
  }
}

/** Strips an absolute-form target to origin-form, but only when it names one of our hosts. */
function toOriginForm(target: string, allowedHosts: readonly string[]): string {
  if (target.startsWith('/')) return target;
  const m = /^https?:\/\/([^/?#]+)(.*)$/i.exec(target);
  if (!m) throw bad('not an origin-form or absolute-form target');
  const host = m[1]!.toLowerCase();
  if (!allowedHosts.includes(host)) throw bad('absolute-form target for another host');
  const rest = m[2]!;
  return rest.startsWith('/') ? rest : `/${rest}`;
}

export function normalisePath(requestTarget: string, allowedHosts: readonly string[] = []): NormalisedTarget {
  const target = toOriginForm(requestTarget, allowedHosts);
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);

  // '//host' would read as an authority to anything that re-parses the path as a URL.
  if (rawPath.startsWith('//')) throw bad('leading //');
  // An empty segment anywhere else is merged away by some servers (nginx's merge_slashes) and kept by
  // others: `/api/0//auth/` is not under /api/0/auth/ here but is Sentry's password check there.
  if (rawPath.includes('//')) throw bad('empty path segment');
  if (FORBIDDEN_RAW.test(rawPath)) throw bad('character that must be percent-encoded');
  if (/%(2f|5c|00)/i.test(rawPath)) throw bad('encoded slash, backslash or NUL');
  if (ENCODED_UNRESERVED.test(rawPath)) throw bad('encoded unreserved character');

  const path = decodeStrict(rawPath);
  if (FORBIDDEN_DECODED.test(path)) throw bad('control character or backslash');
  if (DOUBLE_ENCODED.test(path)) throw bad('double percent-encoding');
  for (const segment of path.split('/')) {
    // ';' parameters are cut by some servers before dot-segment resolution ('..;').
    const name = segment.split(';', 1)[0];
    if (name === '.' || name === '..') throw bad('dot segment');
  }
  return { path, rawPath, query, target: rawPath + query };
}
