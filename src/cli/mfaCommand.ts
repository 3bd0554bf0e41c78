// `mfa list|reset|enrol-link --user USER`, `mfa export|import FILE`, `mfa reencrypt`: second factors from the shell.
import { chmodSync, readFileSync } from 'node:fs';
import { buildBackends, type Backends } from '../compositionRoot.js';
import { isGatewayError } from '../errors.js';
import { keyFileBox } from '../mfa/buildMfa.js';
import { EnrolLinks } from '../mfa/enrolLinks.js';
import { openExport, sealExport } from '../mfa/exportFile.js';
import { FactorStore } from '../mfa/factorStore.js';
import { MfaThrottle } from '../mfa/mfaThrottle.js';
import { resetSecondFactor } from '../mfa/resetSecondFactor.js';
import { revokeSessions, SessionIndex } from '../session/sessionIndex.js';
import { createSessionStore } from '../session/sessionStore.js';
import { writeFileAtomic } from '../shared/atomicWrite.js';
import { systemClock } from '../shared/clock.js';
import { cliLogger, loadOrExit, table, UsageError, type CommonFlags } from './common.js';

const SUBS = ['list', 'reset', 'enrol-link', 'export', 'import', 'reencrypt'] as const;
type Sub = (typeof SUBS)[number];
const iso = (ms: number | null) => (ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '');
const actor = () => `cli:${process.env.USER ?? 'unknown'}`;

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return (Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '').trim();
}

/** The person as sign-in would find them (alice, CORP\alice, alice@corp.example.com): objectGUID and account name. */
async function personOf(b: Backends, user: string): Promise<{ guid: string; username: string }> {
  const found = await b.directory.lookup(user);
  if (!found) throw new Error(`${user.slice(0, 256).replace(/[\u0000-\u001f\u007f]/g, '?')}: no such user in the directory`);
  return { guid: found.guid.toLowerCase(), username: found.sAMAccountName.normalize('NFC').toLowerCase() };
}

export async function mfaCommand(sub: string | undefined, file: string | undefined, flags: CommonFlags & { user?: string }): Promise<number> {
  if (!SUBS.includes(sub as Sub)) throw new UsageError('mfa needs a subcommand: mfa list [--user USER] | reset --user USER | enrol-link --user USER | export FILE | import FILE | reencrypt');
  if ((sub === 'reset' || sub === 'enrol-link') && !flags.user) throw new UsageError(`mfa ${sub} needs --user USER`);
  if ((sub === 'export' || sub === 'import') && !file) throw new UsageError(`mfa ${sub} needs a FILE (the passphrase comes on stdin)`);
  const { config } = loadOrExit(flags);
  if (!config.session.redisUrl) {
    process.stderr.write('session.redisUrl is empty: second factors are kept only in Redis\n');
    return 1;
  }
  const b = buildBackends(config, cliLogger(config));
  const key = keyFileBox(config);
  const out = (json: unknown, human: string) => process.stdout.write(flags.json ? JSON.stringify(json, null, 2) + '\n' : human + '\n');
  try {
    await b.ready();
    const redis = b.redis!;
    const store = new FactorStore(redis, key.box, systemClock);
    switch (sub as Sub) {
      case 'list': {
        if (!flags.user) {
          const people = await store.people();
          const rows = await Promise.all(people.map(async (guid) => ({ guid, factors: (await store.list(guid)).length })));
          out({ people: rows }, rows.length ? table([['objectGUID', 'factors'], ...rows.map((r) => [r.guid, String(r.factors)])]) : 'nobody has a second factor');
          return 0;
        }
        const p = await personOf(b, flags.user);
        const factors = await store.list(p.guid);
        const recoveryCodesLeft = await store.recoveryCodesLeft(p.guid);
        const shown = factors.map((f) => ({ id: f.id, kind: f.kind, name: f.name, createdAt: iso(f.createdAt), lastUsedAt: iso(f.lastUsedAt) || null }));
        out(
          { user: p.username, guid: p.guid, factors: shown, recoveryCodesLeft },
          factors.length
            ? `${table([['kind', 'name', 'added', 'last used'], ...shown.map((f) => [f.kind, f.name, f.createdAt, f.lastUsedAt ?? 'never'])])}\n${recoveryCodesLeft} recovery code${recoveryCodesLeft === 1 ? '' : 's'} left`
            : `${p.username} has no second factor`,
        );
        return 0;
      }
      case 'reset': {
        const p = await personOf(b, flags.user as string);
        const sessionStore = createSessionStore(redis, { idleMs: config.session.idleTimeout, absoluteMs: config.session.absoluteTimeout });
        const index = new SessionIndex(redis, config.session.absoluteTimeout);
        const { removed, sessionsEnded } = await resetSecondFactor(
          {
            store,
            links: new EnrolLinks(redis, b.audit, systemClock, config.server.publicUrl),
            throttle: new MfaThrottle(redis, config.throttle.window, systemClock),
            audit: b.audit,
            endSessions: async (guid) => (await revokeSessions(index, sessionStore, guid)).length,
          },
          p,
          actor(),
        );
        out({ user: p.username, guid: p.guid, removed, sessionsEnded }, `Removed ${removed} factor${removed === 1 ? '' : 's'} and the recovery codes of ${p.username}; ended ${sessionsEnded} session${sessionsEnded === 1 ? '' : 's'}.`);
        return 0;
      }
      case 'enrol-link': {
        const p = await personOf(b, flags.user as string);
        const link = await new EnrolLinks(redis, b.audit, systemClock, config.server.publicUrl).issue(p.guid, { username: p.username, actor: actor() });
        out({ user: p.username, guid: p.guid, url: link.url, expiresAt: iso(link.expiresAt) }, `Enrolment link for ${p.username}, valid once until ${iso(link.expiresAt)}:\n${link.url}`);
        return 0;
      }
      case 'export': {
        const passphrase = await readStdinLine();
        const people = [];
        for (const guid of await store.people()) people.push(await store.dump(guid));
        const text = sealExport({ exportedAt: new Date().toISOString(), people }, passphrase);
        writeFileAtomic(file as string, text, 0o600);
        chmodSync(file as string, 0o600);
        b.audit.record({ kind: 'mfa.exported', actor: actor(), detail: { people: people.length, file } });
        out({ file, people: people.length }, `Exported the factors of ${people.length} ${people.length === 1 ? 'person' : 'people'} to ${file} (encrypted with the passphrase).`);
        return 0;
      }
      case 'import': {
        const passphrase = await readStdinLine();
        const content = openExport(readFileSync(file as string, 'utf8'), passphrase);
        for (const person of content.people) await store.restore(person);
        b.audit.record({ kind: 'mfa.imported', actor: actor(), detail: { people: content.people.length, exportedAt: content.exportedAt } });
        out({ file, people: content.people.length }, `Imported the factors of ${content.people.length} ${content.people.length === 1 ? 'person' : 'people'} from ${file} (exported ${content.exportedAt}).`);
        return 0;
      }
      case 'reencrypt': {
        const r = await store.reencryptAll();
        out(r, `Checked ${r.checked} secret${r.checked === 1 ? '' : 's'}, re-encrypted ${r.reencrypted} under the first key of mfa.keyFile${r.unreadable.length ? `; no key opens those of ${r.unreadable.join(', ')}` : ''}.`);
        return r.unreadable.length ? 1 : 0;
      }
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    process.stderr.write(`${isGatewayError(e) ? `${e.code}: ` : ''}${(e as Error).message}\n`);
    return 1;
  } finally {
    key.close();
    await b.close();
  }
}
