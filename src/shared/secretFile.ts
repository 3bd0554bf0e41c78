// A secret that lives in a file: read once, re-read when the file changes (watch + periodic check) or on demand.
import { readFileSync, statSync, watch, watchFile, unwatchFile, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export class SecretFile {
  readonly path: string;
  private value: string;
  private mtimeMs: number;
  private readonly listeners = new Set<(value: string) => void>();
  private watcher?: FSWatcher;

  constructor(path: string) {
    this.path = path;
    this.value = SecretFile.readTrimmed(path);
    this.mtimeMs = statSync(path).mtimeMs;
    // Polling works on bind mounts and Kubernetes secret volumes, where inotify often misses atomic renames.
    watchFile(path, { interval: 2000, persistent: false }, () => this.reload());
    // And an inotify watch on the directory (it sees a rename over the file) for a change within
    // milliseconds where the platform delivers it; the poll above stays as the backstop.
    try {
      const name = basename(path);
      this.watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.reload();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // Not every file system can be watched; polling covers it.
    }
  }

  private static readTrimmed(path: string): string {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  }

  /** The current value. */
  get(): string {
    return this.value;
  }

  /** Non-empty lines (for files holding several secrets, first one current). */
  lines(): string[] {
    return this.value
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean);
  }

  /** Re-read the file now; returns true when the value changed. Keeps the old value if the file is unreadable. */
  reload(): boolean {
    try {
      const st = statSync(this.path);
      const next = SecretFile.readTrimmed(this.path);
      this.mtimeMs = st.mtimeMs;
      if (next === this.value || next === '') return false;
      this.value = next;
      for (const l of this.listeners) l(next);
      return true;
    } catch {
      return false;
    }
  }

  onChange(listener: (value: string) => void): void {
    this.listeners.add(listener);
  }

  close(): void {
    unwatchFile(this.path);
    this.watcher?.close();
  }
}
