// `demo`: a throwaway Samba DC with demo users, Redis, a stand-in Sentry (with the member/team API) and the gateway.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer } from '../dev/redisServer.js';
import { describeSambaDc, startSambaDc } from '../dev/sambaDc.js';
import { createLogger } from '../shared/logger.js';
import { table } from './common.js';

export async function demoCommand(o: { port?: number }): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo runs a Samba AD domain controller, which needs root. Run it as root (e.g. sudo npm run demo).\n');
    return 1;
  }
  // Loaded only for this command: the demo's fake Sentry checks its traffic with dev dependencies (ajv) that an
  // install without them (the image, `npm ci --omit=dev`) lacks, and `serve` must not need them.
  let demoModule: typeof import('../dev/demo.js');
  try {
    demoModule = await import('../dev/demo.js');
  } catch (e) {
    process.stderr.write(`the demo runs from a source checkout with its dev dependencies (npm run demo): ${(e as Error).message}\n`);
    return 1;
  }
  const { DEMO_ORGANIZATION, startDemo } = demoModule;
  const port = o.port ?? 8080;
  const dir = mkdtempSync(join(tmpdir(), 'sag-demo-'));
  const say = (s: string) => process.stdout.write(s + '\n');
  say('Starting the demo (about 30 seconds)…');
  say('  1/3 Samba AD domain controller with demo users');
  const dc = await startSambaDc({ dir: join(dir, 'dc') });
  say('  2/3 Redis');
  const redis = await startRedisServer();
  say('  3/3 stand-in Sentry (web page and member/team API) and the gateway');
  const demo = await startDemo({ dir, dc: describeSambaDc(dc), redisUrl: redis.url, port, logger: createLogger(process.env.SAG_DEMO_LOG ?? 'warn') });
  say('');
  say(`Open ${demo.publicUrl}/ and sign in (add ?lang=zh-CN to the login page for Chinese).`);
  say(`Signing in provisions the account into the stand-in Sentry's organization "${DEMO_ORGANIZATION}": its page shows`);
  say(`the role and teams Sentry holds beside the verified claims. As alice, ${demo.publicUrl}/_gateway/admin/sync previews and applies a full sync.`);
  say('');
  say(table(demo.rows).replace(/^/gm, '  '));
  say('');
  say(`Config: ${demo.configFile}   Try: npx tsx src/cli.ts explain alice --config ${demo.configFile}`);
  say('Press Ctrl+C to stop; everything is thrown away.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('stopping…');
  await demo.close();
  await redis.stop();
  await dc.stop();
  rmSync(dir, { recursive: true, force: true });
  return 0;
}
