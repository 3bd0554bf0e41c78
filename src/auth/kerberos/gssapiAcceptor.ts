// KerberosAcceptor over the system GSSAPI through the optional `kerberos` binding: one server context per token.
//
// The binding reads its keys from KRB5_KTNAME. That points at a private copy of auth.kerberos.keytabFile, so a
// half-written file on disk is never read, and reload() swaps the copy with a rename (a context already accepting
// keeps the file it opened). Where no directory is writable for the copy, it points at the file itself
// (keytabPlace.ts) and reload() only checks it. MIT's own replay cache lives per host in /var/tmp: it is off here, the flow keeps
// one in Redis that every replica shares (negotiate.ts).
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { KerberosRejected, type KerberosAcceptance, type KerberosAcceptor, type KerberosFailure } from './acceptor.js';
import { classifyTokenBytes } from './tokenBytes.js';
import { loadKerberosBinding } from './loadBinding.js';
import { parseKeytab } from './keytab.js';
import { placeKeytab, type KeytabPlace } from './keytabPlace.js';

/** What the gateway uses of the binding (kerberos 7.x). */
export interface KerberosBinding {
  initializeServer(service: string): Promise<{ step(token: string): Promise<string>; username: string; response: string; contextComplete: boolean }>;
}

/** The binding as loadBinding.ts found it, typed for what the acceptor calls. */
async function loadAcceptorBinding(): Promise<{ ok: true; binding: KerberosBinding } | { ok: false; why: string }> {
  const loaded = await loadKerberosBinding();
  return loaded.ok ? { ok: true, binding: loaded.binding as unknown as KerberosBinding } : loaded;
}

export { loadKerberosBinding };

/**
 * Why these bytes cannot replace the keytab in use (empty, not a keytab, truncated, or no key for the service
 * principal), or null. A keytab without our principal would refuse every sign-in: the old one stays instead.
 */
export function checkKeytabBytes(bytes: Buffer, servicePrincipal: string, file = 'keytab'): string | null {
  try {
    const entries = parseKeytab(bytes, file);
    if (entries.length === 0) return `${file}: the keytab holds no keys`;
    const ours = entries.some((e) => e.principal.slice(0, e.principal.lastIndexOf('@')) === servicePrincipal);
    return ours ? null : `${file}: no key for ${servicePrincipal}`;
  } catch (e) {
    return (e as Error).message;
  }
}

/** `HTTP/sentry.example.com` → `HTTP@sentry.example.com`, the host-based name GSSAPI takes. */
export function hostBasedService(servicePrincipal: string): string {
  const slash = servicePrincipal.indexOf('/');
  return `${servicePrincipal.slice(0, slash)}@${servicePrincipal.slice(slash + 1)}`;
}

// MIT's words for each reason, as gss_display_status gives them (checked against the test KDC in
// test/integration/kerberos.test.ts). Anything not named here is `rejected`.
const BY_TEXT: [RegExp, KerberosFailure][] = [
  [/wrong principal|no key table entry|not found in keytab|cannot find key|key version number|decrypt integrity|no principal in keytab|server not found/i, 'wrong_service'],
  [/expired|clock skew|not yet valid/i, 'expired'],
  [/replay/i, 'replayed'],
  [/defective token|invalid token|malformed|asn\.?1|token header|bad (?:format|encoding)/i, 'malformed'],
];

export function classifyGssError(text: string): KerberosFailure {
  for (const [re, reason] of BY_TEXT) if (re.test(text)) return reason;
  return 'rejected';
}

export interface GssapiAcceptorOptions {
  keytabFile: string;
  servicePrincipal: string;
  binding: KerberosBinding;
  /** Where the private copy may go, in order (keytabPlace.ts); tests give places that refuse it. */
  parents?: readonly string[];
}

/**
 * KRB5_KTNAME is one per process. A process runs one gateway; where it runs several (tests), they share the
 * newest open one's keytab copy, and closing one points the variable back at another that is still open.
 */
