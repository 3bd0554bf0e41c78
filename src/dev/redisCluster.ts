// Starts a throwaway Redis Cluster from redis-server on free loopback ports (tests and measurements): three masters,
// each with a replica, and a short cluster-node-timeout so a killed master fails over within seconds. Nothing persists.
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, START_TIMEOUT_MS, startServerProcess } from './serverProcess.js';
import { answeredBy } from './redisServer.js';

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  /** Killed with SIGKILL (a crash, not a shutdown); `start()` brings it back with its cluster config, as a replica. */
  stop(): Promise<void>;
  start(): Promise<void>;
  readonly running: boolean;
}

export interface RedisCluster {
  /** `redis+cluster://` with every node as a seed. */
  url: string;
  nodes: ClusterNode[];
  /** The node serving `key`'s hash slot as master right now (as the running nodes see it). */
  masterOf(key: string): Promise<ClusterNode>;
  /** The nodes currently serving as masters. */
  masters(): Promise<ClusterNode[]>;

  /** Resolves once every running node says cluster_state:ok, every slot has a running master and every running replica is in sync. */
  healthy(timeoutMs?: number): Promise<void>;
  /** Runs one command on a fresh connection to `port` (so a killed node never wedges the caller's client). */
  on<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface ClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a silent node takes to count as failed. */
  nodeTimeoutMs?: number;
}

async function on<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, commandTimeout: 2000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Polls `probe` every 100 ms until it returns a value (errors count as "not yet"), for at most `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(100);
  }
}

type SlotRow = [number, number, [string, number, ...unknown[]], ...[string, number, ...unknown[]][]];

export async function startRedisCluster(o: ClusterOptions = {}): Promise<RedisCluster> {
  const masters = o.masters ?? 3;
  const perMaster = o.replicasPerMaster ?? 1;
  const nodeTimeout = o.nodeTimeoutMs ?? 1000;
  const dir = mkdtempSync(join(tmpdir(), 'sag-redis-cluster-'));
  const nodes: (ClusterNode & { proc?: ChildProcess })[] = [];
  for (let i = 0; i < masters * (1 + perMaster); i++) {
    // The bus port is set explicitly (port + 10000 may be taken or past 65535), and picked again with the port when
    // another process took either first.
    let args: string[] | undefined;
    const argsFor = async (port: number) => [
      '--port', String(port), '--cluster-port', String(await freePort()), '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', String(nodeTimeout),
      // A replica may always stand in for its master, however long it was cut off (the test kills masters on purpose).
      '--cluster-replica-validity-factor', '0',
      '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', `dump-${port}.rdb`,
    ];
    const node: ClusterNode & { proc?: ChildProcess } = {
      port: 0,
      get running() {
        return !!node.proc && node.proc.exitCode === null && node.proc.signalCode === null;
      },
      async start() {
        // A restart keeps the node's port and bus port: the cluster knows it by them.
        const started = await startServerProcess({
          what: 'redis-server',
          command: 'redis-server',
          ...(args ? { port: node.port } : {}),
          args: (port) => args ?? argsFor(port),
          ready: (port, pid) => on(port, (r) => answeredBy(r, pid)),
          installHint: 'apt-get install redis-server',
        });
        node.proc = started.proc;
        node.port = started.port;
        args = started.args;
      },
      async stop() {
        const p = node.proc;
        if (!p || !node.running) return;
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await exited;
      },
    };
    nodes.push(node);
  }
  const killAll = () => {
    for (const n of nodes) n.proc?.kill('SIGKILL');
  };
  process.once('exit', killAll);
  try {
    await Promise.all(nodes.map((n) => n.start()));
    // redis-cli places each replica on a different master than the node it follows in the list, and waits for the join.
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(perMaster), '--cluster-yes'], { timeout: START_TIMEOUT_MS }).catch(
      (e: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`redis-cli --cluster create failed: ${e.message}\n${`${e.stdout ?? ''}${e.stderr ?? ''}`.trim().slice(-2_000)}`);
      },
    );
  } catch (e) {
    killAll();
    process.off('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const byPort = (port: number) => {
    const n = nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no cluster node on port ${port}`);
    return n;
  };
  const anyRunning = () => {
    const n = nodes.find((x) => x.running);
    if (!n) throw new Error('no cluster node is running');
    return n;
  };
  const slots = () => on(anyRunning().port, (r) => r.call('CLUSTER', 'SLOTS') as Promise<SlotRow[]>);

  const cluster: RedisCluster = {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    on,
    async masterOf(key) {
      const slot = Number(await on(anyRunning().port, (r) => r.call('CLUSTER', 'KEYSLOT', key)));
      const row = (await slots()).find(([from, to]) => slot >= from && slot <= to);
      if (!row) throw new Error(`slot ${slot} has no master`);
      return byPort(Number(row[2][1]));
    },
    async masters() {
      return [...new Set((await slots()).map((row) => Number(row[2][1])))].map(byPort);
    },
    async healthy(timeoutMs = 20_000) {
      await waitFor(
        'the cluster to be healthy',
        async () => {
          for (const n of nodes.filter((x) => x.running)) {
            const [info, repl] = await on(n.port, async (r) => [await r.call('CLUSTER', 'INFO'), await r.info('replication')] as const);
            if (!String(info).includes('cluster_state:ok')) return undefined;
            if (repl.includes('role:slave') && !repl.includes('master_link_status:up')) return undefined;
          }
          // Every slot range is served by a master that is actually running.
          const rows = await slots();
          const covered = rows.reduce((sum, [from, to]) => sum + (to - from + 1), 0);
          if (covered !== 16384) return undefined;
          return rows.every((row) => byPort(Number(row[2][1])).running) ? true : undefined;
        },
        timeoutMs,
      );
    },
    async close() {
      process.off('exit', killAll);
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Setup on a busy machine: as patient as the start of each node.
  await cluster.healthy(START_TIMEOUT_MS).catch(async (e: unknown) => {
    await cluster.close();
    throw e;
  });
  return cluster;
}
