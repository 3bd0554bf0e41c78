// The demo's pieces: a stand-in Sentry (web page + the fake member/team API), and the gateway provisioning into it,
// against a DC and a Redis given by the caller (the demo command's own, or a test run's).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { startGateway, type RunningGateway } from '../main.js';
import type { Logger } from '../shared/logger.js';
import { startDemoSentryApi, type DemoSentryApi } from './demoSentry.js';
import { DEMO_RULES, writeDevConfig } from './devConfig.js';
import { DEMO_PASSWORD, USERS } from './fixtures.js';
import type { SambaDcInfo } from './sambaDc.js';
import { startStandInSentry, type StandInSentry } from './standInSentry.js';

export const DEMO_ORGANIZATION = 'acme';

export interface Demo {
  publicUrl: string;
  configFile: string;
  config: Config;
  gateway: RunningGateway;
  sentryApi: DemoSentryApi;
  standIn: StandInSentry;
  /** The accounts to try, and what each sees and gets in Sentry. */
  rows: string[][];
  close(): Promise<void>;
}

export async function startDemo(o: { dir: string; dc: SambaDcInfo; redisUrl: string; port: number; logger: Logger }): Promise<Demo> {
  const publicUrl = `http://127.0.0.1:${o.port}`;
  const token = `sntryu_${randomBytes(16).toString('hex')}`;
  const teams = [...new Set(DEMO_RULES.flatMap((r) => r.teams.map((t) => t.slug)))];
  // Its system.url-prefix is the address people reach Sentry at, as in a well-configured install: the console's url-prefix check passes.
  const sentryApi = await startDemoSentryApi({ organization: DEMO_ORGANIZATION, token, teams, urlPrefix: publicUrl });
  const standIn = await startStandInSentry({
    jwksUrl: `${publicUrl}/_gateway/jwks.json`,
    issuer: publicUrl,
    audience: 'sentry',
    header: 'X-Sentry-Gateway-Assertion',
    organization: DEMO_ORGANIZATION,
    // As the Sentry-side module does at sign-in: a pending invite for this email becomes a membership.
    membership: (email) => {
      if (sentryApi.member(email)?.pending) sentryApi.acceptInvite(email);
      return sentryApi.member(email);
    },
  }).catch(async (e: unknown) => {
    await sentryApi.close();
    throw e;
  });
  try {
    const gatewayDir = join(o.dir, 'gateway');
    mkdirSync(gatewayDir, { recursive: true, mode: 0o700 });
    const tokenFile = join(gatewayDir, 'sentry_token');
    writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
    const { config, file } = writeDevConfig({
      dir: gatewayDir,
      dc: o.dc,
      redisUrl: o.redisUrl,
      upstreamUrl: standIn.url,
      listen: `127.0.0.1:${o.port}`,
      publicUrl,
      // Provisioned at sign-in; the periodic sync is left to the console's Sync page, to watch it preview and apply.
      overrides: { sentry: { url: sentryApi.url, organization: DEMO_ORGANIZATION, tokenFile, provisionOnLogin: true, sync: { interval: '0' } } },
    });
    const gateway = await startGateway(config, o.logger);
    const rows = [
      ['user', 'password', 'what it shows', 'in Sentry'],
      ['alice', DEMO_PASSWORD, 'nested groups 3 deep, gateway admin', 'manager; teams sre and backend, team admin in both'],
      ['CORP\\bob', DEMO_PASSWORD, 'NETBIOS form; backend developer', 'member; team backend'],
      [USERS.bob.userPrincipalName, DEMO_PASSWORD, 'second UPN suffix', '(bob again)'],
      ['carol', DEMO_PASSWORD, 'Chinese group name and display name', 'member; team rnd'],
      ['disabled', DEMO_PASSWORD, '"account disabled"', 'nothing'],
      ['mustchange', DEMO_PASSWORD, '"password expired: change it"', 'nothing'],
      ['outsider', DEMO_PASSWORD, '"not authorized for Sentry"', 'nothing'],
      ['alice', 'wrong', '"invalid username or password" (and the throttle after 5)', 'nothing'],
    ];
    return {
      publicUrl,
      configFile: file,
      config,
      gateway,
      sentryApi,
      standIn,
      rows,
      async close() {
        await gateway.close();
        await standIn.close();
        await sentryApi.close();
      },
    };
  } catch (e) {
    await standIn.close();
    await sentryApi.close();
    throw e;
  }
}
