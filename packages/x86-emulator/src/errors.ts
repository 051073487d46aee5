/**
 * Errors raised to the host (not to the guest) by the emulator: bad register values handed to
 * `setRegs`, bad configuration. Guest-visible faults are not errors; they go through the IDT.
 *
 * @example
 * ```ts
 * try { cpu.setMsr(0x1234, 0n); } catch (e) { if (e instanceof X86EmulatorError) console.log(e.message); }
 * ```
 */
export class X86EmulatorError extends Error {
  override name = 'X86EmulatorError';
}

/** Formats a number as 0x-prefixed hex. @example hex(255) // '0xff' */
export function hex(v: number | bigint): string {
  return `0x${v.toString(16)}`;
}
