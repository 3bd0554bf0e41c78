// Starts a throwaway redis-server on a free loopback port (tests and the demo); nothing is persisted.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export interface RedisServer {
  url: string;
  port: number;
  process: ChildProcess;
  /** Stop the server (simulating an outage); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `args` replace the default settings (no persistence: `--save "" --appendonly no`), e.g. to start one with AOF on,
 * another eviction policy, or CONFIG renamed away.
 */
export async function startRedisServer(opts: { args?: string[] } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sag-redis-'));
  let proc!: ChildProcess;
  const url = `redis://127.0.0.1:${port}/0`;
  const start = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...(opts.args ?? ['--save', '', '--appendonly', 'no']), '--dir', dir], { stdio: 'ignore' });
    proc.on('error', (e) => {
      throw new Error(`cannot start redis-server (is it installed? apt-get install redis-server): ${e.message}`);
    });
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      // A refused connection while the server boots is expected: without a listener ioredis prints it.
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        await sleep(50);
      }
    }
    throw new Error('redis-server did not start');
  };
  await start();
  const server: RedisServer = {
    url,
    port,
    get process() {
      return proc;
    },
    async stop() {
      if (proc.exitCode !== null) return;
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
