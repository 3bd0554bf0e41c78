// Shared command-line plumbing: load and validate the config, print problems, exit codes (0 ok, 1 failure, 2 usage).
import { configPathFrom, loadConfig, type ConfigProblem } from '../config/loadConfig.js';
import type { Config } from '../config/schema.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { escapeControls, escapeControlsKeepLines } from '../shared/terminalText.js';

export class UsageError extends Error {}

export interface CommonFlags {
  config?: string;
  json?: boolean;
}

export function printProblems(problems: ConfigProblem[], file: string, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ok: false, file, problems }, null, 2) + '\n');
    return;
  }
  process.stderr.write(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  for (const p of problems) process.stderr.write(`  ${p.path}: ${p.message}\n`);
}

/** Loads the config or exits 1 after printing every problem. */
export function loadOrExit(flags: CommonFlags): { config: Config; file: string; warnings: string[] } {
  const file = configPathFrom(flags, process.env);
  const result = loadConfig({ file, env: process.env });
  if (!result.ok) {
    printProblems(result.problems, file, !!flags.json);
    process.exit(1);
  }
  return { config: result.config, file, warnings: result.warnings };
}

/** Commands other than `serve` log to stderr so stdout stays the command's own output. */
export function cliLogger(config: Config): Logger {
  return createLogger(config.log.level === 'info' ? 'warn' : config.log.level, process.stderr);
}

/** Every cell with its controls escaped (escapeControls), so a stored value cannot drive the admin's terminal. */
export function table(rows: string[][]): string {
  rows = rows.map((r) => r.map(escapeControls));
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length))) ?? [];
  return rows.map((r) => r.map((c, i) => c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - [...c].length))).join('  ').trimEnd()).join('\n');
}

/**
 * Every command's output, whatever printed it: controls other than newlines and tabs are escaped before they reach
 * stdout or stderr (a value printed outside a table, a JSON string holding a C1 control, an error message).
 */
export function guardTerminalOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => write(typeof chunk === 'string' ? escapeControlsKeepLines(chunk) : chunk, ...rest)) as typeof stream.write;
  }
}
