// Runs the real caddy binary (Debian's, /usr/bin/caddy) as a child process on the site block `caddy-config`
// generates, with its admin API off and its own XDG directories in a temp dir, so the Caddy variant of the nginx
// mode is tested through the Caddy that will run it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const CADDY = '/usr/bin/caddy';

export interface RunningCaddy {
  url: string;
  /** Caddy's own log so far (for a failing assertion's message). */
  output(): string;
  close(): Promise<void>;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Starts caddy with `site` (a generated site block for http://127.0.0.1:`port`), HTTP only. */
export async function startCaddy(site: string, port: number): Promise<RunningCaddy> {
  const dir = mkdtempSync(join(tmpdir(), 'sag-caddy-'));
  const global = ['{', '    admin off', '    auto_https off', '}', ''].join('\n');
  const file = join(dir, 'Caddyfile');
  writeFileSync(file, global + site);
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
  let output = '';
  const child: ChildProcess = spawn(CADDY, ['run', '--config', file, '--adapter', 'caddyfile'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 200 && !(await listening(port)); i++) {
    if (gone) break;
    await sleep(50);
  }
  if (gone || !(await listening(port))) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`caddy did not start: ${output}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    async close() {
      if (!gone) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
