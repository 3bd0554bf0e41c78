// TOTP (RFC 6238: 6 digits, 30 s steps, one step either side) and recovery codes, over FactorStore and MfaThrottle.
import { generateSecret, generateURI, verify } from 'otplib';
import { GatewayError } from '../errors.js';
import type { RedisClient } from '../redis/createRedis.js';
import type { Clock } from '../shared/clock.js';
import { normaliseGuid, personKey, validFactorName, type Factor, type FactorStore } from './factorStore.js';
import type { MfaThrottle } from './mfaThrottle.js';

const PERIOD = 30;
const DIGITS = 6;
/** How long a scanned-but-unconfirmed seed waits for its first code. */
export const PENDING_TOTP_TTL_MS = 10 * 60_000;
const pendingAad = (guid: string) => `sag-mfa:${guid}:pending-totp`;

/** The RFC 6238 time step a code belongs to, from the injected clock. */
export const timeStepAt = (ms: number) => Math.floor(Math.floor(ms / 1000) / PERIOD);

export interface TotpDeps {
  redis: RedisClient;
  store: FactorStore;
  throttle: MfaThrottle;
  clock: Clock;
  /** The issuer authenticator apps show (server.organizationName). */
  issuer: string;
}

const invalid = () => new GatewayError('GW_MFA_CODE_INVALID', 'wrong, reused or expired code');

/** Which step, within one either side of now, the code is for; undefined when none. */
async function matchStep(secret: string, code: string, nowMs: number): Promise<number | undefined> {
  if (!/^\d{6}$/.test(code)) return undefined;
  const r = await verify({ secret, token: code, digits: DIGITS, period: PERIOD, epoch: Math.floor(nowMs / 1000), epochTolerance: PERIOD });
  // TOTP results carry the RFC 6238 time step the code matched.
  return r.valid && 'timeStep' in r ? r.timeStep : undefined;
}

/** A factor write that failed says so (nothing was enrolled), never as a wrong code. */
export async function storedOrSaid<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw new GatewayError('GW_SESSION_STORE_UNAVAILABLE', 'the factor was not stored: nothing was enrolled', { cause: e });
  }
}

const clean = (code: string) => code.replace(/\s+/g, '');

export class Totp {
  constructor(private readonly d: TotpDeps) {}

  /** A new seed and its otpauth:// URI (for the QR code); kept server-side, sealed, until a first code confirms it. */
  async begin(guid: string, label: string): Promise<{ secret: string; uri: string }> {
    const g = normaliseGuid(guid);
    const secret = generateSecret();
    await this.d.redis.set(personKey(g, 'pending-totp'), this.d.store.box.seal(secret, pendingAad(g)), 'PX', PENDING_TOTP_TTL_MS);
    return { secret, uri: generateURI({ issuer: this.d.issuer, label, secret, digits: DIGITS, period: PERIOD }) };
  }

  /** The seed still waiting for its first code, shown again (after a refused name); undefined when none waits. */
  async pending(guid: string, label: string): Promise<{ secret: string; uri: string } | undefined> {
    const g = normaliseGuid(guid);
    const sealed = await this.d.redis.get(personKey(g, 'pending-totp'));
    if (!sealed) return undefined;
    const secret = this.d.store.box.open(sealed, pendingAad(g));
    return { secret, uri: generateURI({ issuer: this.d.issuer, label, secret, digits: DIGITS, period: PERIOD }) };
  }

  /**
   * The first code from the app confirms the pending seed and enrols it; the seed is single use (a second confirm finds
   * nothing). `beforeStore` runs after the code verified and before the factor is written (an enrolment link is spent
   * there): if it throws, nothing is stored.
   */
  async confirm(guid: string, code: string, name: string, beforeStore?: () => Promise<void>): Promise<Factor> {
    const g = normaliseGuid(guid);
    // A name that cannot be stored is refused before the seed (or a link) is spent on it.
    validFactorName(name);
    await this.d.throttle.take(g);
    const sealed = await this.d.redis.get(personKey(g, 'pending-totp'));
    if (!sealed) throw new GatewayError('GW_MFA_CHALLENGE_INVALID', 'no authenticator app is waiting to be confirmed: start again');
    const secret = this.d.store.box.open(sealed, pendingAad(g));
    const step = await matchStep(secret, clean(code), this.d.clock.now());
    if (step === undefined) throw invalid();
    // Only the request that removes the pending seed enrols it.
    if ((await this.d.redis.del(personKey(g, 'pending-totp'))) !== 1) throw new GatewayError('GW_MFA_CHALLENGE_INVALID', 'this authenticator app was already confirmed');
    await this.d.throttle.giveBack(g);
    await beforeStore?.();
    return storedOrSaid(this.d.store.addTotp(g, { name, secret, lastStep: step }));
  }

  /**
   * A TOTP code against every TOTP factor of the person: accepted only if its time step is later than the last one
   * accepted for that factor (checked and set in one Redis step). Throws GW_MFA_CODE_INVALID or GW_THROTTLED.
   */
  async verify(guid: string, code: string): Promise<{ factorId: string }> {
    const g = normaliseGuid(guid);
    await this.d.throttle.take(g);
    const c = clean(code);
    for (const { id, secret } of await this.d.store.totpSecrets(g)) {
      const step = await matchStep(secret, c, this.d.clock.now());
      if (step === undefined) continue;
      if ((await this.d.store.acceptTotpStep(g, id, step)) === 'accepted') {
        await this.d.throttle.giveBack(g);
        return { factorId: id };
      }
    }
    throw invalid();
  }

  /** A recovery code, once. Returns how many are left. Throws GW_MFA_CODE_INVALID or GW_THROTTLED. */
  async recover(guid: string, code: string): Promise<{ left: number }> {
    const g = normaliseGuid(guid);
    await this.d.throttle.take(g);
    const left = await this.d.store.consumeRecoveryCode(g, code);
    if (left === null) throw invalid();
    await this.d.throttle.giveBack(g);
    return { left };
  }
}
