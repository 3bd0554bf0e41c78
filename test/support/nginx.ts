// Runs a real nginx (Debian's nginx-light, /usr/sbin/nginx) as a child process on the configuration `nginx-config`
// generates, in a temp prefix of its own, so the nginx mode is tested through the nginx that will run it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy, type RunningProxy } from './proxyProcess.js';

export const NGINX = '/usr/sbin/nginx';

export interface RunningNginx {
  url: string;
  dir: string;
  /** nginx's error log so far (for a failing assertion's message). */
  errors(): string;
  close(): Promise<void>;
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
    // As docs/nginx-mode.md asks and deploy/self-hosted/nginx/nginx.conf has it.
    'pcre_jit on;',
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
  let nginx: RunningProxy;
  try {
    nginx = await startProxy({ what: 'nginx', command: NGINX, args, port });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${errors()}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    dir,
    errors,
    async close() {
      await nginx.stop('SIGQUIT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
