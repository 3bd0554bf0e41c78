// Both halves together: the real gateway (Samba AD, Redis) in front of the Sentry-side module served over real HTTP
// (test/support/moduleSentry.py: the module inside the stand-in Sentry whose sudo grants at every login, as Sentry's does).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEMO_PASSWORD } from '../../src/dev/fixtures.js';
import { sambaTool } from '../support/dc.js';
import { Client, startTestGateway, type TestGateway } from '../support/gateway.js';

const PYTHON = '/usr/bin/python3';
let t: TestGateway;
let sentry: ChildProcess;

before(async () => {
  sentry = spawn(PYTHON, ['-B', resolve(import.meta.dirname, '../support/moduleSentry.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: sentry.stdout! }), 'line')) as [string];
  t = await startTestGateway({ upstream: { url: `http://127.0.0.1:${line.trim()}` } });
  sentry.stdin!.write(JSON.stringify({ issuer: t.config.server.publicUrl, jwksUrl: `${t.url}/_gateway/jwks.json` }) + '\n');
  await sambaTool(['user', 'create', 'sudo-both', DEMO_PASSWORD, '--userou=OU=People', '--mail-address=sudo-both@corp.example.com']);
  await sambaTool(['group', 'addmembers', 'Sentry Users', 'sudo-both']);
});
after(async () => {
  await t?.close();
  sentry?.kill();
});

interface Seen {
  user_id: number | null;
  sudo: boolean;
}

function csrfOf(c: Client): string {
  return c.cookies.get('sc') ?? '';
}

async function page(c: Client): Promise<Seen> {
  const res = await c.get('/', { accept: 'application/json' });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Seen;
}

function send(c: Client, method: 'POST' | 'PUT', path: string, body: unknown, referer?: string): Promise<Response> {
  return c.request(path, {
    method,
    body: JSON.stringify(body),
    headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrftoken': csrfOf(c), origin: t.url, ...(referer ? { referer } : {}) },
  });
}

describe('sudo through the gateway and the module', () => {
  test('a sign-in gets sudo at once; a copied gateway cookie gets none until /_gateway/reauth, then the retry passes', async () => {
    const person = new Client(t.url);
    assert.equal((await person.login('sudo-both', DEMO_PASSWORD)).status, 303);
    const first = await page(person);
    assert.ok(first.user_id, 'the module signed the person in');
    assert.equal(first.sudo, true, 'right after the AD password');
    assert.equal((await send(person, 'POST', '/api/0/api-tokens/', {})).status, 201);

    // The gateway cookie alone, in another browser: Sentry's login() there grants its 3 h sudo; the module takes it back.
    const other = new Client(t.url);
    for (const [k, v] of person.cookies) if (k.endsWith('sag_session')) other.cookies.set(k, v);
    assert.equal((await page(other)).sudo, false);
    const refused = await send(other, 'POST', '/api/0/api-tokens/', {});
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { detail: { code: string } }).detail.code, 'sudo-required');

    // Sentry's sudo prompt: the module answers with the way to the gateway's re-authentication.
    const prompt = await send(other, 'PUT', '/api/0/auth/', { password: 'whatever' }, `${t.url}/settings/account/api/auth-tokens/`);
    assert.equal(prompt.status, 400);
    const answer = (await prompt.json()) as { reauthUrl: string; password: string[] };
    assert.equal(answer.reauthUrl, '/_gateway/reauth?next=/settings/account/api/auth-tokens/');

    // The person follows it (a moment later: the Sentry session's login came first).
    t.clock.advance(2_000);
    const stale = new Client(t.url);
    for (const [k, v] of other.cookies) stale.cookies.set(k, v);
    const done = await other.submitForm(answer.reauthUrl, '/_gateway/reauth', { password: DEMO_PASSWORD });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/settings/account/api/auth-tokens/');
    assert.equal((await send(other, 'PUT', '/api/0/auth/', { password: '' })).status, 200, "the prompt now passes");
    assert.equal((await send(other, 'POST', '/api/0/api-tokens/', {})).status, 201, 'and the retried action');
    assert.equal((await stale.get('/', { accept: 'application/json' })).status, 401, 'the gateway cookie from before the re-authentication is dead');
  });
});
