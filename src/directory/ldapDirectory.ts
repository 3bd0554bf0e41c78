// The Directory port over LDAP(S) to Active Directory: finding and binding users, reading accounts and groups.
// Connections and failover live in dcConnections.ts, lockout policies in lockoutPolicies.ts.
import { randomUUID } from 'node:crypto';
import { AndFilter, EqualityFilter, OrFilter, SizeLimitExceededError, SubstringFilter, type Entry, type Filter } from 'ldapts';
import type { Config } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../shared/logger.js';
import { DirectoryAuthError, parseAdSubCode, reasonFromBindError } from './adErrors.js';
import { BindSlots } from './bindSlots.js';
import { DcConnections, mapAnswerError, type DcConnectionsOptions } from './dcConnections.js';
import type { AccountLockoutPolicy, AuthFailureReason, AuthHooks, DcStatus, Directory, DirectoryGroup, DirectoryUser, FineGrainedPolicy, LockoutPolicy } from './directory.js';
import { indexGroups, resolveGroups } from './groupGraph.js';
import { bigint, buffers, firstBuffer, str, strings } from './ldapValues.js';
import { LockoutPolicies } from './lockoutPolicies.js';
import { parseUsername, type ParsedUsername } from './parseUsername.js';
import { pickKerberosAccount, principalUpns } from './kerberosAccount.js';
import { decodeGuid, decodeSid, encodeSid, primaryGroupSid } from './sid.js';

export { DirectoryAuthError } from './adErrors.js';

export const MAX_PASSWORD_LENGTH = 1024;

/** What the connections need, plus the clock the account checks use. */
export interface LdapDirectoryOptions extends DcConnectionsOptions {
  /** Current time in ms since the epoch (accountExpires checks, policy caching); Date.now by default. */
  now?: () => number;
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
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #dcs: DcConnections;
  readonly #policies: LockoutPolicies;
  readonly #binds: BindSlots;

  constructor(opts: LdapDirectoryOptions) {
    this.#ldap = opts.ldap;
    this.#log = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.#dcs = new DcConnections(opts);
    this.#policies = new LockoutPolicies(this.#dcs, opts.ldap.baseDn, opts.logger, this.#now);
    this.#binds = new BindSlots({ max: opts.ldap.maxConcurrentBinds, waitMs: opts.ldap.bindQueueTimeout });
  }

  async authenticate(username: string, password: string, hooks: AuthHooks = {}): Promise<DirectoryUser> {
    // An empty simple bind is an anonymous bind, which succeeds: refuse before AD sees it.
    if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
      throw new DirectoryAuthError('invalid_credentials');
    }
    const parsed = parseUsername(username, this.#ldap);
    const found = parsed ? await this.#findUserDns(parsed) : [];
    if (found.length !== 1) {
      const domain = await this.#policies.domain();
      await hooks.beforeBind?.(`name:${username.trim().normalize('NFC').toLowerCase()}`, { ...domain, source: 'domain', domain, fineGrained: 'none' });
      // Spend about what a real bind costs, so response time does not tell who exists.
      await this.#binds.run(() => this.#timingBind(password));
      throw new DirectoryAuthError(found.length === 0 ? 'no_such_user' : 'invalid_credentials');
    }
    const dn = found[0]!;
    // The PSO read costs a search the unknown-name path does not make; failures are padded to a floor (LoginService).
    await hooks.beforeBind?.(`dn:${dn.toLowerCase()}`, await this.#policies.forAccount(dn));
    await this.#binds.run(() => this.#bindAsUser(dn, password));
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

  async lookupPrincipal(name: string, realm: string): Promise<DirectoryUser | null> {
    const n = name.normalize('NFC');
    // Filter objects go to the wire as BER: the name stays data. Two matches are asked for, to see a collision.
    const filter = new AndFilter({
      filters: [
        new EqualityFilter({ attribute: 'objectCategory', value: 'person' }),
        new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
        new OrFilter({
          filters: [new EqualityFilter({ attribute: 'sAMAccountName', value: n }), ...principalUpns(n, realm).map((value) => new EqualityFilter({ attribute: 'userPrincipalName', value }))],
        }),
      ],
    });
    let matches: { dn: string; sAMAccountName: string }[];
    try {
      const res = await this.#dcs.withService('search_user', (c) => c.search(this.#ldap.baseDn, { scope: 'sub', filter, attributes: ['sAMAccountName'], sizeLimit: 2 }));
      matches = res.searchEntries.map((e) => ({ dn: e.dn, sAMAccountName: str(e['sAMAccountName']) }));
    } catch (e) {
      // More than the limit: a collision, refused like two matches.
      if (!(e instanceof SizeLimitExceededError)) throw e;
      matches = [
        { dn: '', sAMAccountName: '' },
        { dn: '', sAMAccountName: '' },
      ];
    }
    const dn = pickKerberosAccount(matches, n);
    if (!dn && matches.length > 1) this.#log.warn({ matches: matches.length }, 'Kerberos principal matches more than one account');
    return dn ? this.#readUser(dn) : null;
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
    const res = await this.#dcs.withService('search_groups', (c) =>
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
    return this.#policies.domain();
  }

  async allLockoutPolicies(): Promise<{ domain: LockoutPolicy; fineGrained: FineGrainedPolicy[] | 'unreadable' }> {
    return this.#policies.all();
  }

  async accountLockoutPolicy(dn: string): Promise<AccountLockoutPolicy> {
    return this.#policies.forAccount(dn);
  }

  health(): Promise<DcStatus[]> {
    return this.#dcs.health();
  }

  close(): Promise<void> {
    return this.#dcs.close();
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
      const res = await this.#dcs.withService('search_user', (c) =>
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
      await this.#dcs.onEachDc('bind_user', async (client) => {
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
      await this.#dcs.onEachDc('bind_user', async (client) => {
        await client.bind(dn, password);
      });
    } catch (e) {
      if (e instanceof GatewayError && e.code === 'GW_DIRECTORY_UNAVAILABLE') throw e;
    }
  }


  // --- reading the account ----------------------------------------------------------------

  async #readUser(dn: string): Promise<DirectoryUser | null> {
    const res = await this.#dcs.withService('read_user', (c) =>
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
    const res = await this.#dcs.withService('read_groups', (c) =>
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
    const groupsRes = await this.#dcs.withService('list_groups', (c) =>
      c.search(this.#ldap.baseDn, {
        scope: 'sub',
        filter: new EqualityFilter({ attribute: 'objectClass', value: 'group' }),
        attributes: ['objectSid', 'sAMAccountName', 'cn', 'memberOf'],
        explicitBufferAttributes: ['objectSid'],
        paged: { pageSize: 1000 },
      }),
    );
    const index = indexGroups(groupsRes.searchEntries);
    const usersRes = await this.#dcs.withService('list_users', (c) =>
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

}
