// Every Sentry path that carries a secret logs without it; every other path logs unchanged.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { redactPath } from '../../src/proxy/redactPath.js';

const SECRET = 'f3c2a9d07be14e6a8c5d2b1e0f9a8c7d';

// [what, path as requested, path as logged]
const redacted: [string, string, string][] = [
  ['invite link', `/accept/42/${SECRET}/`, '/accept/[redacted]/'],
  ['invite link with organization', `/accept/acme/42/${SECRET}/`, '/accept/[redacted]/'],
  ['invite link with a numeric token', '/accept/42/123456/', '/accept/[redacted]/'],
  ['invite API', `/api/0/accept-invite/42/${SECRET}/`, '/api/0/accept-invite/[redacted]/'],
  ['invite API with organization', `/api/0/accept-invite/acme/42/${SECRET}/`, '/api/0/accept-invite/[redacted]/'],
  ['email confirmation', `/account/confirm-email/7/${SECRET}/`, '/account/confirm-email/7/[redacted]/'],
  ['password recovery', `/account/recover/confirm/7/${SECRET}/`, '/account/recover/confirm/7/[redacted]/'],
  ['set password', `/account/password/confirm/7/${SECRET}/`, '/account/password/confirm/7/[redacted]/'],
  ['relocation confirm', `/account/relocation/confirm/7/${SECRET}/`, '/account/relocation/confirm/7/[redacted]/'],
  ['IdP email verification', `/account/user-confirm/${SECRET}/`, '/account/user-confirm/[redacted]/'],
  ['CLI wizard page', `/account/settings/wizard/${SECRET}/`, '/account/settings/wizard/[redacted]/'],
  ['CLI wizard API', `/api/0/wizard/${SECRET}/`, '/api/0/wizard/[redacted]/'],
  ['CLI wizard API without trailing slash', `/api/0/wizard/${SECRET}`, '/api/0/wizard/[redacted]'],
  ['shared issue page', `/share/issue/${SECRET}/`, '/share/issue/[redacted]/'],
  ['shared issue page (old name)', `/share/group/${SECRET}/`, '/share/group/[redacted]/'],
  ['shared issue page in an organization', `/organizations/acme/share/issue/${SECRET}/`, '/organizations/acme/share/issue/[redacted]/'],
  ['shared issue API', `/api/0/shared/issues/${SECRET}/`, '/api/0/shared/issues/[redacted]/'],
  ['shared issue API in an organization', `/api/0/organizations/acme/shared/issues/${SECRET}/`, '/api/0/organizations/acme/shared/issues/[redacted]/'],
  ['release webhook signature', `/api/hooks/release/builtin/3/${SECRET}/`, '/api/hooks/release/builtin/3/[redacted]/'],
  ['Slack identity link', `/extensions/slack/link-identity/${SECRET}/`, '/extensions/slack/link-identity/[redacted]/'],
  ['Slack team unlink', `/extensions/slack/unlink-team/${SECRET}/`, '/extensions/slack/unlink-team/[redacted]/'],
  ['Discord identity link', `/extensions/discord/link-identity/${SECRET}/`, '/extensions/discord/link-identity/[redacted]/'],
  ['Teams identity unlink', `/extensions/msteams/unlink-identity/${SECRET}/`, '/extensions/msteams/unlink-identity/[redacted]/'],
  ['segments added after the secret', `/api/0/wizard/${SECRET}/x/y/`, '/api/0/wizard/[redacted]/'],
  ['a matrix parameter on the secret', `/accept/42/${SECRET};x=1/`, '/accept/[redacted]/'],
  ['mis-cased by a mail client', `/Accept/42/${SECRET}/`, '/Accept/[redacted]/'],
  ['absolute-form target', `http://sentry.example.com/accept/42/${SECRET}/`, 'http://sentry.example.com/accept/[redacted]/'],
  // wherever the pattern occurs, in the path as sent and as a server that merges or decodes would read it
  ['a leading repeated slash (refused, still logged)', `//accept/1/${SECRET}/`, '//accept/[redacted]/'],
  ['a leading dot segment (refused, still logged)', `/./accept/1/${SECRET}/`, '/./accept/[redacted]/'],
  ['a repeated slash inside the invite API', `/api/0//accept-invite/1/${SECRET}/`, '/api/0/accept-invite/[redacted]/'],
  ['a dot segment inside the invite API', `/api/0/./accept-invite/1/${SECRET}/`, '/api/0/accept-invite/[redacted]/'],
  ['a dot-dot segment before the wizard API', `/api/1/../0/wizard/${SECRET}/`, '/api/0/wizard/[redacted]/'],
  ['below a URL prefix', `/sentry/accept/1/${SECRET}/`, '/sentry/accept/[redacted]/'],
  ['an encoded letter in the route', `/%61ccept/1/${SECRET}/`, '/accept/[redacted]/'],
  ['a double-encoded letter in the route', `/%2561ccept/1/${SECRET}/`, '/accept/[redacted]/'],
  ['encoded slashes', `/accept%2f1%2F${SECRET}/`, '/accept/[redacted]/'],
  ['backslashes', `/api/0\\accept-invite\\1\\${SECRET}`, '/api/0/accept-invite/[redacted]'],
  ['a parameter on the route segment', `/api;x/0/wizard/${SECRET}/`, '/api/0/wizard/[redacted]/'],
  ['a repeated slash in a shared issue in an organization', `/organizations/acme//share/issue/${SECRET}/`, '/organizations/acme//share/issue/[redacted]/'],
];

const unchanged: [string, string][] = [
  ['an ordinary page', '/organizations/acme/issues/'],
  ['an ordinary API call', '/api/0/organizations/acme/issues/'],
  ['ingestion', '/api/1/envelope/'],
  ['the confirmation page without a hash', '/account/confirm-email/'],
  ['the recovery form', '/account/recover/'],
  ['the wizard start', '/api/0/wizard/'],
  ['the project transfer page (token is in the query)', '/accept-transfer/'],
  ['an invite page with nothing after it', '/accept/'],
  ['a team settings page', '/settings/acme/teams/'],
  ['Slack commands webhook', '/extensions/slack/commands/'],
  ['an odd path without a secret', '/api/0//projects/%61/'],
  ['dot segments without a secret', '/./api/../organizations/'],
];

describe('redactPath', () => {
  for (const [what, path, logged] of redacted) {
    test(`${what}: the secret is gone`, () => {
      const out = redactPath(path);
      assert.equal(out, logged);
      assert.ok(!out.includes(SECRET) && !out.includes('123456'), out);
    });
  }
  for (const [what, path] of unchanged) {
    test(`${what}: logged as sent`, () => assert.equal(redactPath(path), path));
  }
});
