// The demo's Sentry API: the tests' fake Sentry (test/support/fakeSentry.ts), which speaks Sentry's member and team
// API as its source does and checks every exchange against the OpenAPI subset. The demo runs from the source
// checkout under tsx, so it loads that file from there; `npm run build` compiles src/ only and never sees it.
export type DemoOrgRole = 'member' | 'admin' | 'manager' | 'owner' | 'billing';

/** What the demo uses of the fake (see FakeSentry in test/support/fakeSentry.ts). */
export interface DemoSentryApi {
  url: string;
  organization: string;
  member(email: string): { orgRole: DemoOrgRole; pending: boolean; effectiveTeamRoles: Record<string, 'contributor' | 'admin'> } | undefined;
  addTeam(slug: string): void;
  acceptInvite(email: string): unknown;
  close(): Promise<void>;
}

interface FakeSentryModule {
  startFakeSentry(o: { organization: string; token: string; tokenUserEmail: string }): Promise<DemoSentryApi>;
}

/** Starts the fake with the teams the demo's rules name; the token is the one the gateway's sentry.tokenFile holds. */
export async function startDemoSentryApi(o: { organization: string; token: string; teams: string[] }): Promise<DemoSentryApi> {
  // Computed, so the compiler leaves the test tree out of the build.
  const where = new URL(['..', '..', 'test', 'support', 'fakeSentry.ts'].join('/'), import.meta.url);
  let mod: FakeSentryModule;
  try {
    mod = (await import(where.href)) as FakeSentryModule;
  } catch (e) {
    throw new Error(`the demo runs from a source checkout under tsx (npm run demo): cannot load ${where.pathname}: ${(e as Error).message}`);
  }
  const api = await mod.startFakeSentry({ organization: o.organization, token: o.token, tokenUserEmail: 'svc-sentry@corp.example.com' });
  for (const t of o.teams) api.addTeam(t);
  return api;
}
