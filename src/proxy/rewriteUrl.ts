// Sentry builds absolute URLs from its url-prefix, which may be an internal address; links that
// point at an upstream origin are turned into the public one so browsers and CLIs stay on the gateway.

export type UrlRewriter = (url: string) => string;

export function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/** Rewrites absolute http(s) URLs whose origin is one of `internalOrigins` to `publicUrl`'s origin. */
export function createUrlRewriter(publicUrl: string, internalOrigins: readonly string[]): UrlRewriter {
  const publicOrigin = new URL(publicUrl).origin;
  const internal = new Set(internalOrigins.map(originOf).filter((o): o is string => o !== undefined && o !== publicOrigin));
  return (url) => {
    // Relative references already resolve against the public origin: skip the URL parse.
    if (!/^\s*https?:/i.test(url)) return url;
    let parsed: URL;
    try {
      parsed = new URL(url.trim());
    } catch {
      return url;
    }
    if (!internal.has(parsed.origin)) return url;
    return publicOrigin + parsed.pathname + parsed.search + parsed.hash;
  };
}

// `Refresh: 0;url=…` with optional spaces, case and quotes, as browsers accept it.
const REFRESH = /^(\s*\d+(?:\.\d*)?\s*[;,]\s*url\s*=\s*)(['"]?)(.*?)\2(\s*)$/i;

export function rewriteRefresh(value: string, rewrite: UrlRewriter): string {
  const m = REFRESH.exec(value);
  if (!m) return value;
  const url = rewrite(m[3]!);
  return url === m[3] ? value : `${m[1]}${m[2]}${url}${m[2]}${m[4]}`;
}
