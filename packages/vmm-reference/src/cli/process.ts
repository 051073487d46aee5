/**
 * The `ts-vmm` process around {@link runCli}: its standard streams and its exit.
 *
 * - stdout and stderr are guarded ({@link guardStream}): an EPIPE (the reader closed its end, as
 *   `ts-vmm run | head` does) marks the stream closed instead of crashing the process; a VMM that
 *   is running then stops with exit code 141 (`output-closed`). Lines written while a stream is
 *   far behind are dropped.
 * - When the CLI is done, output still queued for a pipe is given time to drain while the reader
 *   takes it, and then dropped: the process exits with the CLI's code within
 *   {@link SETTLE_IDLE_MS} of the reader's last progress, rather than waiting forever for a
 *   reader that stopped reading (pending pipe writes would keep Node's event loop alive). A
 *   SIGINT or SIGTERM during that wait exits at once, with the same code.
 *
 * @module
 */
import { guardStream, type OutputGuard } from '../vmm/output-guard.js';
import type { CliDeps } from './main.js';
import { runCli } from './main.js';

/** How long the exit waits for a reader that takes none of the output still queued. */
export const SETTLE_IDLE_MS = 500;

/**
 * Waits until no output is queued on the guarded streams, or until none of it was written for
 * `idleMs`, or until SIGINT/SIGTERM: whichever comes first. Never rejects.
 *
 * @example
 * ```ts
 * await settleOutput([guardStream(process.stdout), guardStream(process.stderr)]);
 * process.exit(code);
 * ```
 */
export function settleOutput(guards: readonly OutputGuard[], idleMs = SETTLE_IDLE_MS): Promise<void> {
  const queued = () => guards.reduce((n, g) => n + (g.closed ? 0 : g.pending), 0);
  let last = queued();
  if (last === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let lastProgress = Date.now();
    const finish = () => {
      clearInterval(timer);
      process.removeListener('SIGINT', finish);
      process.removeListener('SIGTERM', finish);
      resolve();
    };
    const timer = setInterval(() => {
      const now = queued();
      if (now === 0) return finish();
      if (now < last) lastProgress = Date.now();
      last = now;
      if (Date.now() - lastProgress >= idleMs) finish();
    }, 20);
    process.on('SIGINT', finish);
    process.on('SIGTERM', finish);
  });
}

/**
 * Runs the CLI as this process and exits with its code (see the module notes).
 *
 * @example
 * ```ts
 * await runProcess(process.argv.slice(2), realDeps());
 * ```
 */
export async function runProcess(argv: readonly string[], deps: CliDeps): Promise<never> {
  const out = guardStream(process.stdout);
  const err = guardStream(process.stderr);
  const code = await runCli(argv, deps, {
    out: (l) => out.writeLine(l),
    err: (l) => err.writeLine(l),
  });
  if (err.droppedLines > 0 && !err.closed) {
    // One line past the bound: what the stalled reader missed, if it ever reads again.
    err.stream.write(`ts-vmm: ${err.droppedLines} status lines dropped (stderr was not being read)\n`);
  }
  await settleOutput([out, err]);
  process.exit(code);
}
