// Sentry puts secrets in some paths: invite tokens, password-reset and email-confirmation hashes, the
// CLI wizard hash that leads to an API token, share ids, signed integration links, webhook signatures.
// The request log keeps the route and drops the secret, so a log reader cannot replay the link.
// Every prefix below is one of Sentry's URL patterns (src/sentry/web/urls.py, src/sentry/api/urls.py,
// src/sentry/integrations/*/urls.py); query strings are never logged, so signed `?_=` links are safe.

export const REDACTED = '[redacted]';

// Each alternative ends where the secret begins; everything after it is dropped, whatever it is, so a
// segment added after the secret (which Sentry would 404) cannot bring it back. Case-insensitive: a
// link mis-cased by a mail client still carries the secret. One anchored test per logged request.
const SECRET_PATH = new RegExp(
  '^(?:https?://[^/]*)?/(?:' +
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

/** The path with every secret-bearing part replaced by `[redacted]` (a trailing slash is kept). */
export function redactPath(path: string): string {
  const m = SECRET_PATH.exec(path);
  if (m === null) return path;
  const kept = m[0];
  if (kept.length === path.length) return path;
  return `${kept}${REDACTED}${path.endsWith('/') ? '/' : ''}`;
}
