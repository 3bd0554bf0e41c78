// The service account's password as files: the current one in ldap.bindPasswordFile, and a pending one
// beside it while `bind-password rotate` is between changing AD and replacing the file.
import { readFileSync, statSync, unlinkSync } from 'node:fs';
import { writeFileAtomic } from '../shared/atomicWrite.js';

/** Where a rotation parks the new password before AD has it: replicas try it when the current one is refused. */
export function pendingPasswordPath(bindPasswordFile: string): string {
  return `${bindPasswordFile}.next`;
}

function readTrimmed(path: string): string | undefined {
  try {
    const v = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    return v === '' ? undefined : v;
  } catch {
    return undefined;
  }
}

/**
 * The password to try after the current one was refused twice: the pending one while a rotation is
 * under way, else the file again (the rotation may have finished between our reads).
 */
export function readPendingPassword(bindPasswordFile: string): string | undefined {
  return readTrimmed(pendingPasswordPath(bindPasswordFile)) ?? readTrimmed(bindPasswordFile);
}

export function writePendingPassword(bindPasswordFile: string, password: string): void {
  // Same mode as the file it will replace, whatever a leftover pending file had.
  discardPendingPassword(bindPasswordFile);
  writeFileAtomic(pendingPasswordPath(bindPasswordFile), password + '\n', statSync(bindPasswordFile).mode & 0o777);
}

/** Moves the new password into place: the file first, so a replica that misses the pending file finds it there. */
export function commitPassword(bindPasswordFile: string, password: string): void {
  writeFileAtomic(bindPasswordFile, password + '\n', 0o600);
  discardPendingPassword(bindPasswordFile);
}

export function discardPendingPassword(bindPasswordFile: string): void {
  try {
    unlinkSync(pendingPasswordPath(bindPasswordFile));
  } catch {
    // Already gone.
  }
}
