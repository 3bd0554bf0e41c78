// Starts a throwaway redis-server on a free loopback port (tests and the demo); nothing is persisted.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startServerProcess } from './serverProcess.js';

export interface RedisServer {
  url: string;
  port: number;
  process: ChildProcess;
  /** Stop the server (simulating an outage); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export { freePort };

/**
 * `args` replace the default settings (no persistence: `--save "" --appendonly no`), e.g. to start one with AOF on,
 * another eviction policy, or CONFIG renamed away.
 */
export async function startRedisServer(opts: { args?: string[]; pickPort?: () => Promise<number>; timeoutMs?: number } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sag-redis-'));
  let proc!: ChildProcess;
  let port: number | undefined;
  const start = async (): Promise<void> => {
    const started = await startServerProcess({
      what: 'redis-server',
      command: 'redis-server',
      // Once it has run, a restart (the tests' outage) comes back on the same port: clients hold that address.
      ...(port === undefined ? {} : { port }),
      ...(opts.pickPort ? { pickPort: opts.pickPort } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      args: (p) => ['--port', String(p), '--bind', '127.0.0.1', ...(opts.args ?? ['--save', '', '--appendonly', 'no']), '--dir', dir],
      ready: (p, pid) => ping(p, pid),
      installHint: 'is it installed? apt-get install redis-server',
    });
    proc = started.proc;
    port = started.port;
  };
  try {
    await start();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const url = `redis://127.0.0.1:${port}/0`;
  const server: RedisServer = {
    url,
    port: port!,
    get process() {
      return proc;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
    start,
  };
  process.once('exit', () => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return server;
}

/** One PING on a fresh connection that never retries: rejects while the server is not up yet. */
/**
 * Throws unless the Redis answering is the process `pid` (INFO's process_id): a redis-server or sentinel that already
 * held the port answers PING as well, and would be taken for the one just started while ours fails to bind.
 */
export async function answeredBy(r: Redis, pid: number): Promise<void> {
  const info = await r.info('server');
  const found = /^process_id:(\d+)/m.exec(info)?.[1];
  if (Number(found) !== pid) throw new Error(`another process (pid ${found ?? 'unknown'}) answers on this port`);
}

async function ping(port: number, pid: number): Promise<void> {
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000, commandTimeout: 2_000 });
  // A refused connection while the server boots is expected: without a listener ioredis prints it.
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await answeredBy(probe, pid);
  } finally {
    probe.disconnect();
  }
}