const open: string[] = [];

function pointAt(keytab: string | undefined): void {
  if (keytab) process.env['KRB5_KTNAME'] = `FILE:${keytab}`;
  else delete process.env['KRB5_KTNAME'];
}

export class GssapiAcceptor implements KerberosAcceptor {
  readonly place: KeytabPlace;
  readonly #keytab: string;
  readonly #service: string;
  readonly #source: string;
  readonly #principal: string;
  readonly #binding: KerberosBinding;

  /** Throws when the configured keytab cannot be used (the caller turns Kerberos off and says why). */
  constructor(opts: GssapiAcceptorOptions) {
    this.#binding = opts.binding;
    this.#source = opts.keytabFile;
    this.#principal = opts.servicePrincipal;
    this.#service = hostBasedService(opts.servicePrincipal);
    this.place = placeKeytab(opts.keytabFile, opts.parents);
    this.#keytab = this.place.keytab;
    try {
      this.#swapIn();
    } catch (e) {
      this.close();
      throw e;
    }
    // Process-wide: the binding has no per-context keytab or replay-cache setting.
    open.push(this.#keytab);
    pointAt(this.#keytab);
    process.env['KRB5RCACHETYPE'] = 'none';
  }

  async accept(token: string): Promise<KerberosAcceptance> {
    // Bytes first: a token we can tell apart without GSSAPI never reaches it (bounded work, no parser of ours for Kerberos).
    const early = classifyTokenBytes(token);
    if (early) throw new KerberosRejected(early, early === 'ntlm' ? 'NTLM under Negotiate' : 'not a GSS token');
    let server;
    try {
      server = await this.#binding.initializeServer(this.#service);
    } catch (e) {
      throw new KerberosRejected('wrong_service', `acquiring the service's credentials: ${(e as Error).message}`);
    }
    try {
      await server.step(token);
    } catch (e) {
      const text = (e as Error).message;
      throw new KerberosRejected(classifyGssError(text), text);
    }
    // One round trip or none: a context that asks for more (NTLM, NegoEx) is not a Kerberos sign-in.
    if (!server.contextComplete) throw new KerberosRejected('rejected', 'GSSAPI asked for another round trip');
    if (!server.username) throw new KerberosRejected('rejected', 'GSSAPI named no client');
    return { principal: server.username, ...(server.response ? { mutualToken: server.response } : {}) };
  }

  async reload(): Promise<void> {
    this.#swapIn();
  }

  close(): void {
    const at = open.indexOf(this.#keytab);
    if (at !== -1) {
      open.splice(at, 1);
      pointAt(open.at(-1));
    }
    if (this.place.how === 'copy') rmSync(this.place.dir, { recursive: true, force: true });
  }

  #swapIn(): void {
    const bytes = readFileSync(this.#source);
    const bad = checkKeytabBytes(bytes, this.#principal, this.#source);
    if (bad) throw new Error(bad);
    if (this.place.how === 'in place') return;
    const next = `${this.#keytab}.next`;
    writeFileSync(next, bytes, { mode: 0o600 });
    renameSync(next, this.#keytab);
  }
}

/** `cause`: `binding` stays off until a restart; `keytab` can come on at the next SIGHUP with a usable file. */
export type AcceptorBuild = { ok: true; acceptor: GssapiAcceptor } | { ok: false; why: string; cause: 'binding' | 'keytab' };

/** The acceptor for auth.kerberos, or why Kerberos is off (no binding, no usable keytab): the gateway starts either way. */
export async function buildGssapiAcceptor(opts: Omit<GssapiAcceptorOptions, 'binding'>, load = loadAcceptorBinding): Promise<AcceptorBuild> {
  const loaded = await load();
  if (!loaded.ok) return { ...loaded, cause: 'binding' };
  try {
    return { ok: true, acceptor: new GssapiAcceptor({ ...opts, binding: loaded.binding }) };
  } catch (e) {
    return { ok: false, why: (e as Error).message, cause: 'keytab' };
  }
}


