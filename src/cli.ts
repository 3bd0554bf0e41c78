#!/usr/bin/env node
// The `sentry-ad-gateway` command: parses arguments and hands off to one file per command.
import { parseArgs } from 'node:util';
import { checkConfigCommand } from './cli/checkConfigCommand.js';
import { guardTerminalOutput, UsageError } from './cli/common.js';
import { demoCommand } from './cli/demoCommand.js';
import { explainCommand } from './cli/explainCommand.js';
import { serveCommand } from './cli/serveCommand.js';
import { syncCommand } from './cli/syncCommand.js';
import { mappingsCommand } from './cli/mappingsCommand.js';
import { sessionsCommand } from './cli/sessionsCommand.js';
import { keysCommand } from './cli/keysCommand.js';
import { bindPasswordCommand } from './cli/bindPasswordCommand.js';
import { mfaCommand } from './cli/mfaCommand.js';
import { nginxConfigCommand } from './cli/nginxConfigCommand.js';
import { caddyConfigCommand } from './cli/caddyConfigCommand.js';

const USAGE = `usage: sentry-ad-gateway <command> [--config FILE] [--json]

commands:
  serve                          run the gateway
  check-config [--connect]       validate the config; --connect also binds to LDAP, pings Redis, calls Sentry
  explain USER [--password-stdin] [--from ADDRESS]
                                 groups, access, org role, teams and second-factor decision for USER, and why
  sync [--dry-run] [--force] [--user USER]
                                 reconcile Sentry memberships with AD: print the plan, then apply it
  mappings export                print the mapping rules as YAML
  mappings import FILE           replace the mapping rules from a YAML file (- = stdin)
  sessions list [--user USER]    who is signed in, from where, since when
  sessions revoke --user USER    end every session of USER
  keys list                      signing keys in assertion.keysDir and their state
  keys rotate                    add a key: published now, signs after assertion.ttl + 60 s, old one retired after
  bind-password rotate [--generate]
                                 change the LDAP service account's password in AD (new one on stdin, or
                                 generated), verify it, write ldap.bindPasswordFile; replicas follow
  mfa list [--user USER]         second factors of USER (kind, name, added, last used), or who has any
  mfa reset --user USER          remove USER's factors and recovery codes and end their sessions
  mfa enrol-link --user USER     a one-time link (24 h) with which USER may enrol a first factor from anywhere
  mfa export FILE | import FILE  every factor, encrypted with a passphrase read from stdin (moving Redis)
  mfa reencrypt                  re-encrypt factor secrets under the first key of mfa.keyFile (after adding one)
  nginx-config [--check FILE]    print the nginx configuration of the nginx mode (nginx carries the bytes, asks
                                 the gateway at /_gateway/auth), generated from this config; --check says what
                                 is wrong with a hand-written one
  caddy-config                   print the Caddyfile site block of the same mode behind Caddy (forward_auth)
  demo [--port N]                throwaway Samba DC, Redis, stand-in Sentry and gateway on this machine

--config FILE defaults to $SAG_CONFIG, then config/gateway.yaml.
`;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean' },
      connect: { type: 'boolean' },
      'password-stdin': { type: 'boolean' },
      port: { type: 'string' },
      'dry-run': { type: 'boolean' },
      generate: { type: 'boolean' },
      force: { type: 'boolean' },
      user: { type: 'string' },
      from: { type: 'string' },
      check: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const flags = { config: values.config, json: values.json };
  // The gateway's own JSON log lines (serve) escape controls already; everything else a command prints is guarded.
  if (command !== 'serve') guardTerminalOutput();
  switch (command) {
    case 'serve':
      return serveCommand(flags);
    case 'check-config':
      return checkConfigCommand({ ...flags, connect: values.connect });
    case 'explain':
      return explainCommand(rest[0], { ...flags, passwordStdin: values['password-stdin'], from: values.from });
    case 'sync':
      return syncCommand({ ...flags, dryRun: values['dry-run'], force: values.force, user: values.user });
    case 'mappings':
      return mappingsCommand(rest[0], rest[1], flags);
    case 'sessions':
      return sessionsCommand(rest[0], { ...flags, user: values.user });
    case 'keys':
      return keysCommand(rest[0], flags);
    case 'bind-password':
      return bindPasswordCommand(rest[0], { ...flags, generate: values.generate });
    case 'mfa':
      return mfaCommand(rest[0], rest[1], { ...flags, user: values.user });
    case 'nginx-config':
      return nginxConfigCommand({ ...flags, check: values.check });
    case 'caddy-config':
      return caddyConfigCommand(flags);
    case 'demo':
      return demoCommand({ port: values.port ? Number(values.port) : undefined });
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (e: unknown) => {
    const usage = e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`${usage ? '' : 'error: '}${(e as Error).message}\n${usage ? `\n${USAGE}` : ''}`);
    process.exitCode = usage ? 2 : 1;
  },
);
