// Loads the YAML file, applies SAG_* environment overrides and validates everything at once (docs/design.md §4).
import { readFileSync, accessSync, constants } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { networkOf, trustedOwnNetworks, trustOverlapWarning, type TrustOverlap } from '../shared/trustedRanges.js';
import { configSchema, type Config } from './schema.js';
import { parseKeyLines } from '../shared/keyLines.js';

export interface ConfigProblem {
  path: string;
  message: string;
}

export type LoadResult = { ok: true; config: Config; warnings: string[] } | { ok: false; problems: ConfigProblem[] };

export interface LoadOptions {
  file: string;
  env: Record<string, string | undefined>;
  /** Check that referenced files exist and are readable (off in unit tests of the schema alone). */
  checkFiles?: boolean;
  /** This host's interfaces, for the server.trustProxy check (os.networkInterfaces() unless given). */
  interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

type Leaf = 'string' | 'other';

/** Every key path the schema knows, with whether its value is a plain string (env values stay raw then). */
function leafPaths(schema: z.ZodType, prefix: string[] = [], out = new Map<string, { path: string[]; leaf: Leaf }>()) {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) leafPaths(child, [...prefix, key], out);
  } else {
    const envName = 'SAG_' + prefix.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__');
    out.set(envName, { path: prefix, leaf: inner instanceof z.ZodString ? 'string' : 'other' });
  }
  return out;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (let i = 0; i < 10; i++) {
    const def = (s as unknown as { _zod: { def: { innerType?: z.ZodType; in?: z.ZodType } } })._zod.def;
    if (def.innerType) s = def.innerType;
    else if (def.in) s = def.in;
    else break;
  }
  return s;
}

const ENV_KEYS = leafPaths(configSchema);
/** Environment variables that are ours but not config keys. */
const NON_KEY_ENV = new Set(['SAG_CONFIG', 'SAG_TEST_DC', 'SAG_TEST_REDIS_URL', 'SAG_TEST_RUN_TIMEOUT', 'SAG_SENTRY_OPENAPI', 'SAG_LOG_PRETTY']);

function setPath(target: Record<string, unknown>, path: string[], value: unknown) {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function parseEnvValue(raw: string, leaf: Leaf): unknown {
  if (leaf === 'string') return raw;
  try {
    return parseYaml(raw) as unknown;
  } catch {
    return raw;
  }
}

export function loadConfig(opts: LoadOptions): LoadResult {
  const problems: ConfigProblem[] = [];
  let doc: unknown = {};
  try {
    const text = readFileSync(opts.file, 'utf8');
    doc = parseYaml(text) ?? {};
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') problems.push({ path: '(file)', message: `config file not found: ${opts.file}` });
    else if (e instanceof YAMLParseError) problems.push({ path: '(file)', message: `YAML error in ${opts.file}: ${e.message.split('\n')[0]}` });
    else problems.push({ path: '(file)', message: `cannot read ${opts.file}: ${(e as Error).message}` });
    return { ok: false, problems };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return { ok: false, problems: [{ path: '(file)', message: 'the config file must be a YAML mapping' }] };
  }
  const merged = structuredClone(doc) as Record<string, unknown>;
  for (const [name, raw] of Object.entries(opts.env)) {
    if (!name.startsWith('SAG_') || raw === undefined || NON_KEY_ENV.has(name)) continue;
    const key = ENV_KEYS.get(name);
    if (!key) {
      problems.push({ path: name, message: 'unknown environment override (no such config key)' });
      continue;
    }
    setPath(merged, key.path, parseEnvValue(raw, key.leaf));
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const base = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) problems.push({ path: base ? `${base}.${k}` : k, message: 'unknown key' });
      } else {
        problems.push({ path: base || '(root)', message: issue.message });
      }
    }
    if (opts.checkFiles !== false) problems.push(...fileChecks(merged));
    return { ok: false, problems };
  }
  const config = parsed.data;
  const warnings: string[] = [];
  problems.push(...crossChecks(config, warnings));
  const overlaps = trustedOwnNetworks(config.server.trustProxy, opts.interfaces ?? networkInterfaces());
  // Where the second factor judges networks, a trustProxy wider than the load balancer is an error, not a warning.
  const wide = mfaTrustProblem(config, overlaps);
  if (wide) problems.push(wide);
  else for (const o of overlaps) warnings.push(trustOverlapWarning(o));
  if (opts.checkFiles !== false) problems.push(...fileChecks(merged));
  return problems.length ? { ok: false, problems } : { ok: true, config, warnings };
}

