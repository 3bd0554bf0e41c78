// `sessions list [--user USER]` / `sessions revoke --user USER`: who is signed in, and ending someone's sessions.
import { buildBackends } from '../compositionRoot.js';
import { createSessionStore } from '../session/sessionStore.js';
import { listSessions, revokeSessions, SessionIndex } from '../session/sessionIndex.js';
import { sessionPeopleOf, type SessionPeople } from '../session/sessionUser.js';
import { cliLogger, loadOrExit, table, UsageError, type CommonFlags } from './common.js';

const iso = (ms?: number) => (ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '');

export async function sessionsCommand(sub: string | undefined, flags: CommonFlags & { user?: string }): Promise<number> {
  if (sub !== 'list' && sub !== 'revoke') throw new UsageError('sessions needs a subcommand: sessions list [--user USER] | sessions revoke --user USER');
  if (sub === 'revoke' && !flags.user) throw new UsageError('sessions revoke needs --user USER');
  const { config } = loadOrExit(flags);
  const b = buildBackends(config, cliLogger(config));
  try {
    await b.ready();
    if (!b.redis) {
      // Without Redis the sessions live inside the serving process: nothing a separate command can see.
      process.stderr.write('session.redisUrl is empty: sessions live inside the gateway process and cannot be listed or revoked from here\n');
      return 1;
    }
    const store = createSessionStore(b.redis, { idleMs: config.session.idleTimeout, absoluteMs: config.session.absoluteTimeout });
    const index = new SessionIndex(b.redis, config.session.absoluteTimeout);
    // CORP\alice, alice@corp.example.com and Alice all name the one account sign-in would, found by its objectGUID.
    let person: SessionPeople | undefined;
    try {
      person = flags.user === undefined ? undefined : await sessionPeopleOf(flags.user, config.ldap, b.directory, { index, store });
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      return 1;
    }
    if (sub === 'list') {
      const sessions = await listSessions(index, store, person ? { subs: person.subs } : {});
      if (flags.json) {
        const out = sessions.map((s) => ({ ...s, sessionId: undefined, authenticatedAt: iso(s.authenticatedAt), lastSeenAt: iso(s.lastSeenAt) }));
        process.stdout.write(JSON.stringify({ sessions: out }, null, 2) + '\n');
      } else if (sessions.length === 0) {
        process.stdout.write(flags.user ? `${flags.user} has no session\n` : 'nobody is signed in\n');
      } else {
        process.stdout.write(
          table([['user', 'signed in', 'last seen', 'from', 'browser'], ...sessions.map((s) => [s.username, iso(s.authenticatedAt), iso(s.lastSeenAt), s.clientAddress ?? '', (s.userAgent ?? '').slice(0, 60)])]) + '\n',
        );
      }
      return 0;
    }
    if (!person) throw new UsageError('sessions revoke needs --user USER');
    const user = person.username;
    const ids: string[] = [];
    for (const sub of person.subs) ids.push(...(await revokeSessions(index, store, sub)));
    const actor = `cli:${process.env.USER ?? 'unknown'}`;
    b.audit.record({ kind: 'session.revoked', user, actor, detail: { sessions: ids.length } });
    if (flags.json) process.stdout.write(JSON.stringify({ user, revoked: ids.length }) + '\n');
    // Replicas may serve a record from their 2 s in-process cache: that is the only delay.
    else process.stdout.write(`Ended ${ids.length} session${ids.length === 1 ? '' : 's'} of ${user}; every replica refuses them within 2 seconds.\n`);
    return 0;
  } finally {
    await b.close();
  }
}
