// Runs the real caddy binary (Debian's, /usr/bin/caddy) as a child process on the site block `caddy-config`
// generates, with its admin API off and its own XDG directories in a temp dir, so the Caddy variant of the nginx
// mode is tested through the Caddy that will run it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy, type RunningProxy } from './proxyProcess.js';

export const CADDY = '/usr/bin/caddy';

export interface RunningCaddy {
  url: string;
  /** The last ~2 KB of Caddy's own log (for a failing assertion's message). */
  output(): string;
  close(): Promise<void>;
}

/** Starts caddy with `site` (a generated site block for http://127.0.0.1:`port`), HTTP only. */
export async function startCaddy(site: string, port: number): Promise<RunningCaddy> {
  const dir = mkdtempSync(join(tmpdir(), 'sag-caddy-'));
  const global = ['{', '    admin off', '    auto_https off', '}', ''].join('\n');
  const file = join(dir, 'Caddyfile');
  writeFileSync(file, global + site);
  const env = { HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
  let caddy: RunningProxy;
  try {
    caddy = await startProxy({ what: 'caddy', command: CADDY, args: ['run', '--config', file, '--adapter', 'caddyfile'], port, env });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: caddy.output,
    async close() {
      await caddy.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
