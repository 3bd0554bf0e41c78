// Starts a real gateway against the test DC, the run's redis-server and an echo upstream; plus a cookie-keeping client.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { writeDevConfig } from '../../src/dev/devConfig.js';
import { freePort } from '../../src/dev/redisServer.js';
import { startGateway, type RunningGateway } from '../../src/main.js';
import type { Clock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import type { Config } from '../../src/config/schema.js';
import { testDc } from './dc.js';
import { startEchoUpstream, type EchoUpstream } from './echoUpstream.js';

export class TestClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

export interface TestGateway {
  gw: RunningGateway;
  url: string;
  config: Config;
  configFile: string;
  upstream: EchoUpstream;
  clock: TestClock;
  /** Every log line the gateway wrote. */
  logs: string[];
  close(): Promise<void>;
}

export function testRedisUrl(): string {
  const url = process.env['SAG_TEST_REDIS_URL'];
  if (!url) throw new Error('SAG_TEST_REDIS_URL is not set: run the tests through `npm test`');
  return url;
}

/**
 * The config replicas of one deployment share besides Redis: one session secret, one signing-key
 * directory and one Sentry token, written under `dir`. Pass it to startTestGateway for each replica.
 */
export function sharedReplicaConfig(dir: string, sentry: { url: string; token: string }, syncInterval: string): Record<string, unknown> {
  const tokenFile = join(dir, 'sentry_token');
  const secretFile = join(dir, 'session_secret');
  writeFileSync(tokenFile, `${sentry.token}\n`, { mode: 0o600 });
  writeFileSync(secretFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  return {
    session: { secretFile },
    assertion: { keysDir: join(dir, 'keys') },
    sentry: { url: sentry.url, organization: 'acme', tokenFile, loginTimeout: '2s', sync: { interval: syncInterval } },
  };
}

/** `publicHost`: the host name in server.publicUrl (WebAuthn refuses an IP address as RP ID, so its suites use `localhost`). */
export interface TestGatewayOptions {
  redisUrl?: string;
  publicHost?: string;
}

export async function startTestGateway(overrides: Record<string, unknown> = {}, opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const upstream = await startEchoUpstream();
  try {
    return await startWithUpstream(upstream, overrides, opts);
  } catch (e) {
    // A half-started setup must not keep the test process alive after its `before` failed.
    await upstream.close();
    throw e;
  }
}

async function startWithUpstream(upstream: EchoUpstream, overrides: Record<string, unknown>, opts: TestGatewayOptions): Promise<TestGateway> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sag-test-gw-'));
  const { config, file } = writeDevConfig({
    dir,
    dc: testDc(),
    redisUrl: opts.redisUrl ?? testRedisUrl(),
    upstreamUrl: upstream.url,
    listen: `127.0.0.1:${port}`,
    publicUrl: `http://${opts.publicHost ?? '127.0.0.1'}:${port}`,
    // Every suite signs in from 127.0.0.1 against one Redis: only tests about the address limit set it low.
    overrides: { ...overrides, throttle: { perAddress: 1000, ...((overrides.throttle as object | undefined) ?? {}) } },
  });
  const logs: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (b: Buffer) => logs.push(...b.toString('utf8').split('\n').filter(Boolean)));
  const clock = new TestClock();
  const gw = await startGateway(config, createLogger('debug', sink), { clock });
  return {
    gw,
    url: gw.url,
    config,
    configFile: file,
    upstream,
    clock,
    logs,
    async close() {
      await gw.close();
      await upstream.close();
    },
  };
}

export function sessionSecretOf(t: TestGateway): string {
  return readFileSync(t.config.session.secretFile!, 'utf8').split('\n')[0]!.trim();
}

/** A minimal browser: keeps cookies, never follows redirects, speaks HTML by default. */
export class Client {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly base: string,
    readonly defaults: Record<string, string> = { accept: 'text/html,application/xhtml+xml', 'accept-language': 'en' },
  ) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.defaults, ...(init.headers ?? {}) };
    if (this.cookies.size && !('cookie' in headers)) headers.cookie = this.cookieHeader();
    const res = await fetch(this.base + path, { ...init, headers, redirect: 'manual' });
    for (const sc of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(path, { headers });
  }

  /** Loads the form at `formPath` for its CSRF token, then posts `fields` to `action`. */
  async submitForm(formPath: string, action: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    const page = await (await this.get(formPath)).text();
    const token = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
    if (!token) throw new Error(`no CSRF token on ${formPath}`);
    const next = /name="next" value="([^"]*)"/.exec(page)?.[1];
    const body = new URLSearchParams({ _csrf: token, ...(next !== undefined ? { next: decodeHtml(next) } : {}), ...fields });
    return this.request(action, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  }

  login(username: string, password: string, next = '/'): Promise<Response> {
    return this.submitForm(`/_gateway/login?next=${encodeURIComponent(next)}`, '/_gateway/login', { username, password });
  }
}

export function decodeHtml(s: string): string {
  return s.replace(/&#x2F;/g, '/').replace(/&#x3D;/g, '=').replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#x60;/g, '`');
}

/** The text of the alert on a rendered page, if any. */
export function alertOf(html: string): string | undefined {
  return /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();
}
