// `mfa export|import`: every person's factors in one file, encrypted with AES-256-GCM under a key derived (scrypt) from a passphrase.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { PersonDump } from './factorStore.js';

const FORMAT = 'sentry-ad-gateway-mfa-export';
const KDF = { name: 'scrypt', N: 1 << 15, r: 8, p: 1 } as const;
export const MIN_PASSPHRASE = 12;

export interface ExportContent {
  exportedAt: string;
  people: PersonDump[];
}

interface Envelope {
  format: typeof FORMAT;
  version: 1;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  iv: string;
  ciphertext: string;
  tag: string;
}

const keyFrom = (passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }) => scryptSync(passphrase.normalize('NFC'), salt, 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r });
/** Everything but the ciphertext and tag is authenticated too: a changed KDF setting or header fails like a changed byte. */
const aadOf = (e: Omit<Envelope, 'ciphertext' | 'tag'>) => Buffer.from(JSON.stringify([e.format, e.version, e.kdf, e.iv]), 'utf8');

export function sealExport(content: ExportContent, passphrase: string): string {
  if ([...passphrase].length < MIN_PASSPHRASE) throw new GatewayError('GW_BAD_REQUEST', `the passphrase must be at least ${MIN_PASSPHRASE} characters`);
  const salt = randomBytes(16);
  const head = { format: FORMAT as typeof FORMAT, version: 1 as const, kdf: { ...KDF, salt: salt.toString('base64') }, iv: randomBytes(12).toString('base64') };
  const cipher = createCipheriv('aes-256-gcm', keyFrom(passphrase, salt, KDF), Buffer.from(head.iv, 'base64'));
  cipher.setAAD(aadOf(head));
  const ct = Buffer.concat([cipher.update(JSON.stringify(content), 'utf8'), cipher.final()]);
  const env: Envelope = { ...head, ciphertext: ct.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  return JSON.stringify(env, null, 2) + '\n';
}

export function openExport(text: string, passphrase: string): ExportContent {
  const bad = (why: string, cause?: unknown) => new GatewayError('GW_MFA_EXPORT_INVALID', why, cause === undefined ? undefined : { cause });
  let env: Envelope;
  try {
    env = JSON.parse(text) as Envelope;
  } catch (e) {
    throw bad('not an mfa export file', e);
  }
  if (env?.format !== FORMAT || env.version !== 1 || env.kdf?.name !== 'scrypt') throw bad('not an mfa export file (or a version this gateway does not read)');
  // Bounded so a crafted file cannot make the import spend minutes or gigabytes deriving the key.
  if (![1 << 14, 1 << 15, 1 << 16, 1 << 17].includes(env.kdf.N) || env.kdf.r !== 8 || env.kdf.p !== 1) throw bad('unsupported key derivation settings');
  let plain: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFrom(passphrase, Buffer.from(env.kdf.salt, 'base64'), env.kdf), Buffer.from(env.iv, 'base64'));
    decipher.setAAD(aadOf(env));
    decipher.setAuthTag(Buffer.from(env.tag, 'base64'));
    plain = Buffer.concat([decipher.update(Buffer.from(env.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch (e) {
    throw bad('the file was altered, or the passphrase is not the one it was exported with', e);
  }
  const content = JSON.parse(plain) as ExportContent;
  if (!Array.isArray(content.people)) throw bad('the export holds no people');
  return content;
}
