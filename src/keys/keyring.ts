// The signing keyring: key pairs kept as files in assertion.keysDir, shared by every replica that mounts it.
import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';
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
    const target = join(this.dir, `key-${kid}.json`);
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(stored, null, 2), { mode: 0o600 });
    renameSync(tmp, target);
    return stored;
  }

  list(): StoredKey[] {
    return [...this.keys];
  }

  refresh(): void {
    this.keys = this.readAll();
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
