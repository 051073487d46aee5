/**
 * Guest-visible faults and the restart signal. A fault is thrown from the middle of an instruction
 * and caught by the run loop (never per instruction), which rewinds RIP to the instruction start and
 * delivers the exception through the IDT (or IVT in real mode).
 *
 * @example
 * ```ts
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
 * The decoder found an opcode it does not implement: #UD, with the bytes for diagnostics.
 * @example if (e instanceof UndefinedOpcode) console.log(Buffer.from(e.bytes).toString('hex'));
 */
export class UndefinedOpcode extends GuestFault {
  constructor(readonly bytes: Uint8Array) {
    super(6);
  }
}
