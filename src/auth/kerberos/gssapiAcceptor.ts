// KerberosAcceptor over the system GSSAPI through the optional `kerberos` binding: one server context per token.
//
// The binding reads its keys from KRB5_KTNAME. That points at a private copy of auth.kerberos.keytabFile, so a
// half-written file on disk is never read, and reload() swaps the copy with a rename (a context already accepting
// keeps the file it opened). MIT's own replay cache lives per host in /var/tmp: it is off here, the flow keeps
// one in Redis that every replica shares (negotiate.ts).
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KerberosRejected, type KerberosAcceptance, type KerberosAcceptor, type KerberosFailure } from './acceptor.js';
import { classifyTokenBytes } from './tokenBytes.js';

/** What the gateway uses of the binding (kerberos 7.x). */
export interface KerberosBinding {
  initializeServer(service: string): Promise<{ step(token: string): Promise<string>; username: string; response: string; contextComplete: boolean }>;
}

export type BindingLoad = { ok: true; binding: KerberosBinding } | { ok: false; why: string };

/** The optional binding, or why not: a missing or unbuildable binding turns Kerberos off, never the gateway. */
export async function loadKerberosBinding(): Promise<BindingLoad> {
  try {
    // A variable keeps the type checker from requiring the optional package to be installed.
    const name = 'kerberos';
    const mod = (await import(name)) as { default?: KerberosBinding } & Partial<KerberosBinding>;
    const binding = typeof mod.initializeServer === 'function' ? (mod as KerberosBinding) : mod.default;
    if (!binding || typeof binding.initializeServer !== 'function') return { ok: false, why: 'the kerberos package has no initializeServer' };
    return { ok: true, binding };
  } catch (e) {
    return { ok: false, why: `the kerberos package cannot be loaded (${(e as Error).message.split('\n')[0]})` };
  }
}

/** A keytab file starts with 0x05 and format version 0x01 or 0x02, and holds at least one entry. */
export function checkKeytabBytes(bytes: Buffer): string | null {
  if (bytes.length === 0) return 'the keytab is empty';
  if (bytes[0] !== 0x05 || (bytes[1] !== 0x01 && bytes[1] !== 0x02)) return 'not a keytab (no 0x05 0x01/0x02 header)';
  if (bytes.length < 6) return 'the keytab holds no entries';
  return null;
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
  readonly #dir: string;
  readonly #keytab: string;
  readonly #service: string;
  readonly #source: string;
  readonly #binding: KerberosBinding;

  /** Throws when the configured keytab cannot be used (the caller turns Kerberos off and says why). */
  constructor(opts: GssapiAcceptorOptions) {
    this.#binding = opts.binding;
    this.#source = opts.keytabFile;
    this.#service = hostBasedService(opts.servicePrincipal);
    this.#dir = mkdtempSync(join(tmpdir(), 'sag-keytab-'));
    this.#keytab = join(this.#dir, 'keytab');
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
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #swapIn(): void {
    const bytes = readFileSync(this.#source);
    const bad = checkKeytabBytes(bytes);
    if (bad) throw new Error(`${this.#source}: ${bad}`);
    const next = `${this.#keytab}.next`;
    writeFileSync(next, bytes, { mode: 0o600 });
    renameSync(next, this.#keytab);
  }
}

export type AcceptorBuild = { ok: true; acceptor: GssapiAcceptor } | { ok: false; why: string };

/** The acceptor for auth.kerberos, or why Kerberos is off (no binding, no usable keytab): the gateway starts either way. */
export async function buildGssapiAcceptor(opts: Omit<GssapiAcceptorOptions, 'binding'>, load: () => Promise<BindingLoad> = loadKerberosBinding): Promise<AcceptorBuild> {
  const loaded = await load();
  if (!loaded.ok) return loaded;
  try {
    return { ok: true, acceptor: new GssapiAcceptor({ ...opts, binding: loaded.binding }) };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
}


