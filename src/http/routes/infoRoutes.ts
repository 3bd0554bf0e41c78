// Small JSON endpoints: who am I, liveness, readiness, and the public keys for the assertion.
import { unprotectedPolicyWarnings } from '../../auth/explainLockout.js';
import type { NextFunction, Request, Response } from 'express';
import type { Deps } from '../../compositionRoot.js';
import type { DcStatus } from '../../directory/directory.js';
import { GatewayError } from '../../errors.js';
import { urlPrefixAdvice } from '../i18n.js';

export function me(deps: Deps) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const found = await deps.resolver.lookup(req);
    if (found.status === 'unavailable') return next(new GatewayError(found.what === 'store' ? 'GW_SESSION_STORE_UNAVAILABLE' : 'GW_DIRECTORY_UNAVAILABLE'));
    res.setHeader('Cache-Control', 'no-store');
    if (found.status !== 'ok') {
      res.status(401).json({ error: 'authentication_required', login: '/_gateway/login' });
      return;
    }
    const { identity, record } = found;
    const started = record.authenticatedAt ?? deps.clock.now();
    const idleEnds = (record.lastSeenAt ?? started) + deps.config.session.idleTimeout;
    const absoluteEnds = started + deps.config.session.absoluteTimeout;
    res.json({
      username: identity.username,
      email: identity.email,
      name: identity.name,
      groups: identity.groups.map((g) => g.name),
      orgRole: identity.orgRole,
      teams: identity.teams,
      admin: identity.isAdmin,
      signedInAt: new Date(started).toISOString(),
      expiresAt: new Date(Math.min(idleEnds, absoluteEnds)).toISOString(),
    });
  };
}

export function healthz(_req: Request, res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.json({ status: 'ok' });
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ok: boolean; latencyMs: number; error?: string; value?: T }> {
  const t0 = performance.now();
  try {
    const value = await fn();
    return { ok: true, latencyMs: Math.round(performance.now() - t0), value };
  } catch (e) {
    return { ok: false, latencyMs: Math.round(performance.now() - t0), error: (e as Error).message.slice(0, 200) };
  }
}

/**
 * Readiness is asked by anyone who can reach the port: Redis (a cheap PING) is checked on every call,
 * the directory (a TLS connection and a bind per DC) at most every few seconds, so it cannot be used to hammer AD.
 */
const DIRECTORY_CHECK_MS = 5000;

/** Caches a slow check for DIRECTORY_CHECK_MS and shares one in-flight run between concurrent callers. */
function cachedCheck<T>(run: () => Promise<T>, onError: (e: Error) => T): () => Promise<T> {
  let last: { at: number; value: T } | undefined;
  let pending: Promise<T> | undefined;
  return async () => {
    if (last && Date.now() - last.at < DIRECTORY_CHECK_MS) return last.value;
    pending ??= run()
      .catch(onError)
      .finally(() => (pending = undefined));
    const value = await pending;
    last = { at: Date.now(), value };
    return value;
  };
}

/**
 * 503 when the gateway cannot sign anyone in or serve a session: Redis down, or no DC accepts the
 * service account. Sentry's API and the retry queue are reported but do not fail readiness: sign-in
 * still works without them (provisioning queues), and a load balancer pulling every replica because
 * Sentry is slow would turn a partial outage into a full one ("degraded" says so instead).
 */
