// WebAuthn (security keys and passkeys) over @simplewebauthn/server: origin = server.publicUrl's, RP ID = its host name,
// challenges kept server-side in Redis for a few minutes and used once, the signature counter checked and stored.
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { isIP } from 'node:net';
import { GatewayError } from '../errors.js';
import type { RedisClient } from '../redis/createRedis.js';
import { normaliseGuid, personKey, validFactorName, type Factor, type FactorStore } from './factorStore.js';
import type { MfaThrottle } from './mfaThrottle.js';
import { storedOrSaid } from './totp.js';

/** How long the browser has to answer one ceremony; the challenge is gone after it, or after one use. */
export const CHALLENGE_TTL_MS = 5 * 60_000;

export type UserVerification = 'required' | 'preferred' | 'discouraged';

export interface WebauthnDeps {
  redis: RedisClient;
  store: FactorStore;
  /** server.publicUrl: its origin is the expected origin, its host name the RP ID. */
  publicUrl: string;
  /** Shown by the browser and the authenticator (server.organizationName). */
  rpName: string;
  userVerification: UserVerification;
  /** The per-account count of failed second factors, shared with TOTP and recovery codes (never AD's). */
  throttle: MfaThrottle;
}

/** RFC 8176 method: `hwk` for a key bound to one device, `swk` for a passkey synced between devices. */
export type WebauthnAmr = 'hwk' | 'swk';

/** The RP ID and origin for a public URL; WebAuthn refuses IP addresses as RP IDs, so they are refused here too. */
export function relyingParty(publicUrl: string): { id: string; origin: string } {
  const u = new URL(publicUrl);
  const id = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(id)) throw new Error(`WebAuthn needs a host name in server.publicUrl, not the address ${id}`);
  return { id, origin: u.origin };
}

type Purpose = 'reg' | 'auth';
// GET and DEL in one step (GETDEL needs Redis 6.2): of two requests with one challenge, one gets it.
const TAKE = `
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v`;
const challengeKey = (guid: string, purpose: Purpose, challenge: string) => personKey(guid, `challenge:${purpose}:${challenge}`);

/** The challenge the browser signed, read from clientDataJSON, only to find the stored one (the library checks it again). */
function challengeOf(clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > 4096) return undefined;
  try {
    const c = (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
    return typeof c === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(c) ? c : undefined;
  } catch {
    return undefined;
  }
}

const refused = (cause?: unknown) => new GatewayError('GW_MFA_CODE_INVALID', 'the security key response did not verify', cause === undefined ? undefined : { cause });

export class Webauthn {
  readonly rp: { id: string; origin: string };

  constructor(private readonly d: WebauthnDeps) {
    this.rp = relyingParty(d.publicUrl);
  }

