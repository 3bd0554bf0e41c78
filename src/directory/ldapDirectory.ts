// The Directory port over LDAP(S) to Active Directory, with failover across domain controllers.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import {
  AndFilter,
  BusyError,
  Client,
  EqualityFilter,
  InvalidCredentialsError,
  OrFilter,
  ResultCodeError,
  SizeLimitExceededError,
  SubstringFilter,
  UnavailableError,
  type Entry,
  type Filter,
} from 'ldapts';
import type { Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../shared/logger.js';
import { DirectoryAuthError, parseAdSubCode, reasonFromBindError } from './adErrors.js';
import type { AuthFailureReason, AuthHooks, DcStatus, Directory, DirectoryGroup, DirectoryUser, LockoutPolicy } from './directory.js';
import { parseUsername, type ParsedUsername } from './parseUsername.js';
import { decodeGuid, decodeSid, encodeSid, primaryGroupSid } from './sid.js';

export { DirectoryAuthError } from './adErrors.js';

export const MAX_PASSWORD_LENGTH = 1024;

export interface LdapDirectoryOptions {
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
  /** Current time in ms since the epoch (accountExpires checks); Date.now by default. */
  now?: () => number;
}

interface ServiceConnection {
  client: Client;
  url: string;
}

const USER_ATTRIBUTES = [
  'objectGUID',
  'objectSid',
  'sAMAccountName',
  'userPrincipalName',
  'mail',
  'displayName',
  'cn',
  'memberOf',
  'primaryGroupID',
  'userAccountControl',
  'accountExpires',
  'pwdLastSet',
  'lockoutTime',
  'msDS-User-Account-Control-Computed',
];
const BINARY_ATTRIBUTES = ['objectGUID', 'objectSid', 'tokenGroups'];

const UF_ACCOUNTDISABLE = 0x2;
const UF_LOCKOUT = 0x10;
const UF_PASSWORD_EXPIRED = 0x800000;
const FILETIME_NEVER = 0x7fffffffffffffffn;
// 100 ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH = 116444736000000000n;

export class LdapDirectory implements Directory {
  readonly #ldap: Config['ldap'];
  readonly #readBindPassword: () => Promise<string>;
  readonly #readPendingBindPassword: () => Promise<string | undefined>;
  readonly #log: Logger;
  readonly #onLdapOp: (dcUrl: string, op: string, ms: number, ok: boolean) => void;
  readonly #now: () => number;
  #tlsOptions?: Promise<tls.ConnectionOptions>;
  /** Index into ldap.urls of the DC that last answered: tried first next time. */
  #preferred = 0;
  #service?: ServiceConnection;
  #connecting?: Promise<ServiceConnection>;
  #lockoutPolicy?: LockoutPolicy;
  #closed = false;

  constructor(opts: LdapDirectoryOptions) {
    this.#ldap = opts.ldap;
    this.#readBindPassword = opts.readBindPassword;
    this.#readPendingBindPassword = opts.readPendingBindPassword ?? (async () => undefined);
    this.#log = opts.logger;
    this.#onLdapOp = opts.onLdapOp ?? (() => {});
    this.#now = opts.now ?? Date.now;
  }

  async authenticate(username: string, password: string, hooks: AuthHooks = {}): Promise<DirectoryUser> {
    // An empty simple bind is an anonymous bind, which succeeds: refuse before AD sees it.
    if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
      throw new DirectoryAuthError('invalid_credentials');
    }
    const parsed = parseUsername(username, this.#ldap);
    const found = parsed ? await this.#findUserDns(parsed) : [];
    if (found.length !== 1) {
      await hooks.beforeBind?.(`name:${username.trim().normalize('NFC').toLowerCase()}`);
      // Spend about what a real bind costs, so response time does not tell who exists.
      await this.#timingBind(password);
      throw new DirectoryAuthError(found.length === 0 ? 'no_such_user' : 'invalid_credentials');
    }
    const dn = found[0]!;
    await hooks.beforeBind?.(`dn:${dn.toLowerCase()}`);
    await this.#bindAsUser(dn, password);
    const user = await this.#readUser(dn);
    if (!user) throw new DirectoryAuthError('no_such_user');
    return user;
  }

  async lookup(username: string): Promise<DirectoryUser | null> {
    const parsed = parseUsername(username, this.#ldap);
    if (!parsed) return null;
    const found = await this.#findUserDns(parsed);
    if (found.length !== 1) {
      if (found.length > 1) this.#log.warn({ attribute: parsed.attribute, matches: found.length }, 'username matches more than one account');
      return null;
    }
    return this.#readUser(found[0]!);
  }

  async searchGroups(text: string, limit: number): Promise<{ name: string; dn: string }[]> {
    const needle = text.trim().normalize('NFC');
    if (!needle) return [];
    // Filter objects go out as BER: `*`, `(` or `\` typed into the search box are matched literally.
    const filter = new AndFilter({
      filters: [
        new EqualityFilter({ attribute: 'objectClass', value: 'group' }),
        new OrFilter({
          filters: [new SubstringFilter({ attribute: 'sAMAccountName', any: [needle] }), new SubstringFilter({ attribute: 'cn', any: [needle] })],
        }),
      ],
    });
    // Paged rather than sizeLimit: AD answers a size-limit overrun with an error and no entries.
    const res = await this.#withService('search_groups', (c) =>
      c.search(this.#ldap.baseDn, { scope: 'sub', filter, attributes: ['sAMAccountName', 'cn'], paged: { pageSize: 200 } }),
    );
    const lower = needle.toLowerCase();
    return res.searchEntries
      .map((e) => ({ name: str(e['sAMAccountName']) || str(e['cn']), dn: e.dn }))
      .filter((g) => g.name)
      // Names starting with the text first, then alphabetical: what a person typing a prefix expects.
      .sort((a, b) => Number(!a.name.toLowerCase().startsWith(lower)) - Number(!b.name.toLowerCase().startsWith(lower)) || a.name.localeCompare(b.name))
      .slice(0, Math.max(0, limit));
  }

  async lockoutPolicy(): Promise<LockoutPolicy> {
    if (this.#lockoutPolicy !== undefined) return this.#lockoutPolicy;
    const res = await this.#withService('read_domain', (c) =>
      c.search(this.#ldap.baseDn, { scope: 'base', filter: '(objectClass=*)', attributes: ['lockoutThreshold', 'lockOutObservationWindow'] }),
    );
    const entry = res.searchEntries[0];
    const value = Number(first(entry?.['lockoutThreshold']) ?? '0');
    // AD stores the window as a negative count of 100-nanosecond intervals.
    const window = bigint(entry?.['lockOutObservationWindow']) ?? 0n;
    this.#lockoutPolicy = {
      threshold: Number.isFinite(value) && value > 0 ? value : 0,
      observationWindowMs: Number((window < 0n ? -window : window) / 10_000n),
    };
    return this.#lockoutPolicy;
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

  // --- user search and bind ---------------------------------------------------------------

  async #findUserDns(parsed: ParsedUsername): Promise<string[]> {
    // Filter objects go to the wire as BER, so metacharacters in the value stay data, never syntax.
    const filter = new AndFilter({
      filters: [
        new EqualityFilter({ attribute: 'objectCategory', value: 'person' }),
        new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
        new EqualityFilter({ attribute: parsed.attribute, value: parsed.value }),
      ],
    });
    try {
      const res = await this.#withService('search_user', (c) =>
        c.search(this.#ldap.baseDn, { scope: 'sub', filter, attributes: ['1.1'], sizeLimit: 2 }),
      );
      return res.searchEntries.map((e) => e.dn);
    } catch (e) {
      // More than the limit: ambiguous, which refuses the sign-in like no match would.
      if (e instanceof SizeLimitExceededError) return ['', ''];
      throw e;
    }
  }

  /** Binds a separate, short-lived connection as the user; the service connection stays bound as itself. */
  async #bindAsUser(dn: string, password: string): Promise<void> {
    try {
      await this.#onEachDc('bind_user', async (client) => {
        await client.bind(dn, password);
      });
    } catch (e) {
      const reason = reasonFromBindError(e);
      if (reason) throw new DirectoryAuthError(reason, { subCode: parseAdSubCode((e as Error).message), cause: e });
      throw mapAnswerError(e);
    }
  }

  /** A bind with a DN that cannot exist: costs a connection and a bind, and counts against nobody. */
  async #timingBind(password: string): Promise<void> {
    const dn = `CN=sag-absent-${randomUUID()},${this.#ldap.baseDn}`;
    try {
      await this.#onEachDc('bind_user', async (client) => {
        await client.bind(dn, password);
      });
    } catch (e) {
      if (e instanceof GatewayError && e.code === 'GW_DIRECTORY_UNAVAILABLE') throw e;
    }
  }

  /**
   * Runs `fn` on a fresh connection, trying DCs from the preferred one on; moves on only when
   * the DC could not be reached or timed out, never after it answered.
   */
  async #onEachDc(op: string, fn: (client: Client) => Promise<void>): Promise<void> {
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

  // --- reading the account ----------------------------------------------------------------

  async #readUser(dn: string): Promise<DirectoryUser | null> {
    const res = await this.#withService('read_user', (c) =>
      c.search(dn, {
        scope: 'base',
        filter: '(objectClass=user)',
        attributes: [...USER_ATTRIBUTES, 'tokenGroups'],
        explicitBufferAttributes: BINARY_ATTRIBUTES,
      }),
    );
    const entry = res.searchEntries[0];
    if (!entry) return null;

    const account = this.#accountOf(entry);
    if (!account) throw new GatewayError('GW_INTERNAL', 'directory returned a user without objectGUID/objectSid');
    const groups = await this.#readGroups(buffers(entry['tokenGroups']), account.primarySid, strings(entry['memberOf']));
    return { ...account.user, groups };
  }

  /** The account attributes of a user entry, everything but its groups; undefined without the identifiers AD always sets. */
  #accountOf(entry: Entry): { user: Omit<DirectoryUser, 'groups'>; primarySid: string | undefined } | undefined {
    const guidBuf = firstBuffer(entry['objectGUID']);
    const sidBuf = firstBuffer(entry['objectSid']);
    if (!guidBuf || !sidBuf) return undefined;
    const sid = decodeSid(sidBuf);
    const sAMAccountName = str(entry['sAMAccountName']);
    const userPrincipalName = str(entry['userPrincipalName']);
    const primaryId = Number(str(entry['primaryGroupID']) || '0');
    const blockedReason = this.#blockedReason(entry);
    return {
      primarySid: primaryId > 0 ? primaryGroupSid(sid, primaryId) : undefined,
      user: {
        dn: entry.dn,
        guid: decodeGuid(guidBuf),
        sid,
        sAMAccountName,
        userPrincipalName,
        email: str(entry['mail']) || userPrincipalName,
        displayName: str(entry['displayName']) || str(entry['cn']) || sAMAccountName,
        ...(blockedReason ? { blockedReason } : {}),
      },
    };
  }

  /**
   * All groups in one search: tokenGroups already is the transitive closure (primary group
   * included), and each group's memberOf is enough to explain how the user got there.
   */
  async #readGroups(tokenSids: Buffer[], primarySid: string | undefined, directDns: string[]): Promise<DirectoryGroup[]> {
    const wanted = new Map<string, Buffer>();
    for (const b of tokenSids) wanted.set(b.toString('hex'), b);
    if (primarySid) {
      const b = encodeSid(primarySid);
      wanted.set(b.toString('hex'), b);
    }
    if (wanted.size === 0) return [];
    const filters: Filter[] = [...wanted.values()].map((value) => new EqualityFilter({ attribute: 'objectSid', value }));
    const res = await this.#withService('read_groups', (c) =>
      c.search(this.#ldap.baseDn, {
        scope: 'sub',
        filter: new AndFilter({ filters: [new EqualityFilter({ attribute: 'objectClass', value: 'group' }), new OrFilter({ filters })] }),
        attributes: ['objectSid', 'sAMAccountName', 'cn', 'memberOf'],
        explicitBufferAttributes: ['objectSid'],
        paged: { pageSize: 500 },
      }),
    );

    return resolveGroups(indexGroups(res.searchEntries), directDns, primarySid, true);
  }

  /**
   * Every user under baseDn with groups, for a full sync: two paged searches (all groups, all users)
   * and the nesting worked out in memory, instead of a tokenGroups read per user.
   */
  async listUsers(onProgress?: (done: number) => void): Promise<DirectoryUser[]> {
    const groupsRes = await this.#withService('list_groups', (c) =>
      c.search(this.#ldap.baseDn, {
        scope: 'sub',
        filter: new EqualityFilter({ attribute: 'objectClass', value: 'group' }),
        attributes: ['objectSid', 'sAMAccountName', 'cn', 'memberOf'],
        explicitBufferAttributes: ['objectSid'],
        paged: { pageSize: 1000 },
      }),
    );
    const index = indexGroups(groupsRes.searchEntries);
    const usersRes = await this.#withService('list_users', (c) =>
      c.search(this.#ldap.baseDn, {
        scope: 'sub',
        filter: new AndFilter({
          filters: [new EqualityFilter({ attribute: 'objectCategory', value: 'person' }), new EqualityFilter({ attribute: 'objectClass', value: 'user' })],
        }),
        // The computed account-control flags exist only on base-scope reads; lockoutTime stands in here.
        attributes: USER_ATTRIBUTES.filter((a) => a !== 'msDS-User-Account-Control-Computed'),
        explicitBufferAttributes: BINARY_ATTRIBUTES,
        paged: { pageSize: 1000 },
      }),
    );
    const out: DirectoryUser[] = [];
    for (const entry of usersRes.searchEntries) {
      const account = this.#accountOf(entry);
      if (!account) continue;
      out.push({ ...account.user, groups: resolveGroups(index, strings(entry['memberOf']), account.primarySid, false) });
      if (out.length % 1000 === 0) onProgress?.(out.length);
    }
    onProgress?.(out.length);
    return out;
  }

  #blockedReason(entry: Entry): AuthFailureReason | undefined {
    const uac = Number(str(entry['userAccountControl']) || '0');
    if (uac & UF_ACCOUNTDISABLE) return 'account_disabled';
    const expires = bigint(entry['accountExpires']);
    if (expires !== undefined && expires !== 0n && expires !== FILETIME_NEVER) {
      const nowFiletime = BigInt(Math.floor(this.#now())) * 10_000n + FILETIME_UNIX_EPOCH;
      if (expires <= nowFiletime) return 'account_expired';
    }
    const computedRaw = str(entry['msDS-User-Account-Control-Computed']);
    const computed = Number(computedRaw || '0');
    if (computed & UF_LOCKOUT) return 'account_locked';
    // lockoutTime alone overstates (it stays set after the lockout expires): only when the DC
    // did not compute the flag for us.
    if (!computedRaw && (bigint(entry['lockoutTime']) ?? 0n) > 0n) return 'account_locked';
    // pwdLastSet=0 also raises the computed "password expired" flag; the more precise reason wins.
    if (str(entry['pwdLastSet']) === '0') return 'password_must_change';
    if (computed & UF_PASSWORD_EXPIRED) return 'password_expired';
    return undefined;
  }

  // --- the service connection ---------------------------------------------------------------

  /** Runs `fn` on the shared service connection; reconnects once (perhaps to another DC) if it broke. */
  async #withService<T>(op: string, fn: (client: Client) => Promise<T>): Promise<T> {
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
function isConnectionError(e: unknown): boolean {
  if (e instanceof BusyError || e instanceof UnavailableError) return true;
  if (e instanceof ResultCodeError) return false;
  return e instanceof Error && !(e instanceof TypeError) && !(e instanceof GatewayError);
}

/** Any other LDAP answer means the DC works but refuses what we asked: a setup problem, not the user's. */
function mapAnswerError(e: unknown): unknown {
  if (e instanceof GatewayError || !(e instanceof ResultCodeError)) return e;
  return new GatewayError('GW_DIRECTORY_UNAVAILABLE', `directory refused the operation: ${describeError(e)}`, { cause: e });
}

function unavailable(cause: unknown): GatewayError {
  return new GatewayError('GW_DIRECTORY_UNAVAILABLE', `no domain controller reachable: ${describeError(cause)}`, { cause });
}

function describeError(e: unknown): string {
  if (e instanceof GatewayError) return e.message;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const msg = e.message.split('\n')[0]!.slice(0, 200);
    return typeof code === 'string' ? `${code}: ${msg}` : msg;
  }
  return String(e);
}

