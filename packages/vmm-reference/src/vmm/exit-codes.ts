/**
 * How a VM run ended, and the process exit code `ts-vmm` gives each ending.
 *
 * | code | meaning |
 * | ---- | ------- |
 * | 0 | the guest powered off (ACPI sleep control, S5) |
 * | 1 | the VMM failed (bad kernel, backend error, guest internal error) |
 * | 2 | bad command line or configuration |
 * | 3 | the guest asked to reboot (i8042 reset, `reboot=k`) |
 * | 4 | the guest kernel panicked (`Kernel panic` on its console, then its `panic=1` reboot) |
 * | 5 | triple fault (the vCPU shut down) |
 * | 130 | SIGINT or Ctrl-A X |
 * | 141 | the console output (stdout) was closed: EPIPE, as for a process that SIGPIPE ends |
 * | 143 | SIGTERM |
 * | odd n | debug-exit port: the guest wrote `(n - 1) / 2` to port 0xf4 |
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

/** The exit code of each {@link StopReason} (debug-exit carries its own). */
export const EXIT_CODES = {
  poweroff: 0,
  error: 1,
  usage: 2,
  reboot: 3,
  panic: 4,
  'triple-fault': 5,
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
