// The composition root: the only place that constructs clients (Redis, LDAP, keys, stores) and reads secrets files, each built once from the validated config.
import { randomBytes } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import type { Store } from 'express-session';
import type { Config } from './config/schema.js';
import type { Directory } from './directory/directory.js';
import { LdapDirectory } from './directory/ldapDirectory.js';
import { AssertionSigner } from './keys/assertionSigner.js';
import { Keyring } from './keys/keyring.js';
import type { AccessPolicy } from './mapping/resolveAccess.js';
import { LoginService } from './auth/loginService.js';
import { noSecondFactorsYet, noStoreForSecondFactors, policySecondFactorGate, type SecondFactorGate } from './auth/secondFactorGate.js';
import { buildMfa, type Mfa } from './mfa/buildMfa.js';
import { secondFactorOwed } from './mfa/secondFactorOwed.js';
import { LoginThrottle } from './auth/throttle.js';
import { buildIdentity } from './auth/buildIdentity.js';
import { createRedis, type RedisClient } from './redis/createRedis.js';
import { createSessionStore } from './session/sessionStore.js';
import { listenForEnded } from './session/sessionEvents.js';
import { revokeSessions, SessionIndex } from './session/sessionIndex.js';
import { SessionResolver, type RevalidationResult, type SecondFactorCheck } from './session/sessionResolver.js';
import { SessionSockets } from './session/sessionSockets.js';
import type { Identity } from './session/identity.js';
import { AuditLog } from './audit/auditLog.js';
import { systemClock, type Clock } from './shared/clock.js';
import type { Logger } from './shared/logger.js';
import { SecretFile } from './shared/secretFile.js';
import { NameHasher } from './shared/nameHasher.js';
import { gatewayCookieNames } from './shared/cookies.js';
import { GatewayMetrics } from './shared/metrics.js';
import { readPendingPassword } from './directory/bindPassword.js';
import { hostname } from 'node:os';
import { isGatewayError } from './errors.js';
import { createAddressOf, type AddressOf } from './shared/clientAddress.js';
import { MemoryRuleStore, RedisRuleStore, type RuleStore } from './mapping/ruleStore.js';
import { buildOffboarder } from './provisioning/offboard.js';
import { buildSyncDeps } from './provisioning/buildSyncDeps.js';
import type { SyncDeps } from './provisioning/fullSync.js';
import { Provisioner } from './provisioning/provisioner.js';
import { MemoryRetryQueue, RedisRetryQueue, type RetryQueue } from './provisioning/retryQueue.js';
import { afterSignIn } from './provisioning/afterSignIn.js';
import { HttpSentryAdmin } from './sentry/httpSentryAdmin.js';
import type { SentryAdmin } from './sentry/sentryAdmin.js';
import { urlPrefixMonitor, type UrlPrefixMonitor } from './sentry/urlPrefixMonitor.js';
import { buildGssapiAcceptor, type GssapiAcceptor } from './auth/kerberos/gssapiAcceptor.js';
import { describeKeytabPlace } from './auth/kerberos/keytabPlace.js';
import { memoryReplayCache, redisReplayCache, type NegotiateDeps } from './auth/kerberos/negotiate.js';

export interface Deps {
  config: Config;
  logger: Logger;
  clock: Clock;
  redis: RedisClient | null;
  store: Store;
  /** Session signing secrets, first signs, all verify; mutated in place on rotation so express-session sees it. */
  sessionSecrets: string[];
  keyring: Keyring;
  signer: AssertionSigner;
  directory: Directory;
  login: LoginService;
  resolver: SessionResolver;
  /** Which sessions each person holds (listing and revoking them). */
  sessions: SessionIndex;
  /** Open WebSockets by session, closed when their session ends. */
  sockets: SessionSockets;
  audit: AuditLog;
  /** Hashes sign-in names that match no account, for the audit log and the console's filter. */
  names: NameHasher;
  /** The access policy with the current mapping rules (from Redis, cached briefly). */
  policy: () => Promise<AccessPolicy>;
  rules: RuleStore;
  /** Present when sentry.organization and sentry.tokenFile are set. */
  sentry?: SentryAdmin;
  provisioner?: Provisioner;
  /** What a full sync needs (periodic and console syncs); present with a Sentry client. */
  sync?: SyncDeps;
  /** Whether Sentry's system.url-prefix matches server.publicUrl, as a warning for admins (console, readiness). */
  urlPrefix: UrlPrefixMonitor;
  queue: RetryQueue;
  addressOf: AddressOf;
  /** Whether a second factor must follow the password (auth/secondFactorGate.ts): the policy over the person's factors in Redis. */
  secondFactorGate?: SecondFactorGate;
  /** The second-factor parts (policy, factors, TOTP, WebAuthn, links, throttle); absent without Redis. */
  mfa?: Mfa;
  /** This instance's Prometheus registry and the counters the hooks feed. */
  metrics: GatewayMetrics;
  /** The Kerberos sign-in (auth/kerberos/negotiate.ts): present only with auth.kerberos.enabled and a binding and keytab that loaded. */
  kerberos?: NegotiateDeps;
  /** Re-read every secret file now (SIGHUP); settles when the keytab's step has (the other files are read at once). */
  reloadSecrets(): Promise<void>;
  close(): Promise<void>;
}

