// Entry for `serve`: config → composition root → Express app for /_gateway → raw proxy server → listen → graceful shutdown.
import { unprotectedPolicyWarnings } from './auth/explainLockout.js';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { createGatewayApp } from './app.js';
import type { Config } from './config/schema.js';
import { buildDeps, type BuildOptions, type Deps } from './compositionRoot.js';
import { sendError } from './http/errorResponse.js';
import { createProxy } from './proxy/createProxy.js';
import type { Logger } from './shared/logger.js';
import { splitListen } from './shared/splitListen.js';
import { createPeerTrust } from './shared/clientAddress.js';
import { applySync, planSync } from './provisioning/fullSync.js';
import { startPeriodicSync } from './provisioning/syncScheduler.js';
import { bearerCheck, startMetricsServer } from './http/routes/metricsRoute.js';

export interface RunningGateway {
  server: Server;
  deps: Deps;
  /** The address actually bound (port 0 in tests becomes a real port). */
  url: string;
  /** The separate metrics listener's address, when server.metricsListen is set. */
  metricsUrl?: string;
  close(): Promise<void>;
}

export async function startGateway(config: Config, logger: Logger, opts: BuildOptions = {}): Promise<RunningGateway> {
  const deps = await buildDeps(config, logger, opts);
  const app = createGatewayApp(deps);
  // Handshakes in progress: their socket stays open after the 101, so it is tracked under its session.
  const handshakes = new WeakSet<IncomingMessage>();
  const proxy = createProxy({
    config,
    logger,
    gatewayApp: app,
    renderError: (req, res, err) => sendError(req, res, err),
    clientAddress: deps.addressOf,
    isTrustedPeer: createPeerTrust(config.server.trustProxy),
    lookupSession: async (req) => {
      const found = await deps.resolver.lookup(req);
      if (found.status === 'ok' && handshakes.has(req)) deps.sockets.track(found.sessionId, req.socket);
      return found;
    },
    assertionFor: (identity, sid, signIn) => deps.signer.assertionFor(identity, sid, signIn),
    onProxied: (routeClass, status, ms) => deps.metrics.proxied(routeClass, status, ms),
  });
  // No bound on a whole request (a 100 MiB upload on a slow link is fine); a body that goes silent is
  // cut off after server.bodyTimeout by the proxy (proxy/bodyTimeout.ts), slow headers after 30 s.
  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000, maxHeaderSize: 32 * 1024 }, proxy.onRequest);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handshakes.add(req);
    proxy.onUpgrade(req, socket, head);
  });
  // Idle browser connections are cheap, but an open socket must not block shutdown forever.
  server.keepAliveTimeout = 65_000;
  const { host, port } = splitListen(config.server.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const stopBackground: (() => void)[] = [];
  // Lockout thresholds of 1 or 2 are beyond the gateway: said once at start (check-config --connect, explain and readyz say it too).
  void deps.directory.allLockoutPolicies().then(
    (all) => {
      for (const w of unprotectedPolicyWarnings(all, { perUser: config.throttle.perUser })) logger.warn(w);
    },
    (err: unknown) => logger.warn({ err: (err as Error).message }, 'could not read the lockout policies at start'),
  );
  // Sessions an earlier version indexed by username move under their objectGUID (listing and revoking do it too).
  void deps.sessions.migrateLegacy(deps.store).then(
    (moved) => moved && logger.info({ moved }, 'sessions indexed by username moved under their objectGUID'),
    (err: unknown) => logger.warn({ err: (err as Error).message }, 'could not move sessions indexed by username; listing and revoking retry'),
  );
  const { provisioner, sync } = deps;
  if (provisioner && sync) {
    provisioner.startDraining();
    if (config.sentry.sync.interval > 0) {
      stopBackground.push(
        startPeriodicSync({
          intervalMs: config.sentry.sync.interval,
          redis: deps.redis,
          logger,
          run: async () => {
            const plan = await planSync(sync);
            if (plan.refused) return void logger.error({ reason: plan.refused }, 'periodic sync refused');
            const r = await applySync(plan, sync, { actor: 'periodic sync' });
            for (const x of r.offboardRefused ?? []) logger.error({ user: x.user, code: x.code, detail: x.detail }, 'Sentry refused an offboarding: nothing was taken away; retried at every sync');
            logger.info({ ...plan.counts, applied: r.applied, failed: r.failed.length, offboardRefused: r.offboardRefused?.length ?? 0 }, 'periodic sync done');
          },
        }),
      );
    }
  }
  // Apart from the public port, so a scraper can reach it where users cannot (the app then 404s /_gateway/metrics).
  const metricsServer = config.server.metricsListen ? await startMetricsServer(config.server.metricsListen, deps.metrics, config.server.metricsTokenFile ? bearerCheck(config.server.metricsTokenFile) : undefined) : undefined;
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  logger.info({ listen: url, publicUrl: config.server.publicUrl, upstream: config.upstream.url }, 'gateway listening');
  let closing: Promise<void> | undefined;
  return {
    server,
    deps,
    url,
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    close() {
      closing ??= (async () => {
        for (const stop of stopBackground) stop();
        metricsServer?.server.close();
        proxy.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), 10_000).unref();
        });
        await deps.close();
      })();
      return closing;
    },
  };
}
