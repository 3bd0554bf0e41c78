// `serve`: run the gateway until SIGTERM/SIGINT; SIGHUP re-reads secret files; several workers share the port.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { startGateway } from '../main.js';
import { serveClusterMetrics } from '../shared/clusterMetrics.js';
import { createLogger } from '../shared/logger.js';
import { keepFreedBuffersMapped } from '../shared/mallocTuning.js';
import { checkRedisDurability } from '../mfa/redisDurability.js';
import { loadOrExit, type CommonFlags } from './common.js';

export async function serveCommand(flags: CommonFlags): Promise<number> {
  const { config, warnings } = loadOrExit(flags);
  const logger = createLogger(config.log.level);
  const workers = config.server.workers === 0 ? availableParallelism() : config.server.workers;
  if (cluster.isPrimary) {
    // Second factors are credentials: a Redis that may lose them is refused before anything listens.
    const durability = await checkRedisDurability(config);
    const problems = Array.isArray(durability) ? durability.map((p) => p.message) : [durability.unreachable];
    if (problems.length) {
      for (const p of problems) logger.fatal(`refusing to start: ${p}`);
      process.stderr.write(problems.map((p) => `refusing to start: ${p}\n`).join(''));
      return 1;
    }
  }
  if (workers > 1 && cluster.isPrimary) {
    for (const w of warnings) logger.warn(w);
    logger.info({ workers }, 'starting workers');
    // A metrics scrape reaches one worker; that worker asks here for the sum over all of them.
    serveClusterMetrics();
    for (let i = 0; i < workers; i++) cluster.fork();
    cluster.on('exit', (worker, code, signal) => {
      if (!stopping) {
        logger.error({ pid: worker.process.pid, code, signal }, 'worker died: starting another');
        cluster.fork();
      }
    });
    let stopping = false;
    const stop = () => {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
    });
    return new Promise(() => undefined);
  }
  if (cluster.isPrimary) for (const w of warnings) logger.warn(w);
  keepFreedBuffersMapped();
  const gw = await startGateway(config, logger);
  if (cluster.isWorker) gw.deps.metrics.shareWithCluster();
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down: finishing open requests');
    gw.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: re-reading secret files');
    gw.deps.reloadSecrets();
  });
  return new Promise(() => undefined);
}
