// WebAuthn against real Chromium with a CDP virtual authenticator and the real redis-server: RP ID and origin from
// publicUrl, challenges single use and per person, user verification per config, the signature counter enforced.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { FactorStore, personKey } from '../../src/mfa/factorStore.js';
import { MFA_CODE_LIMIT, MfaThrottle } from '../../src/mfa/mfaThrottle.js';
import { SecretBox } from '../../src/mfa/secretBox.js';
import { relyingParty, Webauthn, CHALLENGE_TTL_MS, type UserVerification } from '../../src/mfa/webauthn.js';
import { systemClock } from '../../src/shared/clock.js';
import { launchBrowser, openPage, startTogether, type OpenPage } from '../support/browser.js';
import { testRedisUrl } from '../support/gateway.js';

/** People this file creates: removed at the end, so the shared Redis holds no factor another suite's `serve` would see. */
const made: string[] = [];
const person = () => {
  const g = randomUUID();
  made.push(g);
  return g;
};

let redis: Redis;
let store: FactorStore;
let server: Server;
let browser: Browser;
let origin: string;

before(async () => {
  redis = new Redis(testRedisUrl());
  const keys = [randomBytes(32).toString('base64')];
  store = new FactorStore(redis, new SecretBox(() => keys), systemClock);
  server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>webauthn</title>'));
  [browser] = await startTogether([launchBrowser(), new Promise<void>((r) => server.listen(0, r))] as const);
  origin = `http://localhost:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  for (const g of made) await store?.reset(g).catch(() => undefined);
  await browser?.close();
  server?.close();
  redis?.disconnect();
});

/** The one per-account count of failed second factors, as TOTP and recovery codes use it (window restarted at every failure). */
const throttle = () => new MfaThrottle(redis, 10 * 60_000, systemClock);
const webauthn = (userVerification: UserVerification = 'preferred', publicUrl = origin) => new Webauthn({ redis, store, publicUrl, rpName: 'ACME Sentry', userVerification, throttle: throttle() });

/** A response that names a challenge nobody issued: it does not verify. */
const made_up = (id = 'AAAA') => ({ id, rawId: id, type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: randomBytes(32).toString('base64url') })).toString('base64url') } }) as never;

/** A page on `origin` with one virtual CTAP2 security key (not backed up, so a device-bound credential). */
async function withAuthenticator(): Promise<{ open: OpenPage; page: Page; cdp: CDPSession }> {
  const open = await openPage(browser);
  await open.page.goto(origin + '/');
  const cdp = await open.context.newCDPSession(open.page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { open, page: open.page, cdp };
}

const create = (page: Page, options: unknown) =>
  page.evaluate(async (o) => {
    const cred = (await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(o as PublicKeyCredentialCreationOptionsJSON) })) as PublicKeyCredential;
    return cred.toJSON();
  }, options);
const get = (page: Page, options: unknown) =>
  page.evaluate(async (o) => {
    const cred = (await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o as PublicKeyCredentialRequestOptionsJSON) })) as PublicKeyCredential;
    return cred.toJSON();
  }, options);

/** A person with one security key enrolled through the browser. */
async function enrolled(page: Page, w = webauthn()) {
  const guid = person();
  const options = await w.registrationOptions(guid, { userName: 'alice', displayName: 'Alice Example' });
  const factor = await w.verifyRegistration(guid, (await create(page, options)) as never, 'YubiKey');
  return { guid, factor };
}

describe('WebAuthn with a virtual authenticator', () => {
  test('RP ID is publicUrl’s host name, origin its origin; an IP address is refused as RP ID', () => {
    assert.deepEqual(relyingParty('https://sentry.example.com:8443/x'), { id: 'sentry.example.com', origin: 'https://sentry.example.com:8443' });
    assert.throws(() => relyingParty('https://127.0.0.1:8443'), /host name/);
    assert.throws(() => relyingParty('https://[::1]/'), /host name/);
  });

  test('registers a key and signs in with it: counter stored, last use recorded, hardware-bound (amr hwk)', async () => {
    const { open, page } = await withAuthenticator();
    try {
      const w = webauthn();
      const guid = person();
      const options = await w.registrationOptions(guid, { userName: 'alice', displayName: 'Alice Example' });
      assert.equal(options.rp.id, 'localhost');
      assert.equal(options.rp.name, 'ACME Sentry');
      assert.equal(options.user.name, 'alice');
      assert.equal(options.authenticatorSelection?.userVerification, 'preferred');
      const ttl = await redis.pttl(personKey(guid, `challenge:reg:${options.challenge}`));
      assert.ok(ttl > 0 && ttl <= CHALLENGE_TTL_MS, `challenge kept briefly (${ttl} ms)`);
      const factor = await w.verifyRegistration(guid, (await create(page, options)) as never, 'YubiKey');
      assert.equal(factor.kind, 'webauthn');
      assert.equal((await store.list(guid))[0]?.name, 'YubiKey');

      const again = await w.registrationOptions(guid, { userName: 'alice', displayName: 'Alice Example' });
      assert.deepEqual(again.excludeCredentials?.map((c) => c.id), [factor.webauthn?.credentialId], 'the same key is not enrolled twice');

      const auth = await w.authenticationOptions(guid);
      assert.deepEqual(auth.allowCredentials?.map((c) => c.id), [factor.webauthn?.credentialId]);
      const result = await w.verifyAuthentication(guid, (await get(page, auth)) as never);
      assert.equal(result.factorId, factor.id);
      assert.equal(result.amr, 'hwk');
      const after = (await store.list(guid))[0];
      assert.ok(after?.lastUsedAt !== null);
      assert.ok((after?.webauthn?.counter ?? 0) > (factor.webauthn?.counter ?? 0), 'the counter grew and was stored');
    } finally {
      await open.close();
    }
  });

  test('a response is used once: replayed, it finds no challenge', async () => {
    const { open, page } = await withAuthenticator();
    try {
      const w = webauthn();
      const { guid } = await enrolled(page, w);
      const response = await get(page, await w.authenticationOptions(guid));
      await w.verifyAuthentication(guid, response as never);
      await assert.rejects(w.verifyAuthentication(guid, response as never), { code: 'GW_MFA_CHALLENGE_INVALID' });
    } finally {
      await open.close();
    }
  });

  test('a challenge issued for one person does not serve another', async () => {
    const { open, page } = await withAuthenticator();
    try {
      const w = webauthn();
      const a = await enrolled(page, w);
      const b = await enrolled(page, w);
      const response = await get(page, await w.authenticationOptions(a.guid));
      await assert.rejects(w.verifyAuthentication(b.guid, response as never), { code: 'GW_MFA_CHALLENGE_INVALID' });
    } finally {
      await open.close();
    }
  });

  test('signed for another origin: refused', async () => {
    const { open, page } = await withAuthenticator();
    try {
      const { guid } = await enrolled(page);
      // The same RP ID, but the gateway's public URL is another origin than the page that signed.
      const elsewhere = webauthn('preferred', 'https://localhost:9');
      const response = await get(page, await elsewhere.authenticationOptions(guid));
      await assert.rejects(elsewhere.verifyAuthentication(guid, response as never), (e: Error & { code?: string }) => e.code === 'GW_MFA_CODE_INVALID' && /origin/i.test(String((e.cause as Error)?.message)));
    } finally {
      await open.close();
    }
  });

  test('a counter that does not grow (a cloned key) is refused', async () => {
    const { open, page } = await withAuthenticator();
    try {
      const w = webauthn();
      const { guid, factor } = await enrolled(page, w);
      await redis.hset(personKey(guid, 'state'), `count:${factor.id}`, 1_000_000);
      const response = await get(page, await w.authenticationOptions(guid));
      await assert.rejects(w.verifyAuthentication(guid, response as never), { code: 'GW_MFA_CODE_INVALID' });
    } finally {
      await open.close();
    }
  });

  test('userVerification "required": an assertion without user verification is refused', async () => {
    const { open, page } = await withAuthenticator();
    try {
      const { guid } = await enrolled(page, webauthn('discouraged'));
      // Asked without verification (as a "discouraged" deployment would), checked by one that requires it.
      const response = await get(page, await webauthn('discouraged').authenticationOptions(guid));
      await assert.rejects(webauthn('required').verifyAuthentication(guid, response as never), (e: Error & { code?: string }) => e.code === 'GW_MFA_CODE_INVALID' && /user.*verif/i.test(String((e.cause as Error)?.message)));
    } finally {
      await open.close();
    }
  });

  test('failed responses count per account with wrong TOTP codes: past the limit even a good key waits, with Retry-After', async () => {
    const { open, page } = await withAuthenticator();
    try {
      const w = webauthn();
      const { guid } = await enrolled(page, w);
      for (let i = 0; i < MFA_CODE_LIMIT; i++) await assert.rejects(w.verifyAuthentication(guid, made_up()), { code: 'GW_MFA_CHALLENGE_INVALID' });
      const good = await get(page, await w.authenticationOptions(guid));
      const throttled = (e: unknown) => {
        const err = e as { code?: string; status?: number; headers?: Record<string, string> };
        return err.code === 'GW_THROTTLED' && err.status === 429 && Number(err.headers?.['Retry-After']) > 0;
      };
      await assert.rejects(w.verifyAuthentication(guid, good as never), throttled, 'a good key is refused too while the account is throttled');
      await assert.rejects(throttle().take(guid), throttled, 'the same count TOTP codes are checked against');
      await assert.rejects(w.verifyRegistration(guid, made_up(), 'Second key'), throttled, 'adding a key is throttled alike');
      const other = person();
      await assert.rejects(w.verifyRegistration(other, made_up(), 'Key'), { code: 'GW_MFA_CHALLENGE_INVALID' }, 'another account is not affected');
      for (let i = 1; i < MFA_CODE_LIMIT; i++) await assert.rejects(w.verifyRegistration(other, made_up(), 'Key'), { code: 'GW_MFA_CHALLENGE_INVALID' });
      await assert.rejects(w.verifyRegistration(other, made_up(), 'Key'), throttled, 'failed enrolments count too');
    } finally {
      await open.close();
    }
  });

  test('a name with a tab is refused before the challenge is spent: the same response then enrols with a good name', async () => {
    const { open, page } = await withAuthenticator();
    try {
      const w = webauthn();
      const guid = person();
      const response = (await create(page, await w.registrationOptions(guid, { userName: 'alice', displayName: 'Alice Example' }))) as never;
      await assert.rejects(w.verifyRegistration(guid, response, 'Yubi\tKey'), { code: 'GW_BAD_REQUEST' });
      assert.deepEqual(await store.list(guid), []);
      const factor = await w.verifyRegistration(guid, response, 'YubiKey');
      assert.equal(factor.name, 'YubiKey');
    } finally {
      await open.close();
    }
  });
});
