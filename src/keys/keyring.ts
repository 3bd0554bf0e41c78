// The signing keyring: key pairs kept as files in assertion.keysDir, shared by every replica that mounts it.
import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
import { GatewayError, type ErrorCode } from '../errors.js';
import type { Clock } from '../shared/clock.js';

export type SigningAlgorithm = 'ES256' | 'EdDSA';

export interface StoredKey {
  kid: string;
  alg: SigningAlgorithm;
  createdAt: number;
  /** Signing starts at this time (publication happens at once). */
  activatesAt: number;
  /** After this time the public key is no longer published. Unset while the key may still sign. */
  retiresAt?: number;
  publicJwk: JWK;
  privateJwk: JWK;
}

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  key: CryptoKey;
}

const FILE = /^key-([A-Za-z0-9_-]+)\.json$/;

/**
 * Time added after one assertion ttl on both sides of a rotation: replicas poll the keys dir every
 * few seconds and verifiers refetch a JWKS on an unknown kid (with a cooldown), and clocks drift.
 */
export const ROTATION_MARGIN_MS = 60_000;
/** Retired keys stay on disk this long after leaving the JWKS (an audit trail), then `rotate` deletes them. */
export const RETIRED_KEEP_MS = 7 * 24 * 3600_000;

export type KeyState = 'pending' | 'signing' | 'verifying' | 'retired';

/** A caller mistake the operator can fix: `code` is stable for the CLI to switch on. */
export class KeyringError extends GatewayError {
  constructor(code: Extract<ErrorCode, 'GW_KEY_ROTATION_PENDING'>, message: string) {
    super(code, message);
    this.name = 'KeyringError';
  }
}

export interface RotationResult {
  added: StoredKey;
  /** Keys that sign until `added.activatesAt` and leave the JWKS at their new `retiresAt`. */
  retiring: StoredKey[];
  /** Key files deleted because they left the JWKS more than RETIRED_KEEP_MS ago. */
  deleted: string[];
}

export class Keyring {
  private keys: StoredKey[] = [];
  private signing?: { kid: string; key: SigningKey };

  constructor(
    private readonly dir: string,
    private readonly alg: SigningAlgorithm,
    private readonly clock: Clock,
  ) {}

  /** Reads the directory; creates the first key when there is none (returns true then, so the caller can say so). */
  async load(): Promise<boolean> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.keys = this.readAll();
    if (this.keys.length === 0) {
      await this.create(this.clock.now());
      this.keys = this.readAll();
      return true;
    }
    return false;
  }

  private readAll(): StoredKey[] {
    const out: StoredKey[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!FILE.test(name)) continue;
      out.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as StoredKey);
    }
    return out.sort((a, b) => a.activatesAt - b.activatesAt || a.createdAt - b.createdAt || a.kid.localeCompare(b.kid));
  }

  /** Adds a key that signs from `activatesAt`; written atomically so a replica never reads half a key. */
  async create(activatesAt: number): Promise<StoredKey> {
    const { publicKey, privateKey } = await generateKeyPair(this.alg, { extractable: true, crv: this.alg === 'EdDSA' ? 'Ed25519' : undefined });
    const kid = `${new Date(this.clock.now()).toISOString().slice(0, 10)}-${randomBytes(6).toString('base64url')}`;
    const stored: StoredKey = {
      kid,
      alg: this.alg,
      createdAt: this.clock.now(),
      activatesAt,
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: this.alg, use: 'sig' },
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: this.alg },
    };
    this.write(stored);
    return stored;
  }

  private write(stored: StoredKey): void {
    const target = join(this.dir, `key-${stored.kid}.json`);
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(stored, null, 2), { mode: 0o600 });
    renameSync(tmp, target);
  }

  /**
   * docs/design.md §9: the new public key is published now, signing moves to it after one ttl plus a margin
   * (every verifier has fetched it by then), and each older key leaves the JWKS once the last token
   * it could have signed has expired. Replicas sharing keysDir follow by re-reading the directory.
   */
  async rotate(ttlMs: number, marginMs = ROTATION_MARGIN_MS): Promise<RotationResult> {
    this.refresh();
    const now = this.clock.now();
    const pending = this.keys.find((k) => k.activatesAt > now);
    if (pending) {
      throw new KeyringError('GW_KEY_ROTATION_PENDING', `a rotation is already under way: key ${pending.kid} starts signing at ${new Date(pending.activatesAt).toISOString()}`);
    }
    const activatesAt = now + ttlMs + marginMs;
    // Tokens are signed with an old key until activatesAt at the latest and live ttl after that.
    const retiresAt = activatesAt + ttlMs + marginMs;
    const retiring: StoredKey[] = [];
    for (const k of this.keys) {
      if (k.retiresAt !== undefined && k.retiresAt <= retiresAt) continue;
      const updated = { ...k, retiresAt };
      this.write(updated);
      retiring.push(updated);
    }
    const added = await this.create(activatesAt);
    const deleted: string[] = [];
    for (const k of this.keys) {
      if (k.retiresAt !== undefined && k.retiresAt + RETIRED_KEEP_MS <= now) {
        unlinkSync(join(this.dir, `key-${k.kid}.json`));
        deleted.push(k.kid);
      }
    }
    this.refresh();
    return { added, retiring, deleted };
  }

  /** Where a key stands at `now`: published before it signs, signing, still published for verification, or gone from the JWKS. */
  stateOf(k: StoredKey, now = this.clock.now()): KeyState {
    if (k.retiresAt !== undefined && k.retiresAt <= now) return 'retired';
    if (k.activatesAt > now) return 'pending';
    return this.current().kid === k.kid ? 'signing' : 'verifying';
  }

  /**
   * Re-reads the directory every `everyMs`, so a key another replica or the CLI added is published
   * and then signed with without a restart. Returns a stop function.
   */
  watch(everyMs = 5000): () => void {
    const timer = setInterval(() => this.refresh(), everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  list(): StoredKey[] {
    return [...this.keys];
  }

  /** Re-reads the directory; keeps what it had when the directory cannot be read (a replica keeps signing). */
  refresh(): void {
    try {
      const keys = this.readAll();
      if (keys.length) this.keys = keys;
    } catch {
      // An unreadable file (a mount hiccup) must not empty the ring; the next refresh tries again.
    }
  }

  /** The newest key whose activation time has come. */
  current(): StoredKey {
    const now = this.clock.now();
    const active = this.keys.filter((k) => k.activatesAt <= now && (k.retiresAt === undefined || k.retiresAt > now));
    const k = active[active.length - 1] ?? this.keys[0];
    if (!k) throw new TypeError('keyring is empty: call load() first');
    return k;
  }

  async signingKey(): Promise<SigningKey> {
    const k = this.current();
    if (this.signing?.kid !== k.kid) {
      this.signing = { kid: k.kid, key: { kid: k.kid, alg: k.alg, key: (await importJWK(k.privateJwk, k.alg)) as CryptoKey } };
    }
    return this.signing.key;
  }

  /** Public keys to publish: every key not yet retired, including ones that will sign soon. */
  jwks(): { keys: JWK[] } {
    const now = this.clock.now();
    return { keys: this.keys.filter((k) => k.retiresAt === undefined || k.retiresAt > now).map((k) => k.publicJwk) };
  }
}
