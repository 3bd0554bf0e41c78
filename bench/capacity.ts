// `npm run bench:capacity`: what one gateway asks of Redis, counted rather than timed, so the figures do not depend
// on a quiet machine. A real gateway (in this process, with an injected clock), a real Samba DC and a redis-server of
// its own: Redis commands per sign-in and per authenticated request (INFO commandstats), Redis memory per session
// (INFO memory before and after), and what this Redis does under redis-benchmark. Writes bench/CAPACITY.md.
//
// Starts its own Samba DC (ports 389/636: run it where no other DC runs), unless SAG_TEST_DC names a running one.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { writeDevConfig } from '../src/dev/devConfig.js';
import { DEMO_PASSWORD } from '../src/dev/fixtures.js';
import { freePort, startRedisServer } from '../src/dev/redisServer.js';
import { describeSambaDc, startSambaDc, type SambaDcInfo } from '../src/dev/sambaDc.js';
import { startGateway } from '../src/main.js';
import { storeOps, SESSION_PREFIX, type StoredSession } from '../src/session/sessionStore.js';
import { createLogger } from '../src/shared/logger.js';
import { startEchoUpstream } from '../test/support/echoUpstream.js';
import { Client, TestClock } from '../test/support/gateway.js';

const run = promisify(execFile);
const log = (s: string) => process.stderr.write(`capacity: ${s}\n`);
const USERS = ['alice', 'bob', 'carol', 'dave'];
const SIGN_INS = 40;
const MEMORY_SESSIONS = 5_000;
const MEMORY_SIGN_INS = 200;
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** Calls per command since the last CONFIG RESETSTAT, without the measuring client's own INFO/CONFIG. */
async function commandStats(r: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await r.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    const command = m?.[1]?.split('|')[0];
    if (m && command !== 'info' && command !== 'config') out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function add(into: Map<string, number>, from: Map<string, number>): void {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const describe = (m: Map<string, number>, per: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k.toUpperCase()} ${f2(v / per)}`)
    .join(', ');

/** The server's CPU seconds (user + system) and the commands it has processed so far. */
async function redisCpu(r: Redis): Promise<{ seconds: number; commands: number }> {
  const info = await r.info();
  const num = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return { seconds: num('used_cpu_user') + num('used_cpu_sys'), commands: num('total_commands_processed') };
}

async function usedMemory(r: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await r.info('memory'))?.[1] ?? NaN);
}

function sessionIdOf(c: Client): string {
  const raw = decodeURIComponent(c.cookies.get('sag_session') ?? '');
  return raw.slice(2, raw.lastIndexOf('.'));
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'sag-capacity-'));
  const cleanups: (() => Promise<unknown> | void)[] = [() => rmSync(work, { recursive: true, force: true })];
  try {
    const redisServer = await startRedisServer();
    cleanups.push(() => redisServer.stop());
    let dc: SambaDcInfo;
    if (process.env['SAG_TEST_DC']) dc = JSON.parse(process.env['SAG_TEST_DC']) as SambaDcInfo;
    else {
      log('starting a throwaway Samba AD DC…');
      const running = await startSambaDc();
      cleanups.push(() => running.stop().then(() => rmSync(running.dir, { recursive: true, force: true })));
      dc = describeSambaDc(running);
    }
    const upstream = await startEchoUpstream();
    cleanups.push(() => upstream.close());
    const port = await freePort();
    const { config } = writeDevConfig({
      dir: join(work, 'gw'),
      dc,
      redisUrl: redisServer.url,
      upstreamUrl: upstream.url,
      listen: `127.0.0.1:${port}`,
      publicUrl: `http://127.0.0.1:${port}`,
      // Sentry is not configured: provisioning (its own Redis work at sign-in) is out of these counts.
      overrides: { throttle: { perAddress: 100_000 }, log: { level: 'warn' } },
    });
    const clock = new TestClock();
    const quiet = new Writable({ write: (_c, _e, cb) => cb() });
    const gw = await startGateway(config, createLogger('warn', quiet), { clock });
    cleanups.push(() => gw.close());
    const r = new Redis(redisServer.url);
    cleanups.push(() => r.disconnect());
    const rows: string[][] = [];
    const row = (...cells: string[]) => rows.push(cells);

    // ------------------------------------------------ background: what an idle replica does on its own
    await r.config('RESETSTAT');
    await new Promise((res) => setTimeout(res, 5000));
    const idle = await commandStats(r);
    row('idle replica, 5 s', `${f2(total(idle) / 5)} commands/s`, describe(idle, 5) || '–');

    // ------------------------------------------------ sign-in
    const page = new Map<string, number>();
    const post = new Map<string, number>();
    for (let i = 0; i < SIGN_INS; i++) {
      const c = new Client(gw.url);
      await r.config('RESETSTAT');
      const form = await c.get(`/_gateway/login?next=%2F`);
      const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1];
      add(page, await commandStats(r));
      if (!token) throw new Error('no CSRF token on the login page');
      await r.config('RESETSTAT');
      const res = await c.request('/_gateway/login', {
        method: 'POST',
        body: new URLSearchParams({ _csrf: token.replace(/&#x3D;/g, '=').replace(/&#x2F;/g, '/'), username: USERS[i % USERS.length]!, password: DEMO_PASSWORD, next: '/' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      add(post, await commandStats(r));
      if (res.status !== 303) throw new Error(`sign-in answered ${res.status}`);
    }
    row('login page (GET /_gateway/login)', `${f2(total(page) / SIGN_INS)} commands`, describe(page, SIGN_INS));
    row('sign-in (POST, right password, no provisioning)', `${f2(total(post) / SIGN_INS)} commands`, describe(post, SIGN_INS));

    // ------------------------------------------------ authenticated requests
    const alice = new Client(gw.url);
    if ((await alice.login('alice', DEMO_PASSWORD)).status !== 303) throw new Error('alice could not sign in');
    const sid = sessionIdOf(alice);
    const traffic = async (label: string, requests: number, stepMs: number) => {
      await r.config('RESETSTAT');
      for (let i = 0; i < requests; i++) {
        clock.advance(stepMs);
        const res = await alice.get('/organizations/acme/issues/', { accept: 'application/json' });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${label}: answered ${res.status}`);
      }
      const s = await commandStats(r);
      row(label, `${f2(total(s) / requests)} commands/request`, describe(s, requests));
      return total(s) / requests;
    };
    const burst = await traffic('1,000 requests of one session within one second (clock not moved)', 1000, 0);
    const perSecond = await traffic('one request a second for 10 minutes (clock moved 1 s each)', 600, 1000);
    const sparse = await traffic('one request every 5 s for 10 minutes (each past the 2 s cache)', 120, 5000);
    const perMinute = await traffic('one request a minute for 60 minutes (each crosses the idle write)', 60, 60_000);

    // ------------------------------------------------ memory per session
    const record = (await storeOps.get(gw.deps.store, sid)) as StoredSession;
    const recordBytes = await r.strlen(SESSION_PREFIX + sid);
    const keyBytes = Number(await r.call('MEMORY', 'USAGE', SESSION_PREFIX + sid));
    const before = await usedMemory(r);
    for (let i = 0; i < MEMORY_SESSIONS; i++) {
      const id = `cap${i.toString().padStart(6, '0')}${sid.slice(9)}`;
      await storeOps.set(gw.deps.store, id, record);
      await gw.deps.sessions.add(`${USERS[i % USERS.length]}${i}`, id);
    }
    const perSession = ((await usedMemory(r)) - before) / MEMORY_SESSIONS;
    const beforeReal = await usedMemory(r);
    for (let i = 0; i < MEMORY_SIGN_INS; i++) {
      const c = new Client(gw.url);
      if ((await c.login(USERS[i % USERS.length]!, DEMO_PASSWORD)).status !== 303) throw new Error('sign-in failed');
    }
    const perSignIn = ((await usedMemory(r)) - beforeReal) / MEMORY_SIGN_INS;
    const who = record.passport?.user;
    row(`session record (alice: ${who?.groups.length ?? 0} groups, ${who?.teams.length ?? 0} teams)`, `${int(recordBytes)} bytes of JSON, ${int(keyBytes)} bytes by MEMORY USAGE`, '');
    row(`Redis memory per session, ${int(MEMORY_SESSIONS)} records stored as a sign-in stores them (+ index)`, `${int(perSession)} bytes`, 'INFO memory used_memory, after − before');
    row(`Redis memory per real sign-in, ${MEMORY_SIGN_INS} sign-ins`, `${int(perSignIn)} bytes`, 'includes the audit entry (newest 10,000 kept)');

    // ------------------------------------------------ the Redis ceiling on this machine
    let bench = 'redis-benchmark not installed';
    const ceilings: string[] = [];
    try {
      for (const [label, extra] of [
        ['50 clients, no pipelining', []],
        ['50 clients, pipelines of 16', ['-P', '16']],
      ] as const) {
        const cpu0 = await redisCpu(r);
        const { stdout } = await run('redis-benchmark', ['-p', String(redisServer.port), '-q', '-t', 'get,set', '-n', '200000', '-c', '50', ...extra], { timeout: 120_000 });
        const cpu1 = await redisCpu(r);
        const ops = [...stdout.matchAll(/(GET|SET): ([\d.]+) requests per second/g)].map((m) => `${m[1]} ${int(Number(m[2]))}/s`);
        // CPU time the server spent per command: unlike the rate, it hardly depends on what else the machine runs.
        const usPerCommand = ((cpu1.seconds - cpu0.seconds) * 1e6) / (cpu1.commands - cpu0.commands);
        ceilings.push(`${label}: ${ops.join(', ')}; ${f1(usPerCommand)} µs of Redis CPU per command (≈ ${int(1e6 / usPerCommand)} commands/s per core)`);
      }
      bench = ceilings.join('; ');
    } catch (e) {
      bench = `redis-benchmark failed: ${(e as Error).message.split('\n')[0]}`;
    }
    row('redis-benchmark -t get,set -n 200000 on this Redis (one core, shared machine)', bench, '');

    const { stdout: version } = await run('redis-server', ['--version']);
    const header = `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${hostname()}, ${cpus().length} × ${cpus()[0]?.model.trim()}, ${f1(totalmem() / 1024 ** 3)} GiB, Linux ${release()}, Node ${process.version}, ${version.trim().split(' ').slice(0, 3).join(' ')}`;
    const md = [
      '# Capacity figures',
      '',
      `\`npm run bench:capacity\` on ${header}.`,
      'Counts of Redis commands (INFO commandstats, reset around each step) through one real gateway with a real session,',
      'a real Samba DC and a redis-server of its own; they do not depend on how busy the machine is. The redis-benchmark',
      'line does: it was taken on a 2-core machine shared with other work.',
      '',
      '| what | figure | commands |',
      '| --- | --- | --- |',
      ...rows.map((c) => `| ${c.join(' | ')} |`),
      '',
      `Per authenticated request: ${f2(burst)} (a burst), ${f2(perSecond)} (1/s), ${f2(sparse)} (every 5 s), ${f2(perMinute)} (every minute).`,
      '',
    ].join('\n');
    writeFileSync(new URL('./CAPACITY.md', import.meta.url), md);
    process.stdout.write(md);
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`capacity: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
