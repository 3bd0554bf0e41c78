// Starts a server process the tests or the demo need on a port picked as free, and waits until it answers: patient on
// a busy machine, retried on a new port when another process took the picked one first, and when it gives up it says
// what the process printed, how it ended and whether the port is held by someone else.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a started process may take to answer: a minute, since a machine busy with other work is slow to start anything. */
export const START_TIMEOUT_MS = 60_000;
/** Kept of a process's output for the error that explains a failed start. */
const OUTPUT_TAIL_CHARS = 2_000;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something listens on 127.0.0.1:`port` (a listen there fails with EADDRINUSE). */
export async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE'));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)));
  });
}

export interface ServerProcessOptions {
  /** Named in errors, e.g. `redis-server`. */
  what: string;
  command: string;
  /** The arguments for one attempt on `port` (called again for each new port). */
  args: (port: number) => string[] | Promise<string[]>;
  /**
   * Resolves once the process answers on `port`; a rejection means "not yet". `pid` is the process started: a
   * server of the same kind that already held the port answers too, so `ready` must check it is this one.
   */
  ready: (port: number, pid: number) => Promise<unknown>;
  /** A port that must be used (a restart on the same address): never swapped for another. */
  port?: number;
  /** Picks the port for each attempt; `freePort` unless a caller needs another. */
  pickPort?: () => Promise<number>;
  /** Attempts on new ports when the picked one turns out taken; 5 by default. */
  attempts?: number;
  timeoutMs?: number;
  /** Said when the command cannot be run at all, e.g. how to install it. */
  installHint?: string;
}

export interface ServerProcess {
  proc: ChildProcess;
  port: number;
  /** The arguments the running process was started with. */
  args: string[];
  /** The last ~2 KB the process printed. */
  output(): string;
}

const BIND_FAILURE = /address already in use|EADDRINUSE|could not create server tcp listening socket/i;

export async function startServerProcess(o: ServerProcessOptions): Promise<ServerProcess> {
  const attempts = o.port === undefined ? (o.attempts ?? 5) : 1;
  const timeoutMs = o.timeoutMs ?? START_TIMEOUT_MS;
  const tried: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const port = o.port ?? (await (o.pickPort ?? freePort)());
    const args = await o.args(port);
    const outcome = await attemptOn(o, port, args, timeoutMs);
    if (outcome.ok) return outcome.started;
    const taken = outcome.exited && (BIND_FAILURE.test(outcome.output) || (await portInUse(port)));
    if (taken && attempt < attempts) {
      tried.push(String(port));
      continue;
    }
    const how = outcome.exited ? `it exited with ${outcome.exited}` : `it was still running (pid ${outcome.pid}) and was killed`;
    const holder = taken ? `; port ${port} is taken by another process` : (await portInUse(port)) ? `; port ${port} is in use` : `; nothing else listens on port ${port}`;
    const retried = tried.length ? ` (ports ${tried.join(', ')} were taken before it)` : '';
    const printed = outcome.output.trim() ? `; it printed:\n${outcome.output.trim()}` : '; it printed nothing';
    throw new Error(`gave up waiting for ${o.what} on ${port}${retried} after ${outcome.waitedMs} ms: ${how}${holder}${outcome.lastError ? ` (last error: ${outcome.lastError})` : ''}${printed}`);
  }
}

type Attempt =
  | { ok: true; started: ServerProcess }
  | { ok: false; exited?: string; pid?: number; output: string; lastError?: string; waitedMs: number };

async function attemptOn(o: ServerProcessOptions, port: number, args: string[], timeoutMs: number): Promise<Attempt> {
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  const proc = spawn(o.command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let exited: string | undefined;
  let spawnError: Error | undefined;
  const gone = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
    proc.once('error', (e) => {
      spawnError = e;
      resolve();
    });
  });
  const started = Date.now();
  const until = started + timeoutMs;
  let lastError: string | undefined;
  for (;;) {
    if (spawnError) throw new Error(`cannot start ${o.what}${o.installHint ? ` (${o.installHint})` : ''}: ${spawnError.message}`);
    if (exited) {
      // The last lines it wrote may still be in the pipe when the exit is seen.
      await Promise.race([Promise.all([streamEnd(proc.stdout!), streamEnd(proc.stderr!)]), sleep(1000)]);
      return { ok: false, exited, output, lastError, waitedMs: Date.now() - started };
    }
    try {
      await o.ready(port, proc.pid ?? -1);
      return { ok: true, started: { proc, port, args, output: () => output } };
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (Date.now() > until) {
      proc.kill('SIGKILL');
      await gone;
      return { ok: false, pid: proc.pid, output, lastError, waitedMs: Date.now() - started };
    }
    await Promise.race([sleep(100), gone]);
  }
}

function streamEnd(s: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    if ((s as { readableEnded?: boolean }).readableEnded) return resolve();
    s.once('end', resolve);
    s.once('close', resolve);
  });
}