  /** Takes the stored challenge the response names, once: a second use, another person's, or an expired one is refused. */
  async #takeChallenge(guid: string, purpose: Purpose, clientDataJSON: unknown): Promise<string> {
    const challenge = challengeOf(clientDataJSON);
    if (!challenge) throw new GatewayError('GW_MFA_CHALLENGE_INVALID', 'no challenge in the response');
    const stored = (await this.d.redis.eval(TAKE, 1, challengeKey(guid, purpose, challenge))) as string | null;
    if (stored !== '1') throw new GatewayError('GW_MFA_CHALLENGE_INVALID', 'unknown, expired or used challenge');
    return challenge;
  }

  async #keepChallenge(guid: string, purpose: Purpose, challenge: string): Promise<void> {
    await this.d.redis.set(challengeKey(guid, purpose, challenge), '1', 'PX', CHALLENGE_TTL_MS);
  }

  async registrationOptions(guid: string, user: { userName: string; displayName: string }): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const g = normaliseGuid(guid);
    const existing = (await this.d.store.list(g)).flatMap((f) => (f.webauthn ? [f.webauthn] : []));
    const options = await generateRegistrationOptions({
      rpName: this.d.rpName,
      rpID: this.rp.id,
      userName: user.userName,
      userDisplayName: user.displayName,
      // The user handle is the objectGUID's bytes: stable across renames, and no name.
      userID: Buffer.from(g.replace(/-/g, ''), 'hex'),
      timeout: CHALLENGE_TTL_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports as AuthenticatorTransportFuture[] })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: this.d.userVerification },
    });
    await this.#keepChallenge(g, 'reg', options.challenge);
    return options;
  }

  /**
   * Stores the new credential; `amr` is `swk` for a passkey the authenticator syncs between devices, else `hwk`.
   * `beforeStore` runs after the attestation verified and before the factor is written (an enrolment link is spent
   * there): if it throws, nothing is stored.
   */
  async verifyRegistration(guid: string, response: RegistrationResponseJSON, name: string, beforeStore?: () => Promise<void>): Promise<Factor & { amr: WebauthnAmr }> {
    const g = normaliseGuid(guid);
    // A name that cannot be stored is refused before the challenge (or a link) is spent on it.
    validFactorName(name);
    await this.d.throttle.take(g);
    const challenge = await this.#takeChallenge(g, 'reg', response?.response?.clientDataJSON);
    let result;
    try {
      result = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.id,
        requireUserVerification: this.d.userVerification === 'required',
      });
    } catch (e) {
      throw refused(e);
    }
    if (!result.verified) throw refused();
    await this.d.throttle.giveBack(g);
    const c = result.registrationInfo.credential;
    // A key already enrolled is refused before anything (a link) is spent for it.
    if ((await this.d.store.list(g)).some((f) => f.webauthn?.credentialId === c.id)) throw new GatewayError('GW_BAD_REQUEST', 'this security key is already enrolled');
    await beforeStore?.();
    const factor = await storedOrSaid(
      this.d.store.addWebauthn(g, {
        name,
        credential: { credentialId: c.id, publicKey: Buffer.from(c.publicKey).toString('base64url'), counter: c.counter, transports: c.transports ?? [] },
      }),
    );
    return { ...factor, amr: result.registrationInfo.credentialDeviceType === 'multiDevice' ? 'swk' : 'hwk' };
  }

  async authenticationOptions(guid: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const g = normaliseGuid(guid);
    const creds = (await this.d.store.list(g)).flatMap((f) => (f.webauthn ? [f.webauthn] : []));
    if (creds.length === 0) throw new GatewayError('GW_BAD_REQUEST', 'no security key or passkey is enrolled');
    const options = await generateAuthenticationOptions({
      rpID: this.rp.id,
      allowCredentials: creds.map((c) => ({ id: c.credentialId, transports: c.transports as AuthenticatorTransportFuture[] })),
      userVerification: this.d.userVerification,
      timeout: CHALLENGE_TTL_MS,
    });
    await this.#keepChallenge(g, 'auth', options.challenge);
    return options;
  }

  /** Verifies an assertion against the person's own credentials only; the counter must grow (atomically) where the key keeps one. */
  async verifyAuthentication(guid: string, response: AuthenticationResponseJSON): Promise<{ factorId: string; userVerified: boolean; amr: WebauthnAmr }> {
    const g = normaliseGuid(guid);
    // Every response taken counts until it verified: failures are throttled per account like wrong TOTP codes.
    await this.d.throttle.take(g);
    const challenge = await this.#takeChallenge(g, 'auth', response?.response?.clientDataJSON);
    const factor = (await this.d.store.list(g)).find((f) => f.webauthn && f.webauthn.credentialId === response.id);
    if (!factor?.webauthn) throw refused();
    let result;
    try {
      result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.id,
        credential: {
          id: factor.webauthn.credentialId,
          publicKey: Buffer.from(factor.webauthn.publicKey, 'base64url'),
          counter: factor.webauthn.counter,
          transports: factor.webauthn.transports as AuthenticatorTransportFuture[],
        },
        requireUserVerification: this.d.userVerification === 'required',
      });
    } catch (e) {
      throw refused(e);
    }
    if (!result.verified) throw refused();
    const info = result.authenticationInfo;
    if ((await this.d.store.acceptWebauthnCounter(g, factor.id, info.newCounter)) !== 'accepted') throw refused();
    await this.d.throttle.giveBack(g);
    return { factorId: factor.id, userVerified: info.userVerified, amr: info.credentialDeviceType === 'multiDevice' ? 'swk' : 'hwk' };
  }
}