function crossChecks(c: Config, warnings: string[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (c.session.absoluteTimeout < c.session.idleTimeout) out.push({ path: 'session.absoluteTimeout', message: 'must not be shorter than session.idleTimeout' });
  if (c.assertion.ttl < 10_000 || c.assertion.ttl > 3_600_000) out.push({ path: 'assertion.ttl', message: 'must be between 10s and 1h' });
  if (c.ldap.urls.some((u) => u.toLowerCase().startsWith('ldap://')) && !c.ldap.startTls) {
    out.push({ path: 'ldap.urls', message: 'ldap:// needs ldap.startTls: true (passwords never cross the wire in clear text)' });
  }
  if (!c.ldap.tlsRejectUnauthorized) warnings.push('ldap.tlsRejectUnauthorized is false: the directory certificate is not verified');
  if (c.session.cookieName === 'sentrysid' || c.session.cookieName === 'sc' || c.session.cookieName === 'su' || c.session.cookieName === 'sudo') {
    out.push({ path: 'session.cookieName', message: "clashes with one of Sentry's own cookies" });
  }
  if (!c.session.redisUrl) warnings.push('session.redisUrl is empty: sessions live in memory (one instance, development only)');
  else if (!/^(rediss?|redis\+sentinel|redis\+cluster):\/\//.test(c.session.redisUrl)) out.push({ path: 'session.redisUrl', message: 'must be redis://, rediss://, redis+sentinel:// or redis+cluster://' });
  if (!c.session.secretFile) warnings.push('session.secretFile is not set: a random secret is used and sessions end at restart');
  if (mfaConfigured(c)) {
    if (!c.session.redisUrl) out.push({ path: 'mfa', message: 'a second factor needs session.redisUrl: factors are credentials and are never kept in process memory' });
    if (c.mfa.require === 'outside' && c.mfa.trustedNetworks.length === 0) out.push({ path: 'mfa.trustedNetworks', message: 'mfa.require "outside" needs at least one trusted network (or use "always")' });
    if (c.mfa.methods.includes('webauthn') && isIP(new URL(c.server.publicUrl).hostname.replace(/^\[|\]$/g, ''))) {
      out.push({ path: 'server.publicUrl', message: 'WebAuthn needs a host name here (its RP ID), not an IP address: use a name, or leave webauthn out of mfa.methods' });
    }
  }
  if (c.nginx.enabled) {
    if (c.nginx.decisionCache >= c.assertion.ttl) out.push({ path: 'nginx.decisionCache', message: 'must be shorter than assertion.ttl: a cached decision carries an assertion' });
    if (c.server.trustProxy === false || c.server.trustProxy === 0 || c.server.trustProxy === '') {
      out.push({ path: 'server.trustProxy', message: 'the nginx mode needs server.trustProxy to cover the nginx in front: /_gateway/auth answers no one else' });
    }
  }
  if (c.auth.kerberos.enabled) out.push(...kerberosChecks(c, warnings));
  for (const [i, p] of c.bypass.paths.entries()) {
    if (p.startsWith('/_gateway')) out.push({ path: `bypass.paths.${i}`, message: 'may not cover /_gateway' });
  }
  return out;
}

/** `DC=corp,DC=example,DC=com` → `CORP.EXAMPLE.COM`: the AD domain's DNS name, which is its Kerberos realm; '' without DC= parts. */
export function realmOfBaseDn(baseDn: string): string {
  return baseDn
    .split(',')
    .map((rdn) => /^\s*dc\s*=\s*(.+?)\s*$/i.exec(rdn)?.[1])
    .filter((dc): dc is string => !!dc)
    .join('.')
    .toUpperCase();
}

/**
 * auth.kerberos where it is on: exactly one realm, the directory's own, mapped to its one domain. A principal's
 * name part becomes `<ldap.netbiosDomain>\<name>`, so a second realm would sign `bob@PARTNER.COM` in as this
 * domain's bob: the map keeps its shape (realm → domain) but takes one entry.
 */
function kerberosChecks(c: Config, warnings: string[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const k = c.auth.kerberos;
  const realms = Object.entries(k.realms);
  const domain = c.ldap.netbiosDomain;
  const expected = realmOfBaseDn(c.ldap.baseDn);
  const example = `{ ${expected || 'CORP.EXAMPLE.COM'}: ${domain || 'CORP'} }`;
  if (!realms.length) out.push({ path: 'auth.kerberos.realms', message: `names no realm, so no ticket could sign anyone in: map the AD realm to the domain, e.g. ${example}` });
  if (realms.length > 1) {
    out.push({
      path: 'auth.kerberos.realms',
      message: `names ${realms.length} realms; only one is accepted, the directory's own (${example}): every principal is looked up as ldap.netbiosDomain\\<name>, so a ticket from another realm would sign in as this domain's account of the same name`,
    });
    return out;
  }
  for (const [realm, netbios] of realms) {
    if (!expected) out.push({ path: 'ldap.baseDn', message: 'names no DC= parts, so the realm auth.kerberos.realms must name cannot be told from it: use the domain\'s DN, e.g. DC=corp,DC=example,DC=com' });
    else if (realm !== expected) {
      out.push({ path: `auth.kerberos.realms.${realm}`, message: `must be ${expected}, the DNS name of ldap.baseDn upper-cased: the directory is that realm's domain, and a ticket from another realm would sign in as this domain's account of the same name` });
    }
    if (!domain) out.push({ path: `auth.kerberos.realms.${realm}`, message: 'needs ldap.netbiosDomain: a realm maps to the NetBIOS domain whose sAMAccountName the principal names' });
    else if (netbios.toUpperCase() !== domain.toUpperCase()) {
      out.push({ path: `auth.kerberos.realms.${realm}`, message: `maps to "${netbios}", but the directory knows one domain, ldap.netbiosDomain "${domain}": map the realm to it` });
    }
  }
  const host = new URL(c.server.publicUrl).hostname.toLowerCase();
  const spnHost = k.servicePrincipal.slice('HTTP/'.length).toLowerCase();
  if (spnHost !== host) warnings.push(`auth.kerberos.servicePrincipal is ${k.servicePrincipal} but server.publicUrl's host is ${host}: browsers ask the KDC for HTTP/<the host they see>, so a sign-in only works on a name the SPN matches`);
  return out;
}

/**
 * The key path whose networks the second factor judges client addresses against, if any: `mfa.require: outside`
 * (trustedNetworks), or a non-empty `mfa.enrolFrom` (by default `mfa.trustedNetworks`) for enrolment without a link.
 */
export function mfaNetworksInUse(c: Pick<Config, 'mfa'>): string | undefined {
  if (c.mfa.require === 'outside') return 'mfa.require';
  if (c.mfa.enrolFrom !== undefined) return c.mfa.enrolFrom.length ? 'mfa.enrolFrom' : undefined;
  return c.mfa.trustedNetworks.length ? 'mfa.trustedNetworks' : undefined;
}

/** Wider than /16 (IPv4) or /48 (IPv6): a whole site, never one load balancer. */
const WIDEST_PREFIX = { ipv4: 16, ipv6: 48 } as const;

/** Why a trustProxy value trusts more than a load balancer, one reason per entry; empty when it names only proxies. */
export function trustWiderThanProxy(trustProxy: string | boolean | number, overlaps: readonly TrustOverlap[]): string[] {
  if (trustProxy === false || trustProxy === 0) return [];
  if (trustProxy === true) return ['true trusts every peer'];
  if (typeof trustProxy === 'number') return [`a hop count (${trustProxy}) trusts whichever peer connects`];
  const out: string[] = [];
  for (const entry of trustProxy.split(',').map((e) => e.trim()).filter(Boolean)) {
    if (entry === 'uniquelocal' || entry === 'linklocal') {
      out.push(`"${entry}" trusts every private address`);
      continue;
    }
    const net = networkOf(entry);
    const prefix = net ? Number(net.cidr.split('/')[1]) : undefined;
    if (net && prefix !== undefined && prefix < WIDEST_PREFIX[net.family]) out.push(`"${entry}" is a /${prefix}, wider than a load balancer`);
  }
  for (const o of overlaps) out.push(`"${o.entry}" covers this host's own network ${o.network} (${o.iface}), where a container runtime's port proxy connects from`);
  return out;
}

/** Refuses a trustProxy wider than a load balancer while a trusted or enrolment network decides about the second factor. */
function mfaTrustProblem(c: Config, overlaps: readonly TrustOverlap[]): ConfigProblem | undefined {
  const uses = mfaNetworksInUse(c);
  if (!uses) return undefined;
  const why = trustWiderThanProxy(c.server.trustProxy, overlaps);
  if (!why.length) return undefined;
  return {
    path: 'server.trustProxy',
    message:
      `${why.join('; ')}. With ${uses} deciding from the client address who is asked for a second factor or may enrol one, ` +
      'a client could write X-Forwarded-For to claim a trusted network and skip it: name exactly the load balancer\'s address(es)',
  };
}

/** A second factor is asked of someone: by `require`, or for members of `requireForGroups`. */
export function mfaConfigured(c: Pick<Config, 'mfa'>): boolean {
  return c.mfa.require !== 'never' || c.mfa.requireForGroups.length > 0;
}

/** Files the gateway reads at start: a path that cannot be read fails the check, not `serve`. */
const FILE_KEYS = ['ldap.bindPasswordFile', 'ldap.caFile', 'session.secretFile', 'sentry.tokenFile', 'server.metricsTokenFile', 'mfa.keyFile', 'auth.kerberos.keytabFile'];
/**
 * Secret files that have a default path: checked only where the feature that reads them is on (with `onlyWhenOn`,
 * also a path that is set: a keytab may be put in place before Kerberos is switched on).
 */
const DEFAULT_FILE_KEYS: Record<string, { fallback: string; on: (doc: Record<string, unknown>) => boolean; onlyWhenOn?: true }> = {
  'auth.kerberos.keytabFile': {
    fallback: '/run/secrets/http.keytab',
    on: (doc) => (doc.auth as { kerberos?: { enabled?: unknown } } | undefined)?.kerberos?.enabled === true,
    onlyWhenOn: true,
  },
  'mfa.keyFile': {
    fallback: '/run/secrets/mfa_key',
    on: (doc) => {
      const m = doc.mfa as { require?: unknown; requireForGroups?: unknown } | undefined;
      return (m?.require !== undefined && m.require !== 'never') || (Array.isArray(m?.requireForGroups) && m.requireForGroups.length > 0);
    },
  },
};

/** Runs on the raw document so missing files are reported alongside schema problems. */
function fileChecks(doc: Record<string, unknown>): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const path of FILE_KEYS) {
    let file = path.split('.').reduce<unknown>((n, k) => (typeof n === 'object' && n !== null ? (n as Record<string, unknown>)[k] : undefined), doc);
    const dflt = DEFAULT_FILE_KEYS[path];
    if (dflt?.onlyWhenOn && !dflt.on(doc)) continue;
    if (file === undefined && dflt?.on(doc)) file = dflt.fallback;
    if (typeof file !== 'string' || !file) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      out.push({ path, message: code === 'ENOENT' ? `file not found: ${file}` : `file not readable: ${file} (${code})` });
      continue;
    }
    // The factor key file is checked for what it holds too, so a bad one stops `serve` at start, not at the first enrolment.
    if (path === 'mfa.keyFile') {
      const bad = keyFileProblem(file);
      if (bad) out.push({ path, message: bad });
    }
  }
  return out;
}

/** What is wrong with mfa.keyFile (missing, unreadable, or not one 32-byte base64 key a line), naming the file and never its content. */
export function keyFileProblem(file: string): string | undefined {
  try {
    accessSync(file, constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `file not found: ${file}` : `file not readable: ${file} (${code})`;
  }
  try {
    parseKeyLines(readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean));
  } catch (e) {
    return `${(e as Error).message.replace(/^mfa\.keyFile /, '')} (${file})`;
  }
  return undefined;
}

export function configPathFrom(args: { config?: string }, env: Record<string, string | undefined>): string {
  return args.config ?? env.SAG_CONFIG ?? 'config/gateway.yaml';
}
