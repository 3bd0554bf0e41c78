// `nginx-config`: prints the nginx configuration of the nginx mode, generated from this config (docs/nginx-mode.md).
import { nginxConfig } from '../nginx/nginxConfig.js';
import { loadOrExit, type CommonFlags } from './common.js';

export function nginxConfigCommand(flags: CommonFlags): number {
  const { config, file } = loadOrExit(flags);
  if (!config.nginx.enabled) {
    // nginx would ask a gateway that answers no decision: every request would fail.
    process.stderr.write(`${file}: nginx.enabled is false, so the gateway answers no decision at /_gateway/auth; set it to true first\n`);
    return 1;
  }
  process.stdout.write(nginxConfig(config, { source: file }));
  return 0;
}
