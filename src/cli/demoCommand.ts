// `demo`: a throwaway Samba DC with demo users, Redis, a stand-in Sentry and the gateway, all on this machine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevConfig } from '../dev/devConfig.js';
import { DEMO_PASSWORD, USERS } from '../dev/fixtures.js';
import { startRedisServer } from '../dev/redisServer.js';
import { describeSambaDc, startSambaDc } from '../dev/sambaDc.js';
import { startStandInSentry } from '../dev/standInSentry.js';
import { startGateway } from '../main.js';
import { createLogger } from '../shared/logger.js';
import { table } from './common.js';

export async function demoCommand(o: { port?: number }): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo runs a Samba AD domain controller, which needs root. Run it as root (e.g. sudo npm run demo).\n');
    return 1;
  }
  const port = o.port ?? 8080;
  const dir = mkdtempSync(join(tmpdir(), 'sag-demo-'));
  const say = (s: string) => process.stdout.write(s + '\n');
  say('Starting the demo (about 30 seconds)…');
  say('  1/4 Samba AD domain controller with demo users');
  const dc = await startSambaDc({ dir: join(dir, 'dc') });
  say('  2/4 Redis');
  const redis = await startRedisServer();
  const publicUrl = `http://127.0.0.1:${port}`;
  say('  3/4 stand-in Sentry');
  const sentry = await startStandInSentry({ jwksUrl: `${publicUrl}/_gateway/jwks.json`, issuer: publicUrl, audience: 'sentry', header: 'X-Sentry-Gateway-Assertion' });
  say('  4/4 gateway');
  const { config, file } = writeDevConfig({ dir: join(dir, 'gateway'), dc: describeSambaDc(dc), redisUrl: redis.url, upstreamUrl: sentry.url, listen: `127.0.0.1:${port}`, publicUrl });
  const gw = await startGateway(config, createLogger(process.env.SAG_DEMO_LOG ?? 'warn'));
  const rows = [
    ['user', 'password', 'what it shows'],
    ['alice', DEMO_PASSWORD, 'nested groups 3 deep, gateway admin, manager via SRE'],
    ['CORP\\bob', DEMO_PASSWORD, 'NETBIOS form; backend developer'],
    [USERS.bob.userPrincipalName, DEMO_PASSWORD, 'second UPN suffix'],
    ['carol', DEMO_PASSWORD, 'Chinese group name and display name'],
    ['disabled', DEMO_PASSWORD, '"account disabled"'],
    ['mustchange', DEMO_PASSWORD, '"password expired: change it"'],
    ['outsider', DEMO_PASSWORD, '"not authorized for Sentry"'],
    ['alice', 'wrong', '"invalid username or password" (and the throttle after 5)'],
  ];
  say('');
  say(`Open ${publicUrl}/ and sign in (add ?lang=zh-CN to the login page for Chinese).`);
  say('');
  say(table(rows).replace(/^/gm, '  '));
  say('');
  say(`Config: ${file}   Try: npx tsx src/cli.ts explain alice --config ${file}`);
  say('Press Ctrl+C to stop; everything is thrown away.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('stopping…');
  await gw.close();
  await sentry.close();
  await redis.stop();
  await dc.stop();
  rmSync(dir, { recursive: true, force: true });
  return 0;
}