export function readyz(deps: Deps) {
  const directoryHealth = cachedCheck(
    () => deps.directory.health(),
    (e): DcStatus[] => [{ url: '*', ok: false, error: e.message }],
  );
  const sentryHealth = cachedCheck(
    async () => {
      const t0 = performance.now();
      await deps.sentry!.ping();
      return { ok: true, latencyMs: Math.round(performance.now() - t0) } as { ok: boolean; latencyMs?: number; error?: string };
    },
    (e) => ({ ok: false, error: e.message.slice(0, 200) }),
  );
  // Lockout policies whose threshold (1 or 2) the gateway cannot keep below: said to admins, never a readiness failure.
  const lockoutWarnings = cachedCheck(
    async () => unprotectedPolicyWarnings(await deps.directory.allLockoutPolicies(), { perUser: deps.config.throttle.perUser }),
    (): string[] => [],
  );
  return async (req: Request, res: Response): Promise<void> => {
    const redisCheck = deps.redis
      ? timed(async () => {
          const pong = await Promise.race([deps.redis!.ping(), new Promise<never>((_r, rej) => setTimeout(() => rej(new Error('timeout')), 2000))]);
          if (pong !== 'PONG') throw new Error(`unexpected reply ${String(pong)}`);
        })
      : Promise.resolve({ ok: true, latencyMs: 0, error: undefined });
    const queueCheck = timed(() => Promise.race([deps.queue.depth(), new Promise<never>((_r, rej) => setTimeout(() => rej(new Error('timeout')), 2000))]));
    const [redis, dcs, sentry, queue] = await Promise.all([redisCheck, directoryHealth(), deps.sentry ? sentryHealth() : Promise.resolve(undefined), queueCheck]);
    const directoryOk = dcs.some((d) => d.ok);
    // The credential is bad when a DC answered and refused it; unreachable DCs say nothing about it.
    const refused = dcs.some((d) => d.credentialRefused);
    const bindCredential = directoryOk ? { ok: true } : refused ? { ok: false, error: 'the directory refuses the service account password (ldap.bindPasswordFile)' } : { ok: false, error: 'unknown: no domain controller reachable' };
    const ready = redis.ok && directoryOk;
    const degraded = ready && ((sentry && !sentry.ok) || !queue.ok);
    const checks: Record<string, { ok: boolean; [detail: string]: unknown }> = {
      redis: { ok: redis.ok, latencyMs: redis.latencyMs, ...(redis.error ? { error: redis.error } : {}), ...(deps.redis ? {} : { mode: 'memory' }) },
      directory: { ok: directoryOk, controllers: dcs },
      bindCredential,
      ...(sentry ? { sentry } : {}),
      retryQueue: queue.ok ? { ok: true, depth: queue.value } : { ok: false, error: queue.error },
    };
    res.setHeader('Cache-Control', 'no-store');
    const status = !ready ? 'unavailable' : degraded ? 'degraded' : 'ready';
    // Anyone who reaches the port may ask: DC addresses, latencies, error text and warnings are for admins only.
    if (!(await isAdmin(deps, req))) {
      res.status(ready ? 200 : 503).json({ status, checks: Object.fromEntries(Object.entries(checks).map(([name, c]) => [name, { ok: c.ok }])) });
      return;
    }
    const urlPrefix = await deps.urlPrefix();
    const lockout = (directoryOk ? await lockoutWarnings() : []).map((message) => ({ code: 'lockout_unprotected' as const, message }));
    res.status(ready ? 200 : 503).json({ status, checks, warnings: [...(urlPrefix ? [{ code: 'sentry_url_prefix' as const, message: urlPrefixAdvice(urlPrefix) }] : []), ...lockout] });
  };
}

/** A signed-in admin session; anything else (no cookie, an expired session, a store that cannot be read) is anonymous. */
async function isAdmin(deps: Deps, req: Request): Promise<boolean> {
  if (!req.headers.cookie) return false;
  const found = await deps.resolver.lookup(req).catch(() => undefined);
  return found?.status === 'ok' && found.identity.isAdmin;
}

export function jwks(deps: Deps) {
  let refreshedAt = 0;
  return (_req: Request, res: Response): void => {
    // Another replica may have added a key to the shared directory; look at most every few seconds.
    if (Date.now() - refreshedAt > 5000) {
      deps.keyring.refresh();
      refreshedAt = Date.now();
    }
    res.setHeader('Cache-Control', 'public, max-age=60');
    res.json(deps.keyring.jwks());
  };
}
