// The configuration contract: every key, its default and its meaning (docs/design.md §4). Unknown keys are errors.
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseCidr } from '../shared/networks.js';

const duration = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `not a duration: "${s}" (use e.g. 90s, 15m, 8h, 7d)` });
        return z.NEVER;
      }
      return ms;
    });

const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' });
const ldapUrl = z
  .string()
  .refine((s) => /^ldaps?:\/\/[^/\s]+\/?$/i.test(s), 'must be ldap://host[:port] or ldaps://host[:port]');
const listen = z
  .string()
  .refine((s) => /^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/.test(s), 'must be HOST:PORT, e.g. 0.0.0.0:8080');
const filePath = z.string().min(1, 'must be a file path');
const cidr = z.string().refine((s) => parseCidr(s) !== undefined, 'must be a CIDR (10.0.0.0/8, 2001:db8::/32) or a single address');

const teamRef = z.strictObject({ slug: z.string().regex(/^[a-z0-9_-]+$/, 'team slugs are lowercase letters, digits, - and _'), role: z.enum(['contributor', 'admin']).optional() });
export const mappingRuleSchema = z.strictObject({
  group: z.string().min(1, 'group must name a sAMAccountName, DN or SID'),
  orgRole: z.enum(['member', 'manager', 'owner']).optional(),
  teams: z.array(teamRef).default([]),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      listen: listen.default('0.0.0.0:8080'),
      publicUrl: httpUrl,
      trustProxy: z.union([z.string(), z.boolean(), z.number()]).default('loopback'),
      metricsListen: z.union([z.literal(''), listen]).default(''),
      // Bearer token for metrics: required on /_gateway/metrics (off on the public port without it) and, when set, on metricsListen.
      metricsTokenFile: filePath.optional(),
      workers: z.number().int().min(0).max(64).default(1),
      // Longest silence between two reads of a request body (nginx's client_body_timeout): then 408 and close.
      bodyTimeout: duration('60s').refine((ms) => ms >= 1, 'must be longer than 0'),
      organizationName: z.string().default('Sentry'),
      // A site path (`/static/logo.svg`) or an https URL; empty shows no logo.
      logoUrl: z
        .string()
        .default('')
        .refine((s) => s === '' || (s.startsWith('/') && !s.startsWith('//')) || /^https:\/\/[^/\s]+(\/\S*)?$/.test(s), 'must be a path starting with / or an https:// URL'),
    }),
  upstream: z.strictObject({
    url: httpUrl,
    ingestUrl: httpUrl.optional(),
    timeout: duration('60s'),
    maxBodyBytes: z.number().int().positive().default(104_857_600),
    // Per pool: signed-in traffic, anonymous traffic (token API, bypass paths) and ingestion each have their own.
    maxConnections: z.number().int().min(1).max(65_536).default(512),
    rewriteOrigins: z.array(httpUrl).default([]),
  }),
  ldap: z.strictObject({
    urls: z.array(ldapUrl).min(1, 'list at least one domain controller'),
    startTls: z.boolean().default(false),
    caFile: filePath.optional(),
    tlsRejectUnauthorized: z.boolean().default(true),
    tlsServerName: z.string().optional(),
    bindDn: z.string().min(1),
    bindPasswordFile: filePath,
    baseDn: z.string().min(1),
    netbiosDomain: z.string().default(''),
    upnSuffixes: z.array(z.string()).default([]),
    timeout: duration('5s'),
    // User binds in flight at once, per process; past it a sign-in waits up to bindQueueTimeout, then gets 503.
    maxConcurrentBinds: z.number().int().positive().max(1000).default(16),
    bindQueueTimeout: duration('2s'),
  }),
  access: z
    .strictObject({
      allowGroups: z.array(z.string()).default([]),
      denyGroups: z.array(z.string()).default([]),
      adminGroups: z.array(z.string()).default([]),
    })
    .prefault({}),
  throttle: z
    .strictObject({
      perUser: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
      perAddress: z.number().int().positive().default(20),
      window: duration('15m'),
    })
    .prefault({}),
  session: z
    .strictObject({
      redisUrl: z.string().default(''),
      secretFile: filePath.optional(),
      cookieName: z.string().regex(/^[A-Za-z0-9_-]+$/).default('sag_session'),
      idleTimeout: duration('8h'),
      absoluteTimeout: duration('7d'),
      revalidateInterval: duration('5m'),
    })
    .prefault({}),
  sentry: z
    .strictObject({
      url: httpUrl.optional(),
      organization: z.string().default(''),
      tokenFile: filePath.optional(),
      provisionOnLogin: z.boolean().default(true),
      loginTimeout: duration('3s'),
      sync: z
        .strictObject({
          interval: duration('15m'),
          removeMembers: z.boolean().default(false),
          maxRemovalsPercent: z.number().min(0).max(100).default(10),
        })
        .prefault({}),
    })
    .prefault({}),
  mapping: z
    .strictObject({
      defaultOrgRole: z.enum(['member', 'manager', 'owner']).default('member'),
      rules: z.array(mappingRuleSchema).default([]),
    })
    .prefault({}),
  assertion: z
    .strictObject({
      header: z.string().regex(/^[A-Za-z0-9-]+$/).default('X-Sentry-Gateway-Assertion'),
      algorithm: z.enum(['ES256', 'EdDSA']).default('ES256'),
      ttl: duration('60s'),
      keysDir: filePath.default('/var/lib/sentry-ad-gateway/keys'),
      audience: z.string().default('sentry'),
    })
    .prefault({}),
  bypass: z
    .strictObject({
      ingestion: z.boolean().default(true),
      tokenApi: z.boolean().default(true),
      paths: z.array(z.string().regex(/^\/[^\s]*$/, 'must be a path prefix starting with /')).default([]),
    })
    .prefault({}),
  mfa: z
    .strictObject({
      // never | always | outside (= from client addresses not in trustedNetworks).
      require: z.enum(['never', 'always', 'outside']).default('never'),
      trustedNetworks: z.array(cidr).default([]),
      // AD groups (sAMAccountName, DN or SID; nested) whose members always need a second factor.
      requireForGroups: z.array(z.string().min(1, 'must name a sAMAccountName, DN or SID')).default([]),
      // Where a first factor may be enrolled without a link; unset = trustedNetworks.
      enrolFrom: z.array(cidr).optional(),
      methods: z
        .array(z.enum(['webauthn', 'totp']))
        .min(1, 'list at least one of webauthn, totp')
        .refine((m) => new Set(m).size === m.length, 'lists a method twice')
        .default(['webauthn', 'totp']),
      keyFile: filePath.default('/run/secrets/mfa_key'),
      webauthn: z
        .strictObject({
          userVerification: z.enum(['required', 'preferred', 'discouraged']).default('preferred'),
        })
        .prefault({}),
    })
    .prefault({}),
  auth: z
    .strictObject({
      // Sign-in without typing from domain-joined machines (SPNEGO on GET /_gateway/login; docs/kerberos.md).
      kerberos: z
        .strictObject({
          enabled: z.boolean().default(false),
          // The service's keys (samba-tool domain exportkeytab / ktpass); a secret file, re-read on SIGHUP.
          keytabFile: filePath.default('/run/secrets/http.keytab'),
          // HTTP/<the host name browsers use>; browsers ask the KDC for a ticket to exactly this name.
          servicePrincipal: z
            .string()
            .regex(/^HTTP\/[A-Za-z0-9.-]+$/, 'must be HTTP/ followed by the host name browsers use, e.g. HTTP/sentry.example.com')
            .default('HTTP/sentry.example.com'),
          // Kerberos realm (upper case) -> the NetBIOS domain whose sAMAccountName the principal's name part is. Exactly one
          // entry, the DNS name of ldap.baseDn (loadConfig.ts): a second realm would sign its people in as this domain's.
          realms: z
            .record(z.string().regex(/^[A-Z0-9.-]+$/, 'a realm is upper case, e.g. CORP.EXAMPLE.COM'), z.string().min(1))
            .default({}),
          // Offer Negotiate only to client addresses in these CIDRs (server.trustProxy decides the address); empty = everyone.
          networks: z.array(cidr).default([]),
          // everyone: the password form stays for all; outsideNetworks: inside `networks` only Kerberos signs in.
          passwordForm: z.enum(['everyone', 'outsideNetworks']).default('everyone'),
        })
        .prefault({}),
    })
    .prefault({}),
  ui: z
    .strictObject({
      // The hint under the sign-in page's username field, per language; unset, it is built from ldap.netbiosDomain and ldap.upnSuffixes.
      usernameHint: z.strictObject({ en: z.string().optional(), 'zh-CN': z.string().optional() }).prefault({}),
    })
    .prefault({}),
  // The nginx mode (docs/nginx-mode.md): nginx carries the bytes and asks GET /_gateway/auth for each decision.
  nginx: z
    .strictObject({
      enabled: z.boolean().default(false),
      // How long nginx may reuse a session's decision; below assertion.ttl. 0s: every request is asked.
      decisionCache: duration('0s'),
      // Where nginx keeps cached decisions (proxy_cache_path) when decisionCache is above 0s.
      cacheDir: z.string().regex(/^\/[^\s;{}"'$\\]*$/, 'must be an absolute path without spaces or nginx syntax').default('/run/sentry-ad-gateway-decisions'),
      // Where nginx reaches the gateway; unset, server.listen (0.0.0.0 and :: become loopback).
      gatewayUrl: httpUrl.optional(),
      // nginx's listen directive for the generated server block.
      listen: z.string().regex(/^[^\s;{}]+$/, 'must be one listen address, e.g. 80 or 0.0.0.0:80').default('80'),
      // The load balancers in front of nginx whose X-Forwarded-For it believes (set_real_ip_from); empty: none.
      realIpFrom: z.array(cidr).default([]),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type MappingRule = z.output<typeof mappingRuleSchema>;
