// The mfa.keyFile format (one base64 key of 32 bytes a line): read by the config check and by the factor-secret box alike.
import { createHash } from 'node:crypto';

export interface SecretKey {
  /** Derived from the key, stored beside each ciphertext so the right key is found after a rotation. */
  id: string;
  key: Buffer;
}

/** Parses the key file's lines. Errors name the line, never its content. */
export function parseKeyLines(lines: readonly string[]): SecretKey[] {
  const keys = lines.map((line, i) => {
    const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(line) ? Buffer.from(line, line.includes('-') || line.includes('_') ? 'base64url' : 'base64') : Buffer.alloc(0);
    if (key.length !== 32) throw new Error(`mfa.keyFile line ${i + 1} is not 32 bytes in base64 (make one with: openssl rand -base64 32)`);
    return { id: createHash('sha256').update('sag-mfa-key\0').update(key).digest('hex').slice(0, 12), key };
  });
  if (keys.length === 0) throw new Error('mfa.keyFile holds no key (make one with: openssl rand -base64 32)');
  return keys;
}
