// Writes a complete gateway config for the throwaway DC (demo and tests): YAML file plus secret files, then loads it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../config/loadConfig.js';
import type { Config, ConfigInput } from '../config/schema.js';
import type { SambaDcInfo } from './sambaDc.js';
import { FIXTURE_ACCESS } from './fixtures.js';

export interface DevConfigOptions {
  dir: string;
  dc: SambaDcInfo;
  redisUrl: string;
  upstreamUrl: string;
  listen: string;
  publicUrl: string;
  /** Deep-merged over the defaults below. */
  overrides?: Record<string, unknown>;
}

export const DEMO_RULES = [
  { group: 'SRE', orgRole: 'manager' as const, teams: [{ slug: 'sre', role: 'admin' as const }, { slug: 'backend' }] },
  { group: 'Backend Devs', teams: [{ slug: 'backend' }] },
  { group: '研发部', teams: [{ slug: 'rnd' }] },
];

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export function writeDevConfig(o: DevConfigOptions): { config: Config; file: string } {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const secret = join(o.dir, 'session_secret');
  writeFileSync(secret, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  const doc: ConfigInput = {
    server: { listen: o.listen, publicUrl: o.publicUrl, trustProxy: 'loopback', organizationName: 'Acme Sentry' },
    upstream: { url: o.upstreamUrl, timeout: '30s' },
    ldap: {
      urls: [o.dc.ldapsUrl],
      caFile: o.dc.caFile,
      tlsServerName: o.dc.serverName,
      bindDn: o.dc.serviceDn,
      bindPasswordFile: o.dc.servicePasswordFile,
      baseDn: o.dc.baseDn,
      netbiosDomain: o.dc.netbios,
      upnSuffixes: ['corp.example.com', 'staff.example.org'],
      timeout: '5s',
    },
    access: { allowGroups: [...FIXTURE_ACCESS.allowGroups], denyGroups: [...FIXTURE_ACCESS.denyGroups], adminGroups: [...FIXTURE_ACCESS.adminGroups] },
    session: { redisUrl: o.redisUrl, secretFile: secret },
    assertion: { keysDir: join(o.dir, 'keys') },
    mapping: { rules: DEMO_RULES },
    log: { level: 'info' },
  };
  const file = join(o.dir, 'gateway.yaml');
  writeFileSync(file, stringify(merge(doc as Record<string, unknown>, o.overrides ?? {})));
  const loaded = loadConfig({ file, env: {} });
  if (!loaded.ok) throw new Error(`dev config invalid: ${loaded.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return { config: loaded.config, file };
}
