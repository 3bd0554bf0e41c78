// Changes the service account's password in AD with its own rights (unicodePwd delete-old/add-new over an encrypted connection).
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { Attribute, Change, Client, InvalidCredentialsError, ResultCodeError } from 'ldapts';
import type { Config } from '../config/schema.js';
import { GatewayError, type ErrorCode } from '../errors.js';
import { parseAdSubCode } from './adErrors.js';

/** Why a change failed: a password code of ErrorCode, each described there. */
export class PasswordChangeError extends GatewayError {
  constructor(
    code: Extract<ErrorCode, 'GW_PASSWORD_POLICY' | 'GW_PASSWORD_OLD_REFUSED' | 'GW_PASSWORD_NEEDS_TLS' | 'GW_PASSWORD_CHANGE_FAILED'>,
    message: string,
    /** AD's own words (e.g. `0000052D: Constraint violation - … password is too young`), for the operator. */
    readonly adMessage?: string,
  ) {
    super(code, message);
    this.name = 'PasswordChangeError';
  }
}

type LdapSettings = Config['ldap'];

/** AD's unicodePwd value: the password in double quotes, UTF-16LE. */
function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}

async function tlsOptions(ldap: LdapSettings): Promise<tls.ConnectionOptions> {
  const opts: tls.ConnectionOptions = { rejectUnauthorized: ldap.tlsRejectUnauthorized };
  if (ldap.caFile) opts.ca = await readFile(ldap.caFile);
  if (ldap.tlsServerName) {
    const name = ldap.tlsServerName;
    if (!net.isIP(name)) opts.servername = name;
    opts.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(name, cert);
  }
  return opts;
}

/** Opens an encrypted connection to `url` (LDAPS, or StartTLS on ldap://); plain LDAP is refused before any credential is sent. */
async function openEncrypted(ldap: LdapSettings, url: string): Promise<Client> {
  const secure = /^ldaps:/i.test(url);
  if (!secure && !ldap.startTls) throw new PasswordChangeError('GW_PASSWORD_NEEDS_TLS', `${url} is plain LDAP and ldap.startTls is off: AD only changes passwords over LDAPS or StartTLS`);
  const opts = await tlsOptions(ldap);
  const client = new Client({ url, timeout: ldap.timeout, connectTimeout: ldap.timeout, strictDN: false, ...(secure ? { tlsOptions: opts } : {}) });
  if (!secure) await client.startTLS(opts);
  return client;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]!.slice(0, 300) : String(e);
}

/**
 * One modify with delete-old/add-new: AD treats that as a password *change* (allowed to the account
 * itself, subject to history, minimum age and complexity), unlike a replace, which is a reset and
 * needs an administrator. Tries DCs in order only while they cannot be reached.
 */
export async function changeOwnPassword(ldap: LdapSettings, oldPassword: string, newPassword: string): Promise<{ dc: string }> {
  let lastError: unknown;
  for (const url of ldap.urls) {
    let client: Client | undefined;
    try {
      client = await openEncrypted(ldap, url);
      try {
        await client.bind(ldap.bindDn, oldPassword);
      } catch (e) {
        if (e instanceof InvalidCredentialsError) {
          throw new PasswordChangeError('GW_PASSWORD_OLD_REFUSED', `AD refused the current password from the file (sub-code ${parseAdSubCode(e.message) ?? 'none'}): nothing changed`, describe(e));
        }
        throw e;
      }
      try {
        await client.modify(ldap.bindDn, [
          new Change({ operation: 'delete', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(oldPassword)] }) }),
          new Change({ operation: 'add', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(newPassword)] }) }),
        ]);
      } catch (e) {
        // 19 constraintViolation carries 0000052D (policy); AD answers a wrong old value the same way with another text.
        if (e instanceof ResultCodeError) throw new PasswordChangeError('GW_PASSWORD_POLICY', `AD refused the new password: ${describe(e)}`, describe(e));
        throw e;
      }
      return { dc: url };
    } catch (e) {
      if (e instanceof PasswordChangeError) throw e;
      if (e instanceof ResultCodeError) throw new PasswordChangeError('GW_PASSWORD_CHANGE_FAILED', `${url} refused: ${describe(e)}`, describe(e));
      lastError = e;
    } finally {
      await client?.unbind().catch(() => {});
    }
  }
  throw new PasswordChangeError('GW_PASSWORD_CHANGE_FAILED', `no domain controller reachable: ${describe(lastError)}`);
}

export interface BindCheck {
  url: string;
  ok: boolean;
  /** AD answered that the password is wrong (as opposed to being unreachable). */
  refused?: boolean;
  error?: string;
}

/** Binds as the service account with `password` on a fresh connection to each DC; ok when one accepts it and none refuses it. */
export async function verifyServiceBind(ldap: LdapSettings, password: string): Promise<{ ok: boolean; results: BindCheck[] }> {
  const results = await Promise.all(
    ldap.urls.map(async (url): Promise<BindCheck> => {
      let client: Client | undefined;
      try {
        client = await openEncrypted(ldap, url);
        await client.bind(ldap.bindDn, password);
        return { url, ok: true };
      } catch (e) {
        return { url, ok: false, error: describe(e), ...(e instanceof InvalidCredentialsError ? { refused: true } : {}) };
      } finally {
        await client?.unbind().catch(() => {});
      }
    }),
  );
  return { ok: results.some((r) => r.ok) && !results.some((r) => r.refused), results };
}

const LOWER = 'abcdefghijkmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGIT = '23456789';
const SYMBOL = '!#%+-=._~';

/**
 * 32 random characters (about 190 bits) with each of AD's four complexity classes present; no
 * quote or backslash, so the value survives shells and YAML when an operator has to handle it.
 */
export function generatePassword(length = 32): string {
  const all = LOWER + UPPER + DIGIT + SYMBOL;
  const chars = [LOWER, UPPER, DIGIT, SYMBOL].map((set) => set[randomInt(set.length)]!);
  for (let i = chars.length; i < length; i++) chars.push(all[randomInt(all.length)]!);
  // Fisher-Yates, so the guaranteed classes are not always first.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}
