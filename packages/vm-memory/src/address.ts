/**
 * A guest physical address: a plain number (exact up to 2^53, more than any x86-64 guest uses)
 * branded so that host offsets and guest addresses are not mixed up by accident.
 *
 * @example
 * ```ts
 * import { GuestAddress } from '@ts-vmm/vm-memory';
 * const a = GuestAddress(0x1000);
 * const b = GuestAddress.add(a, 0x20); // 0x1020
 * ```
 */
export type GuestAddress = number & { readonly __brand: 'GuestAddress' };

/** Largest guest physical address ts-vmm accepts (52 address bits, the x86-64 architectural limit). */
export const MAX_GUEST_ADDRESS = 2 ** 52 - 1;

/** Error for an address that is not a valid guest physical address. */
export class GuestAddressError extends Error {
  override name = 'GuestAddressError';
}

/**
 * Makes a {@link GuestAddress}, refusing negative, fractional or too-large values.
 *
 * @example
 * ```ts
 * GuestAddress(0xfee0_0000);
 * GuestAddress(0x1_0000_0000n); // bigints are accepted too
 * ```
 */
export function GuestAddress(value: number | bigint): GuestAddress {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (
    !Number.isInteger(n) ||
    n < 0 ||
    n > MAX_GUEST_ADDRESS ||
    (typeof value === 'bigint' && BigInt(n) !== value)
  ) {
    throw new GuestAddressError(`invalid guest address ${String(value)}: must be an integer in [0, 2^52)`);
  }
  return n as GuestAddress;
}

/** Address arithmetic helpers for {@link GuestAddress}. */
export namespace GuestAddress {
  /**
   * `addr + offset`, checked against overflow past {@link MAX_GUEST_ADDRESS}.
   * @example GuestAddress.add(GuestAddress(0x1000), 0x10) // 0x1010
   */
  export function add(addr: GuestAddress | number, offset: number): GuestAddress {
    return GuestAddress(addr + offset);
  }
  /**
   * Rounds up to a power-of-two alignment.
   * @example GuestAddress.alignUp(0x1001, 0x1000) // 0x2000
   */
  export function alignUp(addr: GuestAddress | number, align: number): GuestAddress {
    checkAlign(align);
    return GuestAddress(Math.ceil(addr / align) * align);
  }
  /**
   * Rounds down to a power-of-two alignment.
   * @example GuestAddress.alignDown(0x1fff, 0x1000) // 0x1000
   */
  export function alignDown(addr: GuestAddress | number, align: number): GuestAddress {
    checkAlign(align);
    return GuestAddress(Math.floor(addr / align) * align);
  }
  /** Formats as `0x...` hex. @example GuestAddress.hex(GuestAddress(4096)) // '0x1000' */
  export function hex(addr: GuestAddress | number): string {
    return `0x${addr.toString(16)}`;
  }
}

function checkAlign(align: number): void {
  if (!Number.isInteger(align) || align <= 0 || ((align & (align - 1)) !== 0 && align < 2 ** 31)) {
    throw new GuestAddressError(`alignment ${align} is not a positive power of two`);
  }
}
