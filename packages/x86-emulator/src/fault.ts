/**
 * Guest-visible faults and the restart signal. A fault is thrown from the middle of an instruction
 * and caught by the run loop (never per instruction), which rewinds RIP to the instruction start and
 * delivers the exception through the IDT (or IVT in real mode). These are control flow inside the
 * CPU, not errors of the API (those are {@link X86EmulatorError}s): a fault is not an `Error` and
 * carries no stack.
 *
 * @module
 */

/**
 * An x86 exception raised in the guest. The package root exports it for one purpose: an
 * {@link MsrHandler} (`CpuOptions.msrHandler`) throws it to refuse an RDMSR/WRMSR with #GP, and
 * `cpu.msrs.read`/`write` throw it for an index outside the CPU's set (check `cpu.msrs.has(index)`
 * first when the host reads MSRs; `EmulatedVcpu.getMsrs`/`setMsrs` turn it into an
 * {@link X86EmulatorError}). `run()` never throws it: the guest takes the exception.
 *
 * @example
 * ```ts
 * import { GuestFault, VEC } from '@ts-vmm/x86-emulator';
 * throw new GuestFault(VEC.GP, 0); // #GP(0)
 * ```
 */
export class GuestFault {
  constructor(
    /** Exception vector (0..31). */
    readonly vector: number,
    /** Error code, or -1 when the vector pushes none. */
    readonly errorCode: number = -1,
  ) {}
}

/**
 * Thrown (a singleton, no allocation) when an instruction must stop for the VMM before it can complete
 * (port input, MMIO). The instruction is re-executed on the next `run()` with the VMM's answer.
 */
export const RESTART = { restart: true } as const;

/**
 * The decoder found an opcode it does not implement: #UD, with the bytes for diagnostics. Internal:
 * the guest takes #UD (Linux uses UD2 for BUG/WARN), or, with `cpu.reportUd` (the emulated backend's
 * `reportUnimplemented` option), `run()` returns an `internal-error` exit whose `message` starts
 * with `#UD` and whose `bytes` are the instruction's.
 * @example if (e instanceof UndefinedOpcode) console.log([...e.bytes].map((b) => b.toString(16)).join(' '));
 */
export class UndefinedOpcode extends GuestFault {
  constructor(readonly bytes: Uint8Array) {
    super(6);
  }
}
