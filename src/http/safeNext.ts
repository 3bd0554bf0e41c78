// Where to go after sign-in: only a path on this site, never another origin in disguise.
const LOOPS = /^\/_gateway\/(login|logout|reauth)(\/|\?|$)/;

export function safeNext(next: unknown, publicUrl: string): string {
  if (typeof next !== 'string' || next.length === 0 || next.length > 2048) return '/';
  // `//host`, `/\host` and control characters are read as other origins by some browsers.
  if (!next.startsWith('/') || next.startsWith('//') || next.includes('\\') || /[\u0000-\u001f\u007f]/.test(next)) return '/';
  let url: URL;
  try {
    url = new URL(next, publicUrl);
  } catch {
    return '/';
  }
  if (url.origin !== new URL(publicUrl).origin) return '/';
  const path = url.pathname + url.search + url.hash;
  // Dot segments can rebuild a `//host` after resolution (`/.//evil`): check what the browser will be sent.
  if (path.startsWith('//') || path.includes('\\')) return '/';
  return LOOPS.test(path) ? '/' : path;
}
