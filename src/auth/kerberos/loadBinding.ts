// Loads the optional `kerberos` binding (the system GSSAPI), or says why not in words an operator can act on.
// A binding that is missing or cannot load turns Kerberos off, never the gateway: `serve` starts with the password
// form only and says why once; `check-config` prints the same reason.
export interface KerberosBindingModule {
  initializeServer(service: string): Promise<unknown>;
  version?: string;
}

export type BindingLoad = { ok: true; binding: KerberosBindingModule } | { ok: false; why: string };

/** The reason for a failed import, from the error Node or the dynamic linker gave. */
export function bindingProblem(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const first = (err?.message ?? String(e)).split('\n')[0]!;
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && /'kerberos'/.test(first)) {
    return 'the kerberos package is not installed (an install without optional dependencies?)';
  }
  const lib = /(libgssapi[^:\s]*|libkrb5[^:\s]*|libk5crypto[^:\s]*|libcom_err[^:\s]*): cannot open shared object file/.exec(first);
  if (lib) return `the system GSSAPI library is not found (${lib[1]}: install libgssapi-krb5-2)`;
  if (/kerberos\.node/.test(first)) return 'the kerberos package is not built (its native part needs a compiler and libkrb5-dev: npm rebuild kerberos)';
  return `the kerberos package cannot be loaded (${first})`;
}

export async function loadKerberosBinding(): Promise<BindingLoad> {
  try {
    // A variable keeps the type checker from requiring the optional package to be installed.
    const name = 'kerberos';
    const mod = (await import(name)) as { default?: KerberosBindingModule } & Partial<KerberosBindingModule>;
    const binding = typeof mod.initializeServer === 'function' ? (mod as KerberosBindingModule) : mod.default;
    if (!binding || typeof binding.initializeServer !== 'function') return { ok: false, why: 'the kerberos package has no initializeServer (not version 7?)' };
    return { ok: true, binding };
  } catch (e) {
    return { ok: false, why: bindingProblem(e) };
  }
}