/** DNs from different attributes may differ in case; AD compares them case-insensitively. */
function dnKey(dn: string): string {
  return dn.toLowerCase();
}

type Attr = Entry[string];

function first(v: Attr | undefined): string | Buffer | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function str(v: Attr | undefined): string {
  const f = first(v);
  return f === undefined ? '' : typeof f === 'string' ? f : f.toString('utf8');
}

function strings(v: Attr | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? x : x.toString('utf8')));
}

function buffers(v: Attr | undefined): Buffer[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is Buffer => Buffer.isBuffer(x));
}

function firstBuffer(v: Attr | undefined): Buffer | undefined {
  const f = first(v);
  return Buffer.isBuffer(f) ? f : undefined;
}

function bigint(v: Attr | undefined): bigint | undefined {
  const s = str(v);
  if (!/^-?\d+$/.test(s)) return undefined;
  return BigInt(s);
}

interface GroupNode {
  dn: string;
  name: string;
  sid: string;
  parents: string[];
}

function indexGroups(entries: Entry[]): Map<string, GroupNode> {
  const byDn = new Map<string, GroupNode>();
  for (const e of entries) {
    const sidBuf = firstBuffer(e['objectSid']);
    if (!sidBuf) continue;
    byDn.set(dnKey(e.dn), { dn: e.dn, name: str(e['sAMAccountName']) || str(e['cn']), sid: decodeSid(sidBuf), parents: strings(e['memberOf']) });
  }
  return byDn;
}

