/**
 * How a VM run ended, and the process exit code `ts-vmm` gives each ending.
 *
 * The debug-exit port (0xf4) ends the run with `(value << 1) | 1`, an odd code, so the VMM's own
 * endings use even codes (sysexits-style 64 and 70 for usage and internal errors): a guest that
 * writes 0 (exit 1) is never mistaken for a VMM failure.
 *
 * | code | meaning |
 * | ---- | ------- |
 * | 0 | the guest powered off (ACPI sleep control, S5) |
 * | 2 | the guest asked to reboot (i8042 reset, ACPI reset register, `reboot=k`) |
 * | 4 | the guest kernel panicked (`Kernel panic` on its console, then its `panic=1` reboot) |
 * | 6 | triple fault (the vCPU shut down) |
 * | 64 | bad command line or configuration (`EX_USAGE`) |
 * | 70 | the VMM failed: bad kernel, backend error, guest internal error (`EX_SOFTWARE`) |
 * | 130 | SIGINT or Ctrl-A X (128 + 2) |
 * | 141 | the console output (stdout) was closed: EPIPE, as for a process that SIGPIPE ends (128 + 13) |
 * | 143 | SIGTERM (128 + 15) |
 * | odd n | debug-exit port: the guest wrote `(n - 1) / 2` to port 0xf4 |
 *
 * 141 and 143 keep the shell's signal convention and are odd, so a guest writing 70 or 71 to the
 * debug-exit port ends with the same code: {@link RunResult.reason} (`'debug-exit'` against
 * `'output-closed'` / `'sigterm'`) tells them apart, and the CLI prints it.
 *
 * @module
 */

/** Why the VM stopped. */
export type StopReason =
  | 'poweroff'
  | 'reboot'
  | 'panic'
  | 'triple-fault'
  | 'debug-exit'
  | 'error'
  | 'sigint'
  | 'sigterm'
  | 'user-quit'
  | 'output-closed';

/**
 * The exit code of each {@link StopReason} (debug-exit carries its own, always odd), and `usage`
 * for a bad command line. Every code here but 141 and 143 is even.
 * @example EXIT_CODES.error // 70
 */
export const EXIT_CODES = {
  poweroff: 0,
  reboot: 2,
  panic: 4,
  'triple-fault': 6,
  usage: 64,
  error: 70,
  sigint: 130,
  'user-quit': 130,
  'output-closed': 141,
  sigterm: 143,
} as const;

/**
 * The result of a run.
 * @example
 * ```ts
 * const r = await vmm.run();
 * if (r.reason === 'poweroff') console.log('clean shutdown');
 * process.exitCode = r.exitCode;
 * ```
 */
export interface RunResult {
  reason: StopReason;
  exitCode: number;
  /** A human-readable detail (the error, the panic line, ...). */
  detail?: string;
}

/**
 * Builds a {@link RunResult}.
 * @example stopResult('poweroff') // { reason: 'poweroff', exitCode: 0 }
 */
export function stopResult(reason: StopReason, detail?: string, debugCode?: number): RunResult {
  const exitCode =
    reason === 'debug-exit' ? (debugCode ?? 1) : EXIT_CODES[reason as Exclude<StopReason, 'debug-exit'>];
  return detail === undefined ? { reason, exitCode } : { reason, exitCode, detail };
}
