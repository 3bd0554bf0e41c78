// Replaces a file in one step (temp file in the same directory + rename), so a reader never sees half a secret.
import { chmodSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';

/** Writes `content` to `path` atomically, keeping the mode of the file it replaces (else `fallbackMode`). */
export function writeFileAtomic(path: string, content: string, fallbackMode = 0o600): void {
  let mode = fallbackMode;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    // A new file: the fallback mode.
  }
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, content, { mode, flag: 'wx' });
    // The umask may have narrowed the mode at creation; the replaced file's mode is what readers rely on.
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing was created.
    }
    throw e;
  }
}
