// Prometheus metrics (docs/design.md §11): one registry per gateway instance, fed by the hooks the other parts expose.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { joinClusterMetrics } from './clusterMetrics.js';

export type RotationKind = 'bind_password' | 'session_secret' | 'sentry_token' | 'signing_key' | 'keytab';

export interface MetricsSources {
  /** Provisioning retry-queue depth, read at scrape time. */
  queueDepth?: () => Promise<number>;
  /** Keys in the JWKS and the current signing kid, read at scrape time. */
  keys?: () => { published: number; signingKid: string };
}

/** The status label keeps its exact code: the set of HTTP codes a proxy sees is small and bounded. */
const statusLabel = (status: number): string => String(status || 0);

/**
 * A registry of its own, never prom-client's global one: tests run several gateways in one process,
 * and each must count only its own traffic.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #loginResults: Counter<'result'>;
  readonly #ldapDuration: Histogram<'dc' | 'op' | 'outcome'>;
  readonly #proxyDuration: Histogram<'route_class' | 'status'>;
  readonly #upstreamErrors: Counter<'route_class' | 'kind'>;
  readonly #provisioning: Counter<'result'>;
  readonly #syncChanges: Counter<'outcome'>;
  readonly #rotations: Counter<'kind' | 'event'>;
  #sources: MetricsSources = {};
  #cluster?: () => Promise<{ contentType: string; body: string }>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'sag_' });
    this.#loginResults = new Counter({ name: 'sag_login_results_total', help: 'Sign-in attempts by result: success, or the exact failure reason (invalid_credentials, account_locked, throttled, GW_DIRECTORY_UNAVAILABLE, ...).', labelNames: ['result'], registers });
    this.#ldapDuration = new Histogram({
      name: 'sag_ldap_operation_duration_seconds',
      help: 'LDAP operation wall time by domain controller, operation (bind_service, bind_user, search_user, read_user, ...) and outcome.',
      labelNames: ['dc', 'op', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#proxyDuration = new Histogram({
      name: 'sag_proxy_request_duration_seconds',
      help: 'Time from request to response close, by route class (session, ingestion, tokenApi, bypass, gateway, invalid, ...) and HTTP status.',
      labelNames: ['route_class', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#upstreamErrors = new Counter({ name: 'sag_upstream_errors_total', help: 'Requests the upstream could not answer: kind unavailable (502) or timeout (504), by route class.', labelNames: ['route_class', 'kind'], registers });
    this.#provisioning = new Counter({ name: 'sag_provisioning_results_total', help: 'Provisioning attempts by result: applied, unchanged, queued (deferred to the retry queue), failed (a retry failed).', labelNames: ['result'], registers });
    this.#syncChanges = new Counter({ name: 'sag_sync_changes_total', help: 'Membership changes made by full syncs, by outcome (applied, failed, offboard_refused: Sentry refused to offboard a person AD disabled, expired or deleted).', labelNames: ['outcome'], registers });
    this.#rotations = new Counter({
      name: 'sag_rotation_events_total',
      help: 'Rotations this instance took up: kind (bind_password, session_secret, sentry_token, signing_key, keytab) and event (reloaded: a new secret file read; published: a new public key; switched: signing moved to a new key; failed: a new file refused, the old secret kept).',
      labelNames: ['kind', 'event'],
      registers,
    });
    const sources = () => this.#sources;
    new Gauge({
      name: 'sag_provisioning_queue_depth',
      help: 'Jobs in the provisioning retry queue (shared by replicas), read at scrape time; -1 when the queue cannot be read.',
      registers,
      // Every worker reads the same shared queue: summing would count it once per worker.
      aggregator: 'max',
      async collect() {
        const depth = sources().queueDepth;
        if (!depth) return this.set(0);
        this.set(await depth().catch(() => -1));
      },
    });
    new Gauge({
      name: 'sag_signing_keys_published',
      help: 'Public keys in the JWKS right now (2 during a rotation).',
      registers,
      aggregator: 'max',
      collect() {
        const keys = sources().keys;
        this.set(keys ? keys().published : 0);
      },
    });
    new Gauge({
      name: 'sag_signing_key_info',
      help: 'Always 1, labelled with the kid this instance signs with now.',
      labelNames: ['kid'],
      registers,
      aggregator: 'max',
      collect() {
        const keys = sources().keys;
        this.reset();
        if (keys) this.set({ kid: keys().signingKid }, 1);
      },
    });
  }

  /** Scrape-time readers, set once the parts they read exist. */
  setSources(sources: MetricsSources): void {
    this.#sources = { ...this.#sources, ...sources };
  }

  loginResult(result: string): void {
    this.#loginResults.inc({ result });
  }

  ldapOp(dc: string, op: string, ms: number, ok: boolean): void {
    this.#ldapDuration.observe({ dc, op, outcome: ok ? 'ok' : 'error' }, ms / 1000);
  }

  proxied(routeClass: string, status: number, ms: number): void {
    this.#proxyDuration.observe({ route_class: routeClass, status: statusLabel(status) }, ms / 1000);
    // Only the proxied classes: a 503 from the gateway's own pages is not the upstream's fault.
    if (routeClass !== 'gateway' && routeClass !== 'invalid' && (status === 502 || status === 504)) {
      this.#upstreamErrors.inc({ route_class: routeClass, kind: status === 502 ? 'unavailable' : 'timeout' });
    }
  }

  provisioningResult(result: string): void {
    this.#provisioning.inc({ result });
  }

  syncChanges(applied: number, failed: number, offboardRefused = 0): void {
    this.#syncChanges.inc({ outcome: 'applied' }, applied);
    this.#syncChanges.inc({ outcome: 'failed' }, failed);
    this.#syncChanges.inc({ outcome: 'offboard_refused' }, offboardRefused);
  }

  rotation(kind: RotationKind, event: 'reloaded' | 'published' | 'switched' | 'failed'): void {
    this.#rotations.inc({ kind, event });
  }

  /** In a cluster worker (server.workers > 1): from now on `text()` is the sum over every worker. */
  shareWithCluster(): void {
    this.#cluster = joinClusterMetrics(this.registry);
  }

  /** Prometheus text exposition. */
  async text(): Promise<{ contentType: string; body: string }> {
    if (this.#cluster) return this.#cluster();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
