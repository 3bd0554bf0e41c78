// What `check-config` says about auth.kerberos: the binding loads, the keytab holds the service principal's keys
// (kvnos and enctypes), and with --connect that one of its kvnos is the one the KDC puts in tickets today.
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { EqualityFilter } from 'ldapts';
import type { Config } from '../../config/schema.js';
import type { DcConnections } from '../../directory/dcConnections.js';
import { str } from '../../directory/ldapValues.js';
import { describeKeys, isAesEnctype, readKeytab, type KeytabEntry } from './keytab.js';
import { describeKeytabPlace, keytabParents, placeKeytab } from './keytabPlace.js';
import type { BindingLoad } from './loadBinding.js';

export interface KerberosCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface KerberosCheckResult {
  checks: KerberosCheck[];
  warnings: string[];
  /** The service principal's entries in the keytab, for the --connect kvno check; empty when the keytab is unusable. */
  entries: KeytabEntry[];
}

/** The binding and the keytab: local, so checked with or without --connect. */
export async function checkKerberosLocal(k: Config['auth']['kerberos'], binding: BindingLoad, parents = keytabParents()): Promise<KerberosCheckResult> {
  const checks: KerberosCheck[] = [];
  const warnings: string[] = [];
  checks.push(
    binding.ok
      ? { name: 'kerberos binding', ok: true, detail: `loaded${binding.binding.version ? ` (kerberos ${binding.binding.version})` : ''}` }
      : { name: 'kerberos binding', ok: false, detail: `Kerberos stays off (the password form only): ${binding.why}` },
  );
  let all: KeytabEntry[];
  try {
    all = await readKeytab(k.keytabFile);
  } catch (e) {
    checks.push({ name: 'auth.kerberos.keytabFile', ok: false, detail: (e as Error).message });
    return { checks, warnings, entries: [] };
  }
  const wanted = Object.keys(k.realms).map((realm) => `${k.servicePrincipal}@${realm}`);
  const entries = all.filter((e) => wanted.includes(e.principal));
  if (!entries.length) {
    const held = [...new Set(all.map((e) => e.principal))].join(', ');
    checks.push({ name: 'auth.kerberos.keytabFile', ok: false, detail: `${k.keytabFile} holds no key for ${wanted.join(' or ') || k.servicePrincipal}; it holds ${held}` });
    return { checks, warnings, entries: [] };
  }
  for (const principal of new Set(entries.map((e) => e.principal))) {
    checks.push({ name: 'auth.kerberos.keytabFile', ok: true, detail: `${principal}: ${describeKeys(entries, principal)}` });
  }
  // Where serve will read the keys from: made and removed here, so the answer is this filesystem's, not a guess.
  const place = placeKeytab(k.keytabFile, parents, false);
  if (place.how === 'copy') rmSync(place.dir, { recursive: true, force: true });
  checks.push({ name: 'kerberos keytab copy', ok: true, detail: `serve reads the keys from ${place.how === 'copy' ? `a private copy in ${dirname(place.dir)}` : describeKeytabPlace(place)}` });
  if (place.how === 'in place') warnings.push(place.warning);
  if (!entries.some((e) => isAesEnctype(e.enctype))) {
    warnings.push(
      `auth.kerberos.keytabFile holds no AES key for ${k.servicePrincipal}: current Windows KDCs issue AES tickets only; ` +
        'give the account AES keys (msDS-SupportedEncryptionTypes, then a new password and keytab; docs/kerberos.md)',
    );
  }
  return { checks, warnings, entries };
}

/**
 * With --connect: the kvno of the account holding the SPN (msDS-KeyVersionNumber, read as the service account) is
 * one the keytab holds, or every ticket the KDC issues now fails to decrypt. The SPN goes out as a filter object,
 * so nothing in it is read as filter syntax.
 */
export async function checkKerberosKvno(k: Config['auth']['kerberos'], baseDn: string, dcs: DcConnections, entries: readonly KeytabEntry[]): Promise<KerberosCheck> {
  const name = 'kerberos kvno';
  let found: { account: string; kvno: string }[];
  try {
    const res = await dcs.withService('read_spn', (c) =>
      c.search(baseDn, {
        scope: 'sub',
        filter: new EqualityFilter({ attribute: 'servicePrincipalName', value: k.servicePrincipal }),
        attributes: ['sAMAccountName', 'msDS-KeyVersionNumber'],
      }),
    );
    found = res.searchEntries.map((e) => ({ account: str(e['sAMAccountName']), kvno: str(e['msDS-KeyVersionNumber']) }));
  } catch (e) {
    return { name, ok: false, detail: `could not search the directory for ${k.servicePrincipal}: ${(e as Error).message}` };
  }
  if (found.length === 0) return { name, ok: false, detail: `no account in the directory holds the SPN ${k.servicePrincipal}: browsers get no ticket for it (setspn -S / samba-tool spn add; docs/kerberos.md)` };
  if (found.length > 1) return { name, ok: false, detail: `${found.length} accounts hold the SPN ${k.servicePrincipal} (${found.map((f) => f.account).join(', ')}): the KDC refuses tickets for a duplicated SPN; keep it on one` };
  const { account, kvno } = found[0]!;
  if (!kvno) return { name, ok: true, detail: `${k.servicePrincipal} is on ${account}; its msDS-KeyVersionNumber is not readable by the service account, so the kvno is not compared` };
  const held = [...new Set(entries.map((e) => e.kvno))].sort((a, b) => a - b);
  if (!held.includes(Number(kvno))) {
    return { name, ok: false, detail: `${account} is at kvno ${kvno}, the keytab holds ${held.join(', ')}: tickets issued now cannot be decrypted; export the keytab again` };
  }
  return { name, ok: true, detail: `${account} is at kvno ${kvno}, which the keytab holds` };
}
