// Keeps the C allocator from handing memory back to the OS between garbage collections.
//
// Every body chunk node reads from a socket is a fresh 64 KiB buffer from malloc, freed only when
// V8 collects it: on a 1 GiB upload that is 16,000 buffers, freed some 64 MiB at a time. With glibc's
// defaults (trim past 128 KiB of free memory at the top of the heap), each such batch goes back to the
// OS and the next chunks fault fresh pages in: up to 220,000 page faults per GiB, and the gateway then
// spent 2.5 s of user and 3-4 s of system CPU per GiB where a bare proxy spent 1 + 1 (measured with the
// bench's upload before this was added; bench/README.md, "Uploads: memory and CPU").
//
// glibc raises its trim threshold to twice the size of the largest block it has freed from mmap (up to
// 32 MiB blocks: mallopt(3), "dynamic mmap threshold"). Freeing one such block at start-up therefore
// lets ~60 MiB stay mapped and be reused, which is what the chunks of one GC cycle need. An operator who
// set the allocator's own knobs (MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES, …) keeps them: setting any of
// them turns glibc's dynamic adjustment off, and this changes nothing.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Just under glibc's DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on 64-bit), chunk header included. */
export const PRIMING_BLOCK_BYTES = 31 * 1024 * 1024;

export function operatorTunedMalloc(env: NodeJS.ProcessEnv): boolean {
  return Object.keys(env).some((k) => k.startsWith('MALLOC_') && k.endsWith('_')) || /glibc\.malloc\./.test(env.GLIBC_TUNABLES ?? '');
}

/** Frees one block just under 32 MiB from mmap, so glibc keeps freed buffers mapped. Linux only; once per process. */
export function keepFreedBuffersMapped(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform !== 'linux' || operatorTunedMalloc(env)) return false;
  // Allocated through malloc (not node's pool), so big enough to be mmap'd, and freed by the collection below.
  Buffer.allocUnsafeSlow(PRIMING_BLOCK_BYTES).fill(0, 0, 1);
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  gc();
  return true;
}
