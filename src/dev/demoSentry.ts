// The demo's Sentry API: the fake Sentry the tests use (fakeSentry.ts), which speaks Sentry's member and team API
// as its source does and checks every exchange against the OpenAPI subset.
import { startFakeSentry, type FakeSentry } from './fakeSentry.js';

export type DemoSentryApi = FakeSentry;

/**
 * Starts the fake with the teams the demo's rules name; the token is the one the gateway's sentry.tokenFile holds.
 * `urlPrefix` is the address people reach Sentry at (the gateway's public URL), as a well-configured Sentry's
 * system.url-prefix is.
 */
export async function startDemoSentryApi(o: { organization: string; token: string; teams: string[]; urlPrefix?: string }): Promise<DemoSentryApi> {
  const api = await startFakeSentry({ organization: o.organization, token: o.token, tokenUserEmail: 'svc-sentry@corp.example.com', ...(o.urlPrefix ? { urlPrefix: o.urlPrefix } : {}) });
  for (const t of o.teams) api.addTeam(t);
  return api;
}
