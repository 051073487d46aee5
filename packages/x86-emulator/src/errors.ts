/**
 * The one error class of this package: errors raised to the host (the VMM), never to the guest.
 * What the guest does wrong is not an error: its faults go through the IDT, and an emulator
 * failure while it runs becomes an `internal-error` exit of `run()`.
 *
 * @module
 */

/** What went wrong, for code that branches on it. */
export type X86EmulatorErrorKind =
  /**
   * A value the call does not accept: an out-of-range GSI, IRQ, pin, PIT channel, APIC ID,
   * interrupt vector or vCPU id, a malformed MSI address or data, a bad option (`tscHz`,
   * `instructionsPerNs`, clock mode), an MSR write the vCPU refuses (`setMsrs`: an index it does
   * not have or a value it rejects), a foreign kicker description.
   */
  | 'invalid-argument'
  /**
   * The call comes at the wrong time: the VM already has its memory or irqchip, vCPUs exist already,
   * the vCPU id is taken, there is no memory or irqchip yet, the dirty log was not enabled.
   */
  | 'invalid-state'
  /**
   * The request is well-formed but the emulator does not offer it: reading an MSR the vCPU does
   * not have (`getMsrs`), more than four hardware breakpoints.
   */
  | 'unsupported'
  /** A VM, vCPU or interrupt line was used after `close()`. */
  | 'closed'
  /** The guest memory has no grow room left for another vCPU's WebAssembly state area. */
  | 'out-of-memory';

/**
 * An error from the emulator's API. `operation` names the call (`'EmulatedVm.createVcpu'`,
 * `'Pit.setGate'`, `'new VirtualClock'`, `'decodeMsi'`); the message starts with it and names the
 * bad value, e.g. `EmulatedIrqchip.setIrqLine: GSI 24 is out of range 0..23`.
 *
 * @example
 * ```ts
 * import { Cpu, X86EmulatorError } from '@ts-vmm/x86-emulator';
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 *
 * const cpu = new Cpu(GuestMemory.createShared([{ start: 0, size: 0x10000 }]));
 * try {
 *   cpu.injectInterrupt(256);
 * } catch (e) {
 *   if (e instanceof X86EmulatorError && e.kind === 'invalid-argument') console.log(e.message);
 *   // Cpu.injectInterrupt: interrupt vector 256 is not in 0..255
 * }
 * ```
 */
export class X86EmulatorError extends Error {
  override readonly name = 'X86EmulatorError';
  readonly kind: X86EmulatorErrorKind;
  /** The call that failed, e.g. `'EmulatedVm.createVcpu'`. */
  readonly operation: string;
  /** The message without the operation prefix. */
  readonly detail: string;

  constructor(kind: X86EmulatorErrorKind, operation: string, detail: string, cause?: unknown) {
    super(`${operation}: ${detail}`, cause === undefined ? undefined : { cause });
    this.kind = kind;
    this.operation = operation;
    this.detail = detail;
  }
}

/** Formats a number as 0x-prefixed hex. @example hex(255) // '0xff' */
export function hex(v: number | bigint): string {
  return `0x${v.toString(16)}`;
}
