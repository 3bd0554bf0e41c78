// `mappings export` / `mappings import FILE`: the rules in Redis as YAML, versioned and audited on import.
import { readFileSync } from 'node:fs';
import { buildBackends } from '../compositionRoot.js';
import { formatRuleFile, parseRuleFile } from '../mapping/ruleStore.js';
import { cliLogger, loadOrExit, UsageError, type CommonFlags } from './common.js';

export async function mappingsCommand(sub: string | undefined, file: string | undefined, flags: CommonFlags): Promise<number> {
  if (sub !== 'export' && sub !== 'import') throw new UsageError('mappings needs a subcommand: mappings export | mappings import FILE');
  if (sub === 'import' && !file) throw new UsageError('mappings import needs a file: mappings import FILE (- for standard input)');
  const { config } = loadOrExit(flags);
  const b = buildBackends(config, cliLogger(config));
  try {
    await b.ready();
    if (!b.redis) process.stderr.write('warning: session.redisUrl is empty, so rules live only in the config file; this changes nothing shared\n');
    if (sub === 'export') {
      const set = await b.rules.current();
      process.stdout.write(flags.json ? JSON.stringify(set, null, 2) + '\n' : formatRuleFile(set));
      return 0;
    }
    const text = readFileSync(file === '-' ? 0 : file!, 'utf8');
    const parsed = parseRuleFile(text);
    if (!parsed.ok) {
      process.stderr.write(`${file}: ${parsed.problems.length} problem${parsed.problems.length === 1 ? '' : 's'}\n`);
      for (const p of parsed.problems) process.stderr.write(`  ${p}\n`);
      return 1;
    }
    const before = await b.rules.current();
    const actor = `cli:${process.env.USER ?? 'unknown'}`;
    const saved = await b.rules.save(parsed.value, actor, before.version);
    b.audit.record({ kind: 'mapping.change', actor, detail: { from: before.version, to: saved.version, rules: saved.rules.length, via: 'mappings import' } });
    if (flags.json) process.stdout.write(JSON.stringify({ version: saved.version, rules: saved.rules.length }) + '\n');
    else process.stdout.write(`Imported ${saved.rules.length} rule${saved.rules.length === 1 ? '' : 's'}: version ${before.version} → ${saved.version}. Takes effect at the next sign-in or sync on every replica.\n`);
    return 0;
  } finally {
    await b.close();
  }
}
