// Gives tests the DC that the test runner started (see src/dev/sambaDc.ts), via SAG_TEST_DC.
import { readFile } from 'node:fs/promises';
import { runSambaTool, type SambaDcInfo } from '../../src/dev/sambaDc.js';
import type { Config } from '../../src/config/schema.js';

export type { SambaDcInfo } from '../../src/dev/sambaDc.js';

export function testDc(): SambaDcInfo {
  const raw = process.env['SAG_TEST_DC'];
  if (!raw) {
    throw new Error(
      'SAG_TEST_DC is not set: run the tests through `npm test`, or start a DC with ' +
        '`npx tsx src/dev/sambaDc.ts DIR` and export its JSON output as SAG_TEST_DC',
    );
  }
  return JSON.parse(raw) as SambaDcInfo;
}

/** Runs samba-tool against the test DC's database (e.g. ['user', 'unlock', 'lockme']). */
export function sambaTool(args: string[]): Promise<string> {
  return runSambaTool(testDc().smbConf, args);
}

/** An `ldap` config section pointing at the test DC over LDAPS with full certificate checks. */
export function testLdapConfig(overrides: Partial<Config['ldap']> = {}): Config['ldap'] {
  const dc = testDc();
  return {
    urls: [dc.ldapsUrl],
    startTls: false,
    caFile: dc.caFile,
    tlsRejectUnauthorized: true,
    tlsServerName: dc.serverName,
    bindDn: dc.serviceDn,
    bindPasswordFile: dc.servicePasswordFile,
    baseDn: dc.baseDn,
    netbiosDomain: dc.netbios,
    upnSuffixes: ['corp.example.com', 'staff.example.org'],
    timeout: 5000,
    ...overrides,
  };
}

export async function readServicePassword(): Promise<string> {
  return (await readFile(testDc().servicePasswordFile, 'utf8')).trim();
}
