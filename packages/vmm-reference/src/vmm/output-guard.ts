/**
 * Guards the process's own output streams (stdout, stderr) against readers that stall or go away:
 * an error on the stream (EPIPE when the reader closed its end) marks it closed instead of
 * crashing the process, and lines written while more than a bound of earlier output is still
 * unwritten are dropped and counted, so a reader that stops reading cannot grow the VMM's memory.
 *
 * @module
 */

/** The part of a Node `Writable` (`process.stdout`, `process.stderr`) a guard uses. */
export interface GuardableStream {
  write(chunk: string | Uint8Array): boolean;
  on(event: 'error', listener: (e: Error) => void): unknown;
  /** Bytes accepted but not yet written (Node's `writable.writableLength`). */
  readonly writableLength?: number;
}

/** Unwritten bytes beyond which {@link OutputGuard.writeLine} drops lines. */
export const MAX_PENDING_LINES_BYTES = 256 * 1024;

/**
 * @example
 * ```ts
 * const err = guardStream(process.stderr);
 * err.writeLine('ts-vmm: a status line'); // dropped (and counted) if stderr is closed or stalled
 * ```
 */
export class OutputGuard {
  /** The stream failed (its reader went away); nothing more is written. */
  closed = false;
  /** The error that closed it. */
  error: Error | undefined;
  /** Lines dropped because the stream was closed or too far behind. */
  droppedLines = 0;
  private readonly closeListeners = new Set<(e: Error) => void>();

  constructor(
    readonly stream: GuardableStream,
    readonly maxPending = MAX_PENDING_LINES_BYTES,
  ) {
    stream.on('error', (e) => {
      if (this.closed) return;
      this.closed = true;
      this.error = e;
      for (const l of [...this.closeListeners]) l(e);
    });
  }

  /** Bytes the stream has accepted but not yet written. */
  get pending(): number {
    return this.stream.writableLength ?? 0;
  }

  /** Calls `listener` once when the stream fails; returns a function that removes it. */
  onClose(listener: (e: Error) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Writes `line` and a newline, unless the stream is closed or more than the bound is pending. */
  writeLine(line: string): void {
    if (this.closed || this.pending > this.maxPending) {
      this.droppedLines++;
      return;
    }
    try {
      this.stream.write(`${line}\n`);
    } catch {
      this.droppedLines++;
    }
  }
}

const guards = new WeakMap<GuardableStream, OutputGuard>();

/**
 * The one guard of a stream (created at the first call), so that the CLI and the VMM share it.
 * @example guardStream(process.stdout).onClose(() => vmm.stop('output-closed'));
 */
export function guardStream(stream: GuardableStream): OutputGuard {
  let g = guards.get(stream);
  if (!g) {
    g = new OutputGuard(stream);
    guards.set(stream, g);
  }
  return g;
}

/** The error code of a stream error, for messages (`EPIPE`). */
export function streamErrorName(e: Error): string {
  return (e as NodeJS.ErrnoException).code ?? e.message;
}
