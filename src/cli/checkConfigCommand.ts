// `check-config [--connect]`: validate everything at once; with --connect also try LDAP, Redis and Sentry for real.
import { readFileSync } from 'node:fs';
import { unprotectedPolicyWarnings } from '../auth/explainLockout.js';
import { LdapDirectory } from '../directory/ldapDirectory.js';
import { createRedis } from '../redis/createRedis.js';
import { urlPrefixAdvice } from '../http/i18n.js';
import { checkSentryUrlPrefix } from '../sentry/urlPrefix.js';
import { SecretFile } from '../shared/secretFile.js';
import { cliLogger, loadOrExit, type CommonFlags } from './common.js';
import { checkRedisDurability } from '../mfa/redisDurability.js';
import { MFA_PEOPLE_KEY } from '../mfa/factorStore.js';
import { keyFileProblem, mfaConfigured } from '../config/loadConfig.js';
import { checkKerberosKvno, checkKerberosLocal } from '../auth/kerberos/kerberosChecks.js';
import { loadKerberosBinding } from '../auth/kerberos/loadBinding.js';
import { DcConnections } from '../directory/dcConnections.js';

/** How many people have a second factor, read with a short-lived client of its own. */
async function enrolledCount(url: string): Promise<number> {
  const redis = createRedis(url, { enableOfflineQueue: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    return await redis.scard(MFA_PEOPLE_KEY);
  } finally {
    redis.disconnect();
  }
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export async function checkConfigCommand(flags: CommonFlags & { connect?: boolean }): Promise<number> {
  const { config, file, warnings } = loadOrExit(flags);
  const checks: Check[] = [];
  // Kerberos's binding and keytab are local: said with or without --connect.
  const krb = config.auth.kerberos;
  const kerberos = krb.enabled ? await checkKerberosLocal(krb, await loadKerberosBinding()) : undefined;
  if (kerberos) {
    checks.push(...kerberos.checks);
    warnings.push(...kerberos.warnings);
  }
  if (flags.connect) {
    const logger = cliLogger(config);
    const bind = new SecretFile(config.ldap.bindPasswordFile);
    const directory = new LdapDirectory({ ldap: config.ldap, readBindPassword: async () => bind.get(), logger });
    try {
      const dcs = await directory.health();
      for (const dc of dcs) {
        checks.push({ name: `ldap ${dc.url}`, ok: dc.ok, detail: dc.ok ? `service account bind ok (${dc.latencyMs} ms)` : (dc.error ?? 'failed') });
      }
      // Thresholds of 1 or 2 (domain or fine-grained): accounts under them can be locked through the gateway.
      if (dcs.some((dc) => dc.ok)) {
        try {
          const all = await directory.allLockoutPolicies();
          warnings.push(...unprotectedPolicyWarnings(all, { perUser: config.throttle.perUser }));
          if (all.fineGrained === 'unreadable') warnings.push('lockout: fine-grained password policies are not readable by the service account: accounts under a stricter one may be locked through the gateway (see docs/operating.md, "Lockout policy")');
        } catch (e) {
          warnings.push(`lockout: could not read the lockout policies: ${(e as Error).message}`);
        }
      }
      if (kerberos?.entries.length && dcs.some((dc) => dc.ok)) {
        const conn = new DcConnections({ ldap: config.ldap, readBindPassword: async () => bind.get(), logger });
        try {
          checks.push(await checkKerberosKvno(krb, config.ldap.baseDn, conn, kerberos.entries));
        } finally {
          await conn.close();
        }
      }
    } finally {
      await directory.close();
      bind.close();
    }
    if (config.session.redisUrl) {
      const redis = createRedis(config.session.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      redis.on('error', () => undefined);
      try {
        const pong = await redis.ping();
        checks.push({ name: 'redis', ok: pong === 'PONG', detail: `answered ${pong}` });
      } catch (e) {
        checks.push({ name: 'redis', ok: false, detail: (e as Error).message });
      } finally {
        redis.disconnect();
      }
      // Someone enrolled while the policy asks nobody: the sign-in still checks their factor, which needs the key file.
      if (!mfaConfigured(config)) {
        const enrolled = await enrolledCount(config.session.redisUrl).catch(() => 0);
        const bad = enrolled > 0 ? keyFileProblem(config.mfa.keyFile) : undefined;
        if (bad) checks.push({ name: 'mfa.keyFile', ok: false, detail: `${enrolled} ${enrolled === 1 ? 'person has' : 'people have'} a second factor, so the key file is needed: ${bad}` });
      }
      const durability = await checkRedisDurability(config);
      if (!Array.isArray(durability)) checks.push({ name: 'redis durability', ok: false, detail: durability.unreachable });
      else for (const p of durability) checks.push({ name: `redis ${p.setting}`, ok: false, detail: p.message });
    } else {
      checks.push({ name: 'redis', ok: true, detail: 'not configured: in-memory sessions (development only)' });
    }
    if (config.sentry.tokenFile && config.sentry.organization) {
      const base = (config.sentry.url ?? config.upstream.url).replace(/\/$/, '');
      const token = readFileSync(config.sentry.tokenFile, 'utf8').trim();
      try {
        const res = await fetch(`${base}/api/0/organizations/${encodeURIComponent(config.sentry.organization)}/`, {
          headers: { Authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(10_000),
        });
        checks.push({ name: 'sentry api', ok: res.ok, detail: res.ok ? `organization "${config.sentry.organization}" reachable with the token` : `HTTP ${res.status}` });
        // Said only when it is wrong (or cannot be read while the API answers): a match needs no line.
        const prefix = await checkSentryUrlPrefix({ apiBase: base, organization: config.sentry.organization, token, publicUrl: config.server.publicUrl });
        if (prefix.status === 'mismatch') checks.push({ name: 'sentry url-prefix', ok: false, detail: urlPrefixAdvice(prefix) });
        else if (prefix.status === 'unknown' && res.ok) warnings.push(`could not read Sentry's system.url-prefix: ${prefix.reason}`);
      } catch (e) {
        checks.push({ name: 'sentry api', ok: false, detail: (e as Error).message });
      }
    } else {
      checks.push({ name: 'sentry api', ok: true, detail: 'skipped: sentry.organization or sentry.tokenFile not set' });
    }
  }
  const ok = checks.every((c) => c.ok);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ ok, file, warnings, checks }, null, 2) + '\n');
  } else {
    process.stdout.write(`${file}: configuration is valid\n`);
    for (const w of warnings) process.stdout.write(`  warning: ${w}\n`);
    for (const c of checks) process.stdout.write(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}\n`);
  }
  return ok ? 0 : 1;
}