/**
 * Breadth-first from the direct groups (and the primary group), so each path is a shortest chain.
 * With `keepUnreached`, groups in the index that no chain reaches still count (tokenGroups said so).
 */
function resolveGroups(byDn: Map<string, GroupNode>, directDns: string[], primarySid: string | undefined, keepUnreached: boolean): DirectoryGroup[] {
  const paths = new Map<string, string[]>();
  const queue: string[] = [];
  for (const d of directDns) {
    const k = dnKey(d);
    const node = byDn.get(k);
    if (node && !paths.has(k)) {
      paths.set(k, [node.name]);
      queue.push(k);
    }
  }
  if (primarySid) {
    for (const [k, n] of byDn) {
      if (n.sid === primarySid && !paths.has(k)) {
        paths.set(k, ['primary group']);
        queue.push(k);
      }
    }
  }
  for (let i = 0; i < queue.length; i++) {
    const k = queue[i]!;
    const base = paths.get(k)!;
    for (const p of byDn.get(k)!.parents) {
      const pk = dnKey(p);
      const parent = byDn.get(pk);
      if (parent && !paths.has(pk)) {
        paths.set(pk, [...base, parent.name]);
        queue.push(pk);
      }
    }
  }
  const out: DirectoryGroup[] = [];
  for (const [k, n] of keepUnreached ? byDn : new Map([...paths.keys()].map((k) => [k, byDn.get(k)!]))) {
    // A token group we cannot chain (e.g. through a foreign principal) still counts.
    out.push({ dn: n.dn, name: n.name, sid: n.sid, path: paths.get(k) ?? [n.name] });
  }
  out.sort((a, b) => a.path.length - b.path.length || a.name.localeCompare(b.name));
  return out;
}
