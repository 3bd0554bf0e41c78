// nginx and caddy in the tests (nginx.ts, caddy.ts) start the same way: on the port their generated config listens
// on, waited for by src/dev/serverProcess.ts (patient on a busy machine, and saying what the process printed when it
// gives up), and stopped with the signal each takes for a graceful stop.
import net from 'node:net';
import { startServerProcess } from '../../src/dev/serverProcess.js';

export interface RunningProxy {
  /** The last ~2 KB the process printed. */
  output(): string;
  /** `signal`, then SIGKILL if it has not exited within 5 s. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

/** Resolves once something accepts a connection on 127.0.0.1:`port`, rejects ("not yet") otherwise. */
function connects(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve()));
    s.once('error', reject);
  });
}

/** Runs `command args` (with `env` added to this process's environment) until it listens on `port`. */
export async function startProxy(o: { what: string; command: string; args: string[]; port: number; env?: Record<string, string> }): Promise<RunningProxy> {
  // env(1) execs the command in the same process, so the pid the wait and the stop see is the proxy's own.
  const envArgs = Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const { proc, output } = await startServerProcess({
    what: o.what,
    command: envArgs.length ? '/usr/bin/env' : o.command,
    args: () => (envArgs.length ? [...envArgs, o.command, ...o.args] : o.args),
    port: o.port,
    ready: (port) => connects(port),
  });
  const exited = new Promise<void>((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once('exit', () => resolve())));
  return {
    output,
    async stop(signal) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
