// Reads Sentry's `system.url-prefix` from its own answers and compares it with where users reach Sentry.
//
// Sentry builds the `Link` header of every paginated API answer from the url-prefix, not from the request:
// src/sentry/api/base.py `Endpoint.build_cursor_link` calls `absolute_uri(request.path)` (src/sentry/utils/http.py),
// which prefixes `options.get("system.url-prefix")`. Invite emails, the chunk-upload `url` and other links Sentry
// writes for elsewhere use the same prefix, and those do not pass through the gateway to be rewritten.

export type UrlPrefixFinding =
  | { status: 'match'; urlPrefix: string }
  | { status: 'mismatch'; urlPrefix: string; publicUrl: string }
  | { status: 'unknown'; reason: string };

const trimSlash = (s: string) => s.replace(/\/+$/, '');

/** The url-prefix a `Link` header reveals for a request to `requestPath`, or undefined if it says nothing. */
export function urlPrefixFromLink(link: string | null, requestPath: string): string | undefined {
  const first = link ? /<([^>]+)>/.exec(link)?.[1] : undefined;
  if (!first) return undefined;
  const path = first.split('?', 1)[0]!;
  const at = path.lastIndexOf(requestPath);
  return at >= 0 ? trimSlash(path.slice(0, at)) : undefined;
}

/** Compares the prefix with server.publicUrl: the same origin and path, a trailing slash aside. */
export function compareUrlPrefix(urlPrefix: string, publicUrl: string): UrlPrefixFinding {
  const want = trimSlash(publicUrl);
  return urlPrefix.toLowerCase() === want.toLowerCase() ? { status: 'match', urlPrefix } : { status: 'mismatch', urlPrefix, publicUrl: want };
}

/** Asks Sentry for one member (a paginated list, so it answers with a Link header) and reads the prefix from it. */
export async function checkSentryUrlPrefix(o: { apiBase: string; organization: string; token: string; publicUrl: string; timeoutMs?: number }): Promise<UrlPrefixFinding> {
  const path = `/api/0/organizations/${encodeURIComponent(o.organization)}/members/`;
  try {
    const res = await fetch(`${trimSlash(o.apiBase)}${path}?per_page=1`, {
      headers: { Authorization: `Bearer ${o.token}`, Accept: 'application/json' },
      signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
    });
    await res.body?.cancel();
    if (!res.ok) return { status: 'unknown', reason: `Sentry answered HTTP ${res.status} to ${path}` };
    const urlPrefix = urlPrefixFromLink(res.headers.get('link'), path);
    if (!urlPrefix) return { status: 'unknown', reason: `Sentry's answer to ${path} has no Link header to read system.url-prefix from` };
    return compareUrlPrefix(urlPrefix, o.publicUrl);
  } catch (e) {
    return { status: 'unknown', reason: (e as Error).message };
  }
}
