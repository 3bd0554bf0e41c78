// The second-factor parts built once from the config, for `serve`'s pages and the commands: policy, store, TOTP, WebAuthn, links.
import type { Config } from '../config/schema.js';
import type { RedisClient } from '../redis/createRedis.js';
import type { AuditLog } from '../audit/auditLog.js';
import type { Clock } from '../shared/clock.js';
import { SecretFile } from '../shared/secretFile.js';
import { EnrolLinks } from './enrolLinks.js';
import { FactorStore } from './factorStore.js';
import { compileMfaPolicy, type MfaDecision, type MfaSubject } from './mfaPolicy.js';
import { MfaThrottle } from './mfaThrottle.js';
import { SecretBox } from './secretBox.js';
import { Totp } from './totp.js';
import { relyingParty, Webauthn } from './webauthn.js';

function hasHostName(publicUrl: string): boolean {
  try {
    relyingParty(publicUrl);
    return true;
  } catch {
    return false;
  }
}

export interface Mfa {
  decide(subject: MfaSubject): MfaDecision;
  store: FactorStore;
  totp: Totp;
  /** Absent when webauthn is not in mfa.methods, or server.publicUrl is an IP address (refused by the config check once mfa is on). */
  webauthn?: Webauthn;
  links: EnrolLinks;
  throttle: MfaThrottle;
  close(): void;
}

/** Needs Redis: factors are never kept in process memory (the config check refuses mfa without session.redisUrl). */
/** The box over mfa.keyFile: the file is read when a secret is first sealed or opened, and re-read as it changes (rotation). */
export function keyFileBox(config: Config): { box: SecretBox; close(): void } {
  let file: SecretFile | undefined;
  const box = new SecretBox(
    () => {
      file ??= new SecretFile(config.mfa.keyFile);
      return file.lines();
    },
    { lazy: true },
  );
  return { box, close: () => file?.close() };
}

export function buildMfa(config: Config, deps: { redis: RedisClient; audit: AuditLog; clock: Clock }): Mfa {
  const { box, close } = keyFileBox(config);
  const store = new FactorStore(deps.redis, box, deps.clock);
  const throttle = new MfaThrottle(deps.redis, config.throttle.window, deps.clock);
  return {
    decide: compileMfaPolicy(config.mfa),
    store,
    throttle,
    totp: new Totp({ redis: deps.redis, store, throttle, clock: deps.clock, issuer: config.server.organizationName }),
    ...(config.mfa.methods.includes('webauthn') && hasHostName(config.server.publicUrl)
      ? { webauthn: new Webauthn({ redis: deps.redis, store, publicUrl: config.server.publicUrl, rpName: config.server.organizationName, userVerification: config.mfa.webauthn.userVerification, throttle }) }
      : {}),
    links: new EnrolLinks(deps.redis, deps.audit, deps.clock, config.server.publicUrl),
    close,
  };
}
