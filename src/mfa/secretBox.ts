// Factor secrets at rest: AES-256-GCM under the keys of mfa.keyFile (one base64 key a line; the first encrypts, all decrypt).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { parseKeyLines, type SecretKey } from '../shared/keyLines.js';

const VERSION = 'v1';

/** The associated data binding a factor secret to its person and its factor: moved elsewhere, it no longer decrypts. */
export const factorAad = (guid: string, factorId: string) => `sag-mfa:${guid}:${factorId}`;

export class SecretBox {
  #keys: SecretKey[] | undefined;

  /**
   * `lines` is re-read on every use, so a rotated key file takes effect without a restart. With `lazy`, nothing is
   * read until a secret is sealed or opened (commands that never touch a secret need no key file).
   */
  constructor(
    private readonly lines: () => readonly string[],
    opts: { lazy?: boolean } = {},
  ) {
    if (!opts.lazy) this.#keys = parseKeyLines(lines());
  }

  #current(): SecretKey[] {
    try {
      this.#keys = parseKeyLines(this.lines());
    } catch (e) {
      // A half-written key file keeps the keys last read; with none read yet, the problem is the answer.
      if (!this.#keys) throw e;
    }
    return this.#keys;
  }

  /** The id of the key new secrets are encrypted under. */
  currentKeyId(): string {
    return (this.#current()[0] as SecretKey).id;
  }

  seal(plaintext: string, aad: string): string {
    const k = this.#current()[0] as SecretKey;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', k.key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, k.id, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The key id a sealed value was encrypted under (for re-encryption), or undefined if it is not one. */
  static keyIdOf(sealed: string): string | undefined {
    const parts = sealed.split('.');
    return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
  }

  open(sealed: string, aad: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new GatewayError('GW_MFA_SECRET_UNREADABLE', 'a stored factor secret is not in a known format');
    const [, kid, iv, ct, tag] = parts as [string, string, string, string, string];
    const k = this.#current().find((x) => x.id === kid);
    if (!k) throw new GatewayError('GW_MFA_SECRET_UNREADABLE', `a stored factor secret was encrypted under key ${kid}, which mfa.keyFile no longer holds`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', k.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new GatewayError('GW_MFA_SECRET_UNREADABLE', 'a stored factor secret does not decrypt for this person and factor', { cause });
    }
  }
}
