/** What went wrong in a guest memory operation. */
export type GuestMemoryErrorKind =
  | 'unmapped' // an address (or part of a range) is not backed by any region
  | 'invalid-region' // a region description is malformed (size, alignment, address)
  | 'overlap' // two regions overlap
  | 'cross-region' // a zero-copy view was asked for across a region boundary
  | 'backing'; // the memory backing could not be created (no addon, mmap failed...)

/**
 * The one error type of vm-memory. `address` is the first guest address that failed, when known.
 *
 * @example
 * ```ts
 * try { mem.read32(0xdead_0000); } catch (e) {
 *   if (e instanceof GuestMemoryError && e.kind === 'unmapped') console.log(e.message);
 * }
 * ```
 */
export class GuestMemoryError extends Error {
  override name = 'GuestMemoryError';
  constructor(
    readonly kind: GuestMemoryErrorKind,
    message: string,
    readonly address?: number,
  ) {
    super(message);
  }
}

/** Formats a number as hex for error messages. */
export function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}
