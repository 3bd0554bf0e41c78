// Connections to the domain controllers: the shared service connection (bound as the service account,
// kept healthy and reused) and fresh per-operation connections, with failover across ldap.urls.
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { BusyError, Client, InvalidCredentialsError, ResultCodeError, UnavailableError } from 'ldapts';
import type { Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../shared/logger.js';
import { parseAdSubCode } from './adErrors.js';
import type { DcStatus } from './directory.js';

export interface DcConnectionsOptions {
  ldap: Config['ldap'];
  /** Reads the service account's password; called on every (re)bind, so a rotated file is picked up. */
  readBindPassword: () => Promise<string>;
  /**
   * The password to try when the current one is refused twice: the new one a rotation has parked
   * while AD already has it but the file does not yet (see directory/bindPassword.ts).
   */
  readPendingBindPassword?: () => Promise<string | undefined>;
  logger: Logger;
  /** Called after every LDAP operation, for metrics; ms is wall time including connect. */
  onLdapOp?: (dcUrl: string, op: string, ms: number, ok: boolean) => void;
}

interface ServiceConnection {
  client: Client;
  url: string;
}

export class DcConnections {
  readonly #ldap: Config['ldap'];
  readonly #readBindPassword: () => Promise<string>;
  readonly #readPendingBindPassword: () => Promise<string | undefined>;
  readonly #log: Logger;
  readonly #onLdapOp: (dcUrl: string, op: string, ms: number, ok: boolean) => void;
  #tlsOptions?: Promise<tls.ConnectionOptions>;
  /** Index into ldap.urls of the DC that last answered: tried first next time. */
  #preferred = 0;
  #service?: ServiceConnection;
  #connecting?: Promise<ServiceConnection>;
  #closed = false;

  constructor(opts: DcConnectionsOptions) {
    this.#ldap = opts.ldap;
    this.#readBindPassword = opts.readBindPassword;
    this.#readPendingBindPassword = opts.readPendingBindPassword ?? (async () => undefined);
    this.#log = opts.logger;
    this.#onLdapOp = opts.onLdapOp ?? (() => {});
  }

  async health(): Promise<DcStatus[]> {
    return Promise.all(
      this.#ldap.urls.map(async (url): Promise<DcStatus> => {
        const started = performance.now();
        const client = await this.#newClient(url);
        try {
          await this.#open(client, url);
          await this.#bindService(client, url);
          const latencyMs = Math.round(performance.now() - started);
          return { url, ok: true, latencyMs };
        } catch (e) {
          // Readiness tells "AD refuses our password" apart from "AD is down": the fixes differ.
          const credentialRefused = e instanceof GatewayError && e.cause instanceof InvalidCredentialsError;
          return { url, ok: false, error: describeError(e), latencyMs: Math.round(performance.now() - started), ...(credentialRefused ? { credentialRefused } : {}) };
        } finally {
          await client.unbind().catch(() => {});
        }
      }),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    const svc = this.#service;
    this.#service = undefined;
    if (svc) await svc.client.unbind().catch(() => {});
  }

  /**
   * Runs `fn` on a fresh connection, trying DCs from the preferred one on; moves on only when
   * the DC could not be reached or timed out, never after it answered.
   */
  async onEachDc(op: string, fn: (client: Client) => Promise<void>): Promise<void> {
    const order = this.#dcOrder();
    let lastError: unknown;
    for (const i of order) {
      const url = this.#ldap.urls[i]!;
      const client = await this.#newClient(url);
      const started = performance.now();
      try {
        await this.#open(client, url);
        await fn(client);
        this.#onLdapOp(url, op, performance.now() - started, true);
        this.#preferred = i;
        return;
      } catch (e) {
        this.#onLdapOp(url, op, performance.now() - started, false);
        if (!isConnectionError(e)) {
          this.#preferred = i;
          throw e;
        }
        lastError = e;
        this.#log.warn({ dc: url, op, err: describeError(e) }, 'domain controller unreachable, trying the next');
      } finally {
        await client.unbind().catch(() => {});
      }
    }
    throw unavailable(lastError);
  }

  // --- the service connection ---------------------------------------------------------------

  /** Runs `fn` on the shared service connection; reconnects once (perhaps to another DC) if it broke. */
  async withService<T>(op: string, fn: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const svc = await this.#serviceConnection();
      const started = performance.now();
      try {
        const result = await fn(svc.client);
        this.#onLdapOp(svc.url, op, performance.now() - started, true);
        return result;
      } catch (e) {
        this.#onLdapOp(svc.url, op, performance.now() - started, false);
        if (!isConnectionError(e)) throw mapAnswerError(e);
        this.#dropService(svc);
        if (attempt > 0) throw unavailable(e);
        this.#log.warn({ dc: svc.url, op, err: describeError(e) }, 'service connection broke, reconnecting');
      }
    }
  }

  async #serviceConnection(): Promise<ServiceConnection> {
    if (this.#closed) throw new GatewayError('GW_DIRECTORY_UNAVAILABLE', 'directory client is closed');
    // ldapts silently reconnects a dropped socket without binding; catch that before using it.
    if (this.#service?.client.isConnected) return this.#service;
    if (this.#service) this.#dropService(this.#service);
    // One connect at a time: concurrent callers share it instead of racing to open several.
    this.#connecting ??= this.#connectService().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connectService(): Promise<ServiceConnection> {
    let lastError: unknown;
    for (const i of this.#dcOrder()) {
      const url = this.#ldap.urls[i]!;
      const client = await this.#newClient(url);
      try {
        await this.#open(client, url);
        await this.#bindService(client, url);
        this.#preferred = i;
        const svc = { client, url };
        if (this.#closed) {
          await client.unbind().catch(() => {});
          throw new GatewayError('GW_DIRECTORY_UNAVAILABLE', 'directory client is closed');
        }
        this.#service = svc;
        return svc;
      } catch (e) {
        await client.unbind().catch(() => {});
        if (e instanceof GatewayError) throw e;
        if (!isConnectionError(e)) throw mapAnswerError(e);
        lastError = e;
        this.#log.warn({ dc: url, err: describeError(e) }, 'domain controller unreachable, trying the next');
      }
    }
    throw unavailable(lastError);
  }

  /**
   * Binds as the service account. A refused password is re-read once, since the file may just
   * have been rotated; the same DC is asked again only when the file now says something else,
   * so a wrong password costs the account one bad attempt, not two.
   */
  async #bindService(client: Client, url: string): Promise<void> {
    const first = await this.#readBindPassword();
    const refused = await this.#tryServiceBind(client, url, first);
    if (!refused) return;
    const second = await this.#readBindPassword();
    const again = second !== first ? await this.#tryServiceBind(client, url, second) : refused;
    if (!again) return;
    // Mid-rotation AD may already hold the parked password; only a different value costs another attempt.
    const pending = await this.#readPendingBindPassword();
    const last = pending !== undefined && pending !== first && pending !== second ? await this.#tryServiceBind(client, url, pending) : again;
    if (!last) return;
    this.#log.error({ dc: url, bindDn: this.#ldap.bindDn, adCode: parseAdSubCode(last.message) }, 'service account bind refused');
    throw new GatewayError('GW_DIRECTORY_UNAVAILABLE', 'the directory refused the service account credentials', { cause: last });
  }

  /** One service bind: undefined on success, the error when AD refused the password; anything else throws. */
  async #tryServiceBind(client: Client, url: string, password: string): Promise<InvalidCredentialsError | undefined> {
    const started = performance.now();
    try {
      await client.bind(this.#ldap.bindDn, password);
      this.#onLdapOp(url, 'bind_service', performance.now() - started, true);
      return undefined;
    } catch (e) {
      this.#onLdapOp(url, 'bind_service', performance.now() - started, false);
      if (e instanceof InvalidCredentialsError) return e;
      throw e;
    }
  }

  #dropService(svc: ServiceConnection): void {
    if (this.#service === svc) this.#service = undefined;
    void svc.client.unbind().catch(() => {});
  }

  #dcOrder(): number[] {
    const n = this.#ldap.urls.length;
    return Array.from({ length: n }, (_, k) => (this.#preferred + k) % n);
  }

  async #newClient(url: string): Promise<Client> {
    const tlsOptions = await this.#tls();
    const secure = /^ldaps:/i.test(url);
    // ldapts treats any tlsOptions as "connect with TLS", so plain ldap:// must not get them.
    return new Client({
      url,
      timeout: this.#ldap.timeout,
      connectTimeout: this.#ldap.timeout,
      strictDN: false,
      ...(secure ? { tlsOptions } : {}),
    });
  }

  /** Connects, and upgrades with StartTLS when configured, before any credentials are sent. */
  async #open(client: Client, url: string): Promise<void> {
    if (this.#ldap.startTls && /^ldap:/i.test(url)) {
      await client.startTLS(await this.#tls());
    }
  }

  #tls(): Promise<tls.ConnectionOptions> {
    this.#tlsOptions ??= (async () => {
      const opts: tls.ConnectionOptions = { rejectUnauthorized: this.#ldap.tlsRejectUnauthorized };
      if (this.#ldap.caFile) opts.ca = await readFile(this.#ldap.caFile);
      const name = this.#ldap.tlsServerName;
      if (name) {
        // Connect to one address, verify the certificate against the DC's real name.
        if (!net.isIP(name)) opts.servername = name;
        opts.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(name, cert);
      }
      return opts;
    })();
    return this.#tlsOptions;
  }
}

// --- helpers ------------------------------------------------------------------------------

/** True when the DC was not reached or did not answer in time: the only case for trying another. */
export function isConnectionError(e: unknown): boolean {
  if (e instanceof BusyError || e instanceof UnavailableError) return true;
  if (e instanceof ResultCodeError) return false;
  return e instanceof Error && !(e instanceof TypeError) && !(e instanceof GatewayError);
}

/** Any other LDAP answer means the DC works but refuses what we asked: a setup problem, not the user's. */
export function mapAnswerError(e: unknown): unknown {
  if (e instanceof GatewayError || !(e instanceof ResultCodeError)) return e;
  return new GatewayError('GW_DIRECTORY_UNAVAILABLE', `directory refused the operation: ${describeError(e)}`, { cause: e });
}

export function unavailable(cause: unknown): GatewayError {
  return new GatewayError('GW_DIRECTORY_UNAVAILABLE', `no domain controller reachable: ${describeError(cause)}`, { cause });
}

export function describeError(e: unknown): string {
  if (e instanceof GatewayError) return e.message;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const msg = e.message.split('\n')[0]!.slice(0, 200);
    return typeof code === 'string' ? `${code}: ${msg}` : msg;
  }
  return String(e);
}
