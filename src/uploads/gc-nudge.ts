// Keeps a large upload's garbage small: a young-generation GC every few MiB of streamed bytes, shared by all uploads.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Why: every socket read is a fresh off-heap buffer, and V8 frees such buffers only at its next GC, which by
 * default comes once ~64 MiB of them have piled up (its external-memory soft limit). A 200 MiB upload then lifts
 * the process's peak memory by ~64 MiB although nothing is kept. A minor GC (a scavenge of the young generation,
 * about a millisecond) every STEP bytes frees them early and keeps the peak within a few MiB.
 */
const STEP = 8 * 1024 * 1024;

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let minorGc: (() => void) | null | undefined;
let streamed = 0;

function resolveGc(): (() => void) | null {
  try {
    // The same route jest-leak-detector takes: the flag makes `gc` available in contexts created afterwards.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as GcFunction | undefined;
    return typeof gc === 'function' ? () => gc({ type: 'minor' }) : null;
  } catch {
    return null;
  }
}

/** Counts streamed bytes (across all uploads in the process) and collects young garbage every STEP bytes. */
export function noteStreamedBytes(bytes: number): void {
  streamed += bytes;
  if (streamed < STEP) return;
  streamed = 0;
  minorGc ??= resolveGc();
  minorGc?.();
}
