// Preloaded by test/run.ts into each test file's process. Once the file's tests have finished, its
// `after` hooks get a grace period to close what the file started and the process to end by itself;
// if something is still open then (a server or a browser left by a setup that failed half way), the
// process names what and exits, so one leaked handle cannot hang the whole run.
//
// This replaces node's --test-force-exit, which on Node 24 exits before the file's last results have
// reached the runner: a whole run then reported 20-40 fewer tests, and a lost failure would not show.
// The exit keeps the code the runner set; failures already reported reach the parent either way.
import { after } from 'node:test';

// Registered before the file's own root hooks, so this also covers their run: a gateway's close
// alone may wait 10 s for connections to finish.
const GRACE_MS = 20_000;

after(() => {
  setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout');
    process.stderr.write(`\n${process.argv[1] ?? 'test file'}: still running ${GRACE_MS / 1000} s after its last test, held open by ${open.join(', ') || 'nothing visible'}; ending it\n`);
    process.exit();
  }, GRACE_MS).unref();
});
