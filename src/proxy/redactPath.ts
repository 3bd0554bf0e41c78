// Sentry puts secrets in some paths: invite tokens, password-reset and email-confirmation hashes, the
// CLI wizard hash that leads to an API token, share ids, signed integration links, webhook signatures.
// The request log keeps the route and drops the secret, so a log reader cannot replay the link.
// Every prefix below is one of Sentry's URL patterns (src/sentry/web/urls.py, src/sentry/api/urls.py,
// src/sentry/integrations/*/urls.py); query strings are never logged, so signed `?_=` links are safe.

export const REDACTED = '[redacted]';

// Each alternative ends where the secret begins; everything after it is dropped, whatever it is, so a
// segment added after the secret (which Sentry would 404) cannot bring it back. Case-insensitive: a
// link mis-cased by a mail client still carries the secret. Not anchored: the pattern is found wherever
// it occurs (`//accept/…`, `/./accept/…`, below a URL prefix, in an absolute-form target), since a path
// refused for its shape is logged too, and a server that merges slashes would still take the secret.
const SECRET_PATH = new RegExp(
  '/(?:' +
    [
      // sentry-accept-invite, sentry-organization-accept-invite: /accept/[<org>/]<member id>/<token>/
      'accept/',
      // sentry-api-0-accept-organization-invite: /api/0/accept-invite/[<org>/]<member id>/<token>/
      'api/0/accept-invite/',
      // confirm-email, recover/confirm, password/confirm, relocation/confirm: /<user id>/<hash>/
      'account/(?:confirm-email|recover/confirm|password/confirm|relocation/confirm)/(?:\\d+/)?',
      // sentry-idp-email-verification: /account/user-confirm/<key>/
      'account/user-confirm/',
      // sentry-project-wizard-fetch and sentry-api-0-project-wizard: the hash sentry-cli polls for a token
      'account/settings/wizard/',
      'api/0/wizard/',
      // shared issues: the share id is the whole credential
      '(?:organizations/[^/]+/)?share/(?:issue|group)/',
      'api/0/(?:organizations/[^/]+/)?shared/(?:issues|groups)/',
      // sentry-release-hook: /api/hooks/release/<plugin>/<project id>/<signature>/
      'api/hooks/release/[^/]+/[^/]+/',
      // Slack, Discord, Microsoft Teams identity and team links: signed parameters
      'extensions/[^/]+/(?:un)?link-(?:identity|team)/',
    ].join('|') +
    ')',
  'i',
);

// Characters that make a path read differently once a server decodes or merges it.
const LOOSE = /[%\\;]|\/\/|\/\.{1,2}(?:\/|$)/;

/**
 * The path as the most forgiving server would read it: percent-escapes decoded (twice, for double
 * encoding), backslashes as slashes, `;` parameters cut, empty, `.` and `..` segments gone.
 */
function loosen(path: string): string {
  let text = path;
  for (let i = 0; i < 2; i++) text = text.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  const segments: string[] = [];
  for (const segment of text.replace(/\\/g, '/').split('/')) {
    const name = segment.split(';', 1)[0]!;
    if (name === '' || name === '.') continue;
    if (name === '..') segments.pop();
    else segments.push(name);
  }
  return `/${segments.join('/')}${text.endsWith('/') && segments.length > 0 ? '/' : ''}`;
}

function redactMatch(path: string): string | undefined {
  const m = SECRET_PATH.exec(path);
  if (m === null) return undefined;
  const end = m.index + m[0].length;
  if (end === path.length) return undefined;
  return `${path.slice(0, end)}${REDACTED}${path.endsWith('/') ? '/' : ''}`;
}

/**
 * The path with every secret-bearing part replaced by `[redacted]` (a trailing slash is kept). A path
 * that carries a secret only once decoded or merged is logged in that loosened form, redacted.
 */
export function redactPath(path: string): string {
  const raw = redactMatch(path);
  if (raw !== undefined) return raw;
  if (!LOOSE.test(path)) return path;
  return redactMatch(loosen(path)) ?? path;
}
