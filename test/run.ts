// The test command: starts one Samba AD DC and one redis-server for the whole run, then node's test runner over every suite.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRedisServer } from '../src/dev/redisServer.js';
import { describeSambaDc, startSambaDc } from '../src/dev/sambaDc.js';
import { rm } from 'node:fs/promises';

const SUITES = ['test/unit', 'test/integration', 'test/e2e'];

function testFiles(args: string[]): string[] {
  if (args.length) return args;
  return SUITES.filter((d) => existsSync(d)).flatMap((d) =>
    readdirSync(d)
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => join(d, f)),
  );
}

/** Minutes, from SAG_TEST_RUN_TIMEOUT; 30 by default (the whole suite takes about 6 on two cores). */
function runLimitMs(): number {
  const minutes = Number(process.env.SAG_TEST_RUN_TIMEOUT ?? 30);
  return (Number.isFinite(minutes) && minutes > 0 ? minutes : 30) * 60_000;
}

async function main(): Promise<number> {
  const files = testFiles(process.argv.slice(2));
  const needsInfra = files.some((f) => !f.includes('test/unit/'));
  const env: NodeJS.ProcessEnv = { ...process.env };
  const cleanups: (() => Promise<void>)[] = [];
  if (needsInfra) {
    const t0 = Date.now();
    // Snapshots at most hourly, as Redis's own default config persists: a Redis the gateway may keep second factors
    // in. One that persists nothing makes `serve` refuse to start once anyone has a factor, so a factor one suite
    // left behind would stop every later suite's gateway (the suites that test that refusal start their own).
    const redis = await startRedisServer({ args: ['--save', '3600 1', '--appendonly', 'no'] });
    cleanups.push(() => redis.stop());
    env.SAG_TEST_REDIS_URL = redis.url;
    process.stdout.write('starting a throwaway Samba AD DC for the integration suites…\n');
    const dc = await startSambaDc({ log: (line) => process.stdout.write(`  dc: ${line}\n`) });
    cleanups.push(async () => {
      await dc.stop();
      await rm(dc.dir, { recursive: true, force: true });
    });
    env.SAG_TEST_DC = JSON.stringify(describeSambaDc(dc));
    process.stdout.write(`test infrastructure ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (redis ${redis.url})\n`);
  }
  const limitMs = runLimitMs();
  const code = await new Promise<number>((resolve) => {
    // endWhenDone: a suite whose `before` failed may leave a server or a browser running; the file's process
    // must end once its tests are done rather than wait on it (not --test-force-exit: it loses results on Node 24).
    const preload = new URL('./support/endWhenDone.ts', import.meta.url).href;
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', preload, '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', env, detached: true });
    // The runner and each file's process form their own process group, so that stopping the run stops them all.
    const stop = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        child.kill(sig);
      }
    };
    // The safety net: whatever hangs, the run ends (and fails) after SAG_TEST_RUN_TIMEOUT.
    const limit = setTimeout(() => {
      process.stderr.write(`\ntest run still going after ${limitMs / 60_000} minutes (SAG_TEST_RUN_TIMEOUT): stopping it\n`);
      stop('SIGKILL');
    }, limitMs);
    child.on('exit', (c, sig) => {
      clearTimeout(limit);
      resolve(c ?? (sig ? 1 : 0));
    });
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => stop(s));
  });
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  return code;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`test run could not start: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
