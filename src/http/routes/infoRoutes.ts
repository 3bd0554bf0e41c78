// Small JSON endpoints: who am I, liveness, readiness, and the public keys for the assertion.
import type { NextFunction, Request, Response } from 'express';
import type { Deps } from '../../deps.js';
import type { DcStatus } from '../../directory/directory.js';
import { GatewayError } from '../../errors.js';

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

export function readyz(deps: Deps) {
  let directory: { at: number; dcs: DcStatus[] } | undefined;
  let pending: Promise<DcStatus[]> | undefined;
  const directoryHealth = async (): Promise<DcStatus[]> => {
    if (directory && Date.now() - directory.at < DIRECTORY_CHECK_MS) return directory.dcs;
    pending ??= deps.directory
      .health()
      .catch((e: Error): DcStatus[] => [{ url: '*', ok: false, error: e.message }])
      .finally(() => (pending = undefined));
    const dcs = await pending;
    directory = { at: Date.now(), dcs };
    return dcs;
  };
  return async (_req: Request, res: Response): Promise<void> => {
    const redisCheck = deps.redis
      ? timed(async () => {
          const pong = await Promise.race([deps.redis!.ping(), new Promise<never>((_r, rej) => setTimeout(() => rej(new Error('timeout')), 2000))]);
          if (pong !== 'PONG') throw new Error(`unexpected reply ${String(pong)}`);
        })
      : Promise.resolve({ ok: true, latencyMs: 0, error: undefined });
    const [redis, dcs] = await Promise.all([redisCheck, directoryHealth()]);
    const directoryOk = dcs.some((d) => d.ok);
    const ready = redis.ok && directoryOk;
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'unavailable',
      checks: {
        redis: { ok: redis.ok, latencyMs: redis.latencyMs, ...(redis.error ? { error: redis.error } : {}), ...(deps.redis ? {} : { mode: 'memory' }) },
        directory: { ok: directoryOk, controllers: dcs },
      },
    });
  };
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
