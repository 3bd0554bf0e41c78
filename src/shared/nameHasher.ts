// Unknown sign-in names are kept only as a keyed hash: people type passwords into the username field.
import { createHmac, hkdfSync } from 'node:crypto';

/** Fixed HKDF label: the key is for this one use, so it never equals the session secret or any other key derived from it. */
const LABEL = 'sentry-ad-gateway/unknown-username/v1';
export const HASHED_PREFIX = 'hashed:';

/** The one normalisation for names everywhere: trimmed, NFC, lower case (docs/design.md §7). */
export function normaliseName(name: string): string {
  return name.trim().normalize('NFC').toLowerCase();
}

/**
 * HMAC-SHA-256 of the normalised name under a key derived (HKDF-SHA-256) from the session secret,
 * so every replica computes the same value and nobody without the secret can test guesses.
 * `secrets` is read on every call: the first line of the session secret file hashes, and every
 * line still in the file matches, so a rotation keeps old entries findable until the old line goes.
 */
export class NameHasher {
  readonly #keys = new Map<string, Buffer>();

  constructor(private readonly secrets: () => readonly string[]) {}

  hash(name: string): string {
    const first = this.secrets()[0];
    if (first === undefined) throw new TypeError('no session secret to derive the name-hash key from');
    return this.#hashWith(first, name);
  }

  /** Every value `name` may have been recorded as: itself, and its hash under each current secret. */
  matches(name: string): string[] {
    return [name, ...this.secrets().map((s) => this.#hashWith(s, name))];
  }

  #hashWith(secret: string, name: string): string {
    let key = this.#keys.get(secret);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), LABEL, 32));
      if (this.#keys.size > 16) this.#keys.clear();
      this.#keys.set(secret, key);
    }
    return HASHED_PREFIX + createHmac('sha256', key).update(normaliseName(name), 'utf8').digest('hex').slice(0, 32);
  }
}