export interface BuildOptions {
  clock?: Clock;
  /** Replace the directory (tests of other parts); production always uses LDAP. */
  directory?: Directory;
  /** Replace the Sentry admin client (tests). */
  sentry?: SentryAdmin;
}

/** The clients every command shares (Redis, AD, rules, Sentry, the retry queue), built the same way for `serve` and the CLI. */
export interface Backends {
  redis: RedisClient | null;
  directory: Directory;
  audit: AuditLog;
  rules: RuleStore;
  policy: () => Promise<AccessPolicy>;
  sentry?: SentryAdmin;
  queue: RetryQueue;
  provisioner?: Provisioner;
  secretFiles: SecretFile[];
  /** The Sentry API token the admin client sends (sentry.tokenFile as last read); absent without a token file. */
  sentryToken?: () => string;
  metrics: GatewayMetrics;
  /** Resolves once Redis is connected (commands fail fast rather than queue before that); rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** assertion.keysDir, a relative one read from the working directory. */
export function keysDirOf(config: Config): string {
  return isAbsolute(config.assertion.keysDir) ? config.assertion.keysDir : resolve(config.assertion.keysDir);
}

/** The signing keys in assertion.keysDir; nothing is read until `load()` (which makes the first key) or `refresh()` (read only). */
export function buildKeyring(config: Config, clock: Clock = systemClock): Keyring {
  return new Keyring(keysDirOf(config), config.assertion.algorithm, clock);
}

export function buildBackends(config: Config, logger: Logger, opts: BuildOptions = {}): Backends {
  const clock = opts.clock ?? systemClock;
  const closers: (() => Promise<void> | void)[] = [];
  const secretFiles: SecretFile[] = [];

  let redis: RedisClient | null = null;
  if (config.session.redisUrl) {
    redis = createRedis(config.session.redisUrl);
    redis.on('error', (e: Error) => logger.warn({ err: e.message }, 'redis connection error'));
    closers.push(() => void redis?.disconnect());
  } else {
    logger.warn('!!! session.redisUrl is empty: sessions, throttling and audit live in this process only. Development use only; never run more than one instance like this. !!!');
  }

  const metrics = new GatewayMetrics();
  const audit = new AuditLog(logger, redis);
  // A hand rotation has no CLI to record it: each replica records what it took up, and when.
  const tookUp = (file: SecretFile, kind: 'bind_password' | 'session_secret' | 'sentry_token') =>
    file.onChange(() => {
      metrics.rotation(kind, 'reloaded');
      audit.record({ kind: 'secret.reloaded', actor: `replica:${hostname()}:${process.pid}`, detail: { secret: kind, file: file.path } });
    });

  const bindPassword = new SecretFile(config.ldap.bindPasswordFile);
  secretFiles.push(bindPassword);
  closers.push(() => bindPassword.close());
  tookUp(bindPassword, 'bind_password');
  const directory =
    opts.directory ??
    new LdapDirectory({
      ldap: config.ldap,
      readBindPassword: async () => {
        bindPassword.reload();
        return bindPassword.get();
      },
      readPendingBindPassword: async () => readPendingPassword(config.ldap.bindPasswordFile),
      onLdapOp: (dc, op, ms, ok) => metrics.ldapOp(dc, op, ms, ok),
      logger,
    });
  closers.push(() => directory.close());

  const rules: RuleStore = redis
    ? new RedisRuleStore(redis, { defaultOrgRole: config.mapping.defaultOrgRole, rules: config.mapping.rules }, clock)
    : new MemoryRuleStore({ defaultOrgRole: config.mapping.defaultOrgRole, rules: config.mapping.rules }, clock);
  const policy = async (): Promise<AccessPolicy> => {
    const set = await rules.current();
    return { ...config.access, defaultOrgRole: set.defaultOrgRole, rules: set.rules };
  };

  let sentry = opts.sentry;
  let sentryToken: (() => string) | undefined;
  if (!sentry && config.sentry.organization && config.sentry.tokenFile) {
    const tokenFile = new SecretFile(config.sentry.tokenFile);
    secretFiles.push(tokenFile);
    tookUp(tokenFile, 'sentry_token');
    closers.push(() => tokenFile.close());
    sentryToken = () => tokenFile.get();
    sentry = new HttpSentryAdmin({ baseUrl: config.sentry.url ?? config.upstream.url, organization: config.sentry.organization, token: sentryToken, logger });
  }
  const queue: RetryQueue = redis ? new RedisRetryQueue(redis) : new MemoryRetryQueue();
  const provisioner = sentry
    ? new Provisioner({ admin: sentry, rules, access: config.access, queue, redis, audit, logger, clock, loginTimeoutMs: config.sentry.loginTimeout, organization: config.sentry.organization, onResult: (r) => metrics.provisioningResult(r) })
    : undefined;
  if (provisioner) closers.push(() => provisioner.stopDraining());
  metrics.setSources({ queueDepth: () => queue.depth() });

  return {
    redis,
    directory,
    audit,
    rules,
    policy,
    sentry,
    queue,
    provisioner,
    secretFiles,
    ...(sentryToken ? { sentryToken } : {}),
    metrics,
    ready: (timeoutMs = 5000) => waitForRedis(redis, timeoutMs, config.session.redisUrl),
    async close() {
      for (const c of closers.reverse()) await c();
    },
  };
}

function waitForRedis(redis: RedisClient | null, timeoutMs: number, url: string): Promise<void> {
  if (!redis || redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      // The URL may hold a password: name only where it points.
      reject(new Error(`Redis is not reachable (${url.replace(/\/\/[^@/]*@/, '//')}) after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/**
 * Keeps this replica's view of the shared keysDir fresh (a key `keys rotate` added elsewhere is
 * published, then signed with, without a restart) and counts both steps. Returns the stop function.
 */
function watchKeyring(keyring: Keyring, metrics: GatewayMetrics, logger: Logger, everyMs = 5000): () => void {
  const published = () => new Set(keyring.jwks().keys.map((k) => k.kid));
  let seen = published();
  let signing = keyring.current().kid;
  metrics.setSources({ keys: () => ({ published: keyring.jwks().keys.length, signingKid: keyring.current().kid }) });
  const timer = setInterval(() => {
    keyring.refresh();
    const now = published();
    for (const kid of now) {
      if (seen.has(kid)) continue;
      metrics.rotation('signing_key', 'published');
      logger.info({ kid }, 'new signing key published');
    }
    seen = now;
    const current = keyring.current().kid;
    if (current !== signing) {
      metrics.rotation('signing_key', 'switched');
      logger.info({ from: signing, to: current }, 'signing switched to a new key');
      signing = current;
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

export async function buildDeps(config: Config, logger: Logger, opts: BuildOptions = {}): Promise<Deps> {
  const clock = opts.clock ?? systemClock;
  const backends = buildBackends(config, logger, opts);
  // Serving starts even without Redis (readiness says 503 and session paths fail closed); it just should not race the connection.
  await backends.ready(3000).catch((e: Error) => logger.error({ err: e.message }, 'starting without Redis'));
  const { redis, directory, audit, rules, policy, sentry, queue, provisioner, secretFiles, sentryToken, metrics } = backends;
  const closers: (() => Promise<void> | void)[] = [() => backends.close()];

  const sessionSecrets: string[] = [];
  if (config.session.secretFile) {
    const file = new SecretFile(config.session.secretFile);
    sessionSecrets.push(...file.lines());
    file.onChange(() => sessionSecrets.splice(0, sessionSecrets.length, ...file.lines()));
    file.onChange(() => {
      metrics.rotation('session_secret', 'reloaded');
      audit.record({ kind: 'secret.reloaded', actor: `replica:${hostname()}:${process.pid}`, detail: { secret: 'session_secret', file: file.path, lines: sessionSecrets.length } });
    });
    secretFiles.push(file);
    closers.push(() => file.close());
  }
  if (sessionSecrets.length === 0) {
    logger.warn('!!! session.secretFile is not set: using a random session secret; every restart signs everyone out. !!!');
    sessionSecrets.push(randomBytes(32).toString('base64url'));
  }

  const keysDir = keysDirOf(config);
  const keyring = buildKeyring(config, clock);
  // On the sign-in path: bounded like provisioning there (sentry.loginTimeout).
  if (provisioner) provisioner.reactivator = buildOffboarder(config, keyring, clock, config.sentry.loginTimeout);
  if (await keyring.load()) logger.warn({ keysDir }, 'no signing key found: generated a new one');
  const signer = new AssertionSigner(keyring, { issuer: config.server.publicUrl, audience: config.assertion.audience, ttlMs: config.assertion.ttl }, clock);
  closers.push(watchKeyring(keyring, metrics, logger));

  const store = createSessionStore(redis, { idleMs: config.session.idleTimeout, absoluteMs: config.session.absoluteTimeout });
  const throttle = new LoginThrottle({ perUser: config.throttle.perUser, perAddress: config.throttle.perAddress, windowMs: config.throttle.window }, redis, clock);
  const names = new NameHasher(() => sessionSecrets);

  const login = new LoginService({
    directory,
    throttle,
    policy,
    audit,
    names,
    clock,
    onResult: (result) => metrics.loginResult(result),
    afterLogin: provisioner && afterSignIn(provisioner, { provision: config.sentry.provisionOnLogin, logger }),
  });

  const revalidate = async (identity: Identity): Promise<RevalidationResult> => {
    try {
      const user = await directory.lookup(identity.username);
      if (!user) return { ok: false, reason: 'account_removed' };
      const built = buildIdentity(user, await policy());
      return built.ok ? { ok: true, identity: built.identity } : { ok: false, reason: built.reason };
    } catch (e) {
      if (isGatewayError(e) && e.code === 'GW_DIRECTORY_UNAVAILABLE') return { ok: 'unavailable' };
      logger.error({ err: (e as Error).message }, 'revalidation failed');
      return { ok: 'unavailable' };
    }
  };

  // Factors live only in Redis. Without it nobody can have one, and a policy that asks for one lets nobody in.
  const mfa = redis ? buildMfa(config, { redis, audit, clock }) : undefined;
  if (mfa) closers.push(() => mfa.close());
  const mfaAsked = config.mfa.require !== 'never' || config.mfa.requireForGroups.length > 0;
  const addressOf = createAddressOf(config.server.trustProxy);
  // Judged on every request of a password-only session, not only at sign-in; nothing to judge when the policy asks nobody.
  const decide = mfa?.decide;
  const factorStore = mfa?.store;
  const secondFactor: SecondFactorCheck | undefined = !mfaAsked
    ? undefined
    : decide && factorStore
      ? {
          owed: (identity, record, req) => secondFactorOwed(decide, { groups: identity.groups, amr: record.amr, factors: record.factorKinds ?? [] }, addressOf(req)),
          kinds: (sub) => factorStore.kinds(sub),
        }
      : // Without Redis no factor can be stored: a policy that asks for one lets no password-only session through.
        { owed: (_identity, record) => !(record.amr ?? []).includes('mfa'), kinds: async () => [] };

  const sessions = new SessionIndex(redis, config.session.absoluteTimeout);
  const sockets = new SessionSockets();
  const resolver = new SessionResolver({
    store,
    secrets: sessionSecrets,
    cookieName: gatewayCookieNames(config.session.cookieName, config.server.publicUrl).session,
    legacyCookieName: config.session.cookieName,
    idleMs: config.session.idleTimeout,
    absoluteMs: config.session.absoluteTimeout,
    revalidateMs: config.session.revalidateInterval,
    revalidate,
    onIdentityChanged: (sid) => signer.forget(sid),
    onEnded: (identity, reason, sid) => {
      signer.forget(sid);
      sockets.close([sid]);
      audit.record({ kind: 'session.ended', user: identity.username, reason });
      void sessions.announceEnded([sid]).catch(() => undefined);
    },
    clock,
    logger,
    secondFactor,
  });
  // Sessions ended anywhere (a sign-out on another replica, a revocation from the CLI) leave this one's caches at once.
  if (redis) {
    closers.push(
      listenForEnded(
        redis,
        (ids) => {
          for (const id of ids) {
            resolver.forget(id);
            signer.forget(id);
          }
          sockets.close(ids);
        },
        logger,
      ),
    );
  }
  // What nobody announces (Redis expiring a record, a timeout passing) still closes a session's WebSockets within seconds.
  closers.push(sockets.startChecks((sid) => resolver.check(sid), logger));

  const sync = buildSyncDeps({
    config,
    directory,
    rules,
    sentry,
    provisioner,
    audit,
    logger,
    keyring,
    clock,
    endSessions: async (sub) => (await revokeSessions(sessions, store, sub)).length,
    onApplied: (r) => metrics.syncChanges(r.applied, r.failed.length, r.offboardRefused?.length ?? 0),
  });

  const urlPrefix = urlPrefixMonitor({ config, ...(sentryToken ? { token: sentryToken } : {}), clock });

  const secondFactorGate: SecondFactorGate = mfa ? policySecondFactorGate(mfa) : mfaAsked ? noStoreForSecondFactors : noSecondFactorsYet;

  // Kerberos is built only when asked for; a missing binding or an unusable keytab turns it off, never the gateway.
  // Off for the keytab, a SIGHUP with a usable one turns it on (the binding cannot appear without a restart).
  let kerberos: NegotiateDeps | undefined;
  let offForKeytab = false;
  const krb = config.auth.kerberos;
  const replica = `replica:${hostname()}:${process.pid}`;
  const turnOn = (acceptor: GssapiAcceptor): NegotiateDeps => {
    closers.push(() => acceptor.close());
    if (acceptor.place.how === 'in place') logger.warn({ keytab: krb.keytabFile }, acceptor.place.warning);
    logger.info({ servicePrincipal: krb.servicePrincipal, realms: Object.keys(krb.realms), keytabRead: describeKeytabPlace(acceptor.place) }, 'Kerberos sign-in on');
    return { acceptor, realms: krb.realms, replay: redis ? redisReplayCache(redis) : memoryReplayCache(() => clock.now()), login, logger };
  };
  if (krb.enabled) {
    const built = await buildGssapiAcceptor({ keytabFile: krb.keytabFile, servicePrincipal: krb.servicePrincipal });
    if (built.ok) kerberos = turnOn(built.acceptor);
    else {
      offForKeytab = built.cause === 'keytab';
      logger.error({ why: built.why }, `Kerberos off: ${built.why}`);
    }
  }
  /** The SIGHUP's keytab step; settles once the new keytab is in use or refused (the old one, if any, kept). */
  const reloadKeytab = async (): Promise<void> => {
    if (!kerberos && !offForKeytab) return;
    const took = () => {
      metrics.rotation('keytab', 'reloaded');
      audit.record({ kind: 'secret.reloaded', actor: replica, detail: { secret: 'keytab', file: krb.keytabFile } });
    };
    // The message names the file and what is wrong with it, never its bytes.
    const refused = (why: string, kept: string) => {
      metrics.rotation('keytab', 'failed');
      audit.record({ kind: 'secret.reload_failed', actor: replica, reason: 'keytab_unusable', detail: { secret: 'keytab', file: krb.keytabFile, why } });
      logger.error({ err: why }, kept);
    };
    if (kerberos) {
      try {
        await kerberos.acceptor.reload();
      } catch (e) {
        return refused((e as Error).message, 'keytab not re-read: keeping the previous one');
      }
      took();
      logger.info({ file: krb.keytabFile }, 'keytab re-read');
      return;
    }
    const built = await buildGssapiAcceptor({ keytabFile: krb.keytabFile, servicePrincipal: krb.servicePrincipal });
    if (!built.ok) return refused(built.why, `keytab still unusable: Kerberos stays off (${built.why})`);
    kerberos = turnOn(built.acceptor);
    offForKeytab = false;
    root.kerberos = kerberos;
    took();
  };

  const root: Deps = {
    config,
    logger,
    clock,
    redis,
    mfa,
    secondFactorGate,
    store,
    sessionSecrets,
    keyring,
    signer,
    directory,
    login,
    resolver,
    sessions,
    sockets,
    audit,
    names,
    policy,
    rules,
    sentry,
    provisioner,
    sync,
    urlPrefix,
    queue,
    addressOf,
    metrics,
    ...(kerberos ? { kerberos } : {}),
    reloadSecrets() {
      for (const f of secretFiles) f.reload();
      keyring.refresh();
      return reloadKeytab();
    },
    async close() {
      for (const c of closers.reverse()) await c();
    },
  };
  return root;
}
