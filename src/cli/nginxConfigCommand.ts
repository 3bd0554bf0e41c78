// `nginx-config`: prints the nginx configuration of the nginx mode, generated from this config (docs/nginx-mode.md).
import { readFileSync } from 'node:fs';
import { checkNginxConfig } from '../nginx/checkNginxConfig.js';
import { nginxConfig } from '../nginx/nginxConfig.js';
import { loadOrExit, type CommonFlags } from './common.js';

/** `--check FILE`: what is wrong with a hand-written nginx configuration, where the text tells; exit 1 on any error. */
function check(path: string, flags: CommonFlags): number {
  const { config } = loadOrExit(flags);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    process.stderr.write(`cannot read ${path}: ${(e as Error).message}\n`);
    return 1;
  }
  const problems = checkNginxConfig(text, config);
  if (flags.json) process.stdout.write(JSON.stringify({ ok: !problems.some((p) => p.severity === 'error'), file: path, problems }, null, 2) + '\n');
  else if (problems.length === 0) process.stdout.write(`${path}: nothing wrong that the text shows (nginx -t checks the syntax)\n`);
  else for (const p of problems) process.stdout.write(`${path}:${p.line}: ${p.severity}: ${p.message}\n`);
  return problems.some((p) => p.severity === 'error') ? 1 : 0;
}

export function nginxConfigCommand(flags: CommonFlags & { check?: string | undefined }): number {
  if (flags.check !== undefined) return check(flags.check, flags);
  const { config, file } = loadOrExit(flags);
  if (!config.nginx.enabled) {
    // nginx would ask a gateway that answers no decision: every request would fail.
    process.stderr.write(`${file}: nginx.enabled is false, so the gateway answers no decision at /_gateway/auth; set it to true first\n`);
    return 1;
  }
  process.stdout.write(nginxConfig(config, { source: file }));
  return 0;
}
