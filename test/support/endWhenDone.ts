// Preloaded by test/run.ts into each test file's process. Once the file's last test and hook have
// finished, the process gets a grace period to end by itself; if something it started is still open
// (a server or a browser left by a setup that failed half way), it names what and exits.
//
// This replaces node's --test-force-exit, which on Node 24 exits before the file's last results have
// reached the runner: a whole run then reported 20-40 fewer tests, and a lost failure would not show.
import { after } from 'node:test';

const GRACE_MS = 5_000;

after(() => {
  setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout');
    process.stderr.write(`\n${process.argv[1] ?? 'test file'}: still running ${GRACE_MS / 1000} s after its last test, held open by ${open.join(', ') || 'nothing visible'}; ending it\n`);
    process.exit(process.exitCode ?? 1);
  }, GRACE_MS).unref();
});
