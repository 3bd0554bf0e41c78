// Runs a real nginx (Debian's nginx-light, /usr/sbin/nginx) as a child process on the configuration `nginx-config`
// generates, in a temp prefix of its own, so the nginx mode is tested through the nginx that will run it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const NGINX = '/usr/sbin/nginx';

export interface RunningNginx {
  url: string;
  dir: string;
  /** nginx's error log so far (for a failing assertion's message). */
  errors(): string;
  close(): Promise<void>;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Starts nginx with `generated` (the text of an http-level include) listening on 127.0.0.1:`port`. */
export async function startNginx(generated: string, port: number): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'sag-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'sentry-ad-gateway.conf'), generated);
  const main = [
    // Root starts workers as nobody unless told: they must read this temp prefix.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'worker_processes 1;',
    `error_log ${join(dir, 'logs', 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '    access_log off;',
    `    client_body_temp_path ${join(dir, 'body')};`,
    `    proxy_temp_path ${join(dir, 'proxy')};`,
    `    fastcgi_temp_path ${join(dir, 'fastcgi')};`,
    `    uwsgi_temp_path ${join(dir, 'uwsgi')};`,
    `    scgi_temp_path ${join(dir, 'scgi')};`,
    `    include ${join(dir, 'sentry-ad-gateway.conf')};`,
    '}',
    '',
  ].join('\n');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, main);
  const args = ['-p', dir, '-c', conf, '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`];
  const errors = () => {
    try {
      return readFileSync(join(dir, 'logs', 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  let output = '';
  const child: ChildProcess = spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 100 && !(await listening(port)); i++) {
    if (gone) break;
    await sleep(50);
  }
  if (gone || !(await listening(port))) {
    child.kill('SIGKILL');
    throw new Error(`nginx did not start: ${output}${errors()}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    dir,
    errors,
    async close() {
      if (!gone) {
        child.kill('SIGQUIT');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
