// `caddy-config`: prints the Caddyfile site block of the nginx mode's Caddy variant, generated from this config
// (docs/nginx-mode.md#caddy).
import { caddyConfig, caddyConfigRefusal } from '../caddy/caddyConfig.js';
import { loadOrExit, type CommonFlags } from './common.js';

export function caddyConfigCommand(flags: CommonFlags): number {
  const { config, file } = loadOrExit(flags);
  const refusal = caddyConfigRefusal(config);
  if (refusal !== undefined) {
    process.stderr.write(`${file}: ${refusal}\n`);
    return 1;
  }
  process.stdout.write(caddyConfig(config, { source: file }));
  return 0;
}
