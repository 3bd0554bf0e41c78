// Open WebSockets by the session that opened them: ending a session (sign-out, revocation, timeout,
// a failed AD re-check) closes its sockets too, instead of leaving them spliced to Sentry for hours.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';

/** How often sessions with an open socket are checked for timeouts and for records gone from the store. */
export const SOCKET_CHECK_MS = 5000;

export type SocketCheck = (sessionId: string) => Promise<'ok' | 'ended' | 'unavailable'>;

export class SessionSockets {
  private readonly bySession = new Map<string, Set<Duplex>>();

  /** Remembers an upgraded socket until it closes. */
  track(sessionId: string, socket: Duplex): void {
    if (socket.destroyed) return;
    let set = this.bySession.get(sessionId);
    if (!set) this.bySession.set(sessionId, (set = new Set()));
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0 && this.bySession.get(sessionId) === set) this.bySession.delete(sessionId);
    });
  }

  /**
   * Cuts the connections of these sessions. Mid-stream there is no clean place to put a close frame
   * (the bytes are Sentry's frames), so the browser sees the connection drop, reconnects, and its new
   * handshake is refused without a session.
   */
  close(sessionIds: readonly string[]): number {
    let n = 0;
    for (const id of sessionIds) {
      const set = this.bySession.get(id);
      if (!set) continue;
      this.bySession.delete(id);
      for (const socket of set) {
        socket.destroy();
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.bySession.size;
  }

  /**
   * Every `everyMs`, checks each session that holds a socket. Announcements close sockets at once;
   * this catches what nobody announces: a record Redis expired, an idle or absolute timeout. A store
   * that cannot be read leaves sockets open (a Redis blip must not drop everyone); the next check decides.
   */
  startChecks(check: SocketCheck, logger: Logger, everyMs = SOCKET_CHECK_MS): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      void (async () => {
        for (const id of [...this.bySession.keys()]) {
          const verdict = await check(id).catch(() => 'unavailable' as const);
          if (verdict === 'ended') {
            const n = this.close([id]);
            logger.debug({ sockets: n }, 'closed the WebSockets of an ended session');
          }
        }
      })().finally(() => (running = false));
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
