/**
 * The consumer side of guest memory: what a device model, a boot loader or an emulator needs from
 * it. `GuestMemory` implements it; a user with memory of their own (another backing, a wrapper that
 * logs or checks accesses, a test double) implements it and hands that to `@ts-vmm/devices` and
 * `@ts-vmm/linux-loader`, which take this interface rather than the class.
 *
 * @module
 */

/** A contiguous range of guest memory as the consumer sees it. */
export interface GuestRegionView {
  /** First guest physical address. */
  readonly start: number;
  /** Length in bytes. */
  readonly size: number;
  /** The region's bytes: `bytes[addr - start]` is guest byte `addr`. */
  readonly bytes: Uint8Array;
}

/**
 * Bounds-checked little-endian access to guest physical memory. Every method throws (and writes
 * nothing) when any byte of the access has no memory behind it; accesses may cross from one region
 * into an adjacent one, except {@link slice}, which returns a view and so must stay inside one.
 *
 * @example
 * ```ts
 * import { GuestMemory, type GuestMemoryAccess } from '@ts-vmm/vm-memory';
 *
 * function readMagic(mem: GuestMemoryAccess): number {
 *   return mem.read32(0x1000);
 * }
 * const mem: GuestMemoryAccess = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
 * mem.write32(0x1000, 0x53726448);
 * readMagic(mem); // 0x53726448
 * ```
 */
export interface GuestMemoryAccess {
  /** The regions, sorted by address, not overlapping. */
  readonly regions: readonly GuestRegionView[];
  /** The region holding `addr`, or `undefined`. */
  findRegion(addr: number): GuestRegionView | undefined;
  /** True when every byte of `[addr, addr+len)` is backed by memory. */
  checkRange(addr: number, len: number): boolean;
  read8(addr: number): number;
  read16(addr: number): number;
  read32(addr: number): number;
  /** A u64 as `bigint`. */
  read64(addr: number): bigint;
  write8(addr: number, value: number): void;
  write16(addr: number, value: number): void;
  write32(addr: number, value: number): void;
  write64(addr: number, value: bigint): void;
  /** A copy of `len` bytes. */
  readBytes(addr: number, len: number): Uint8Array;
  /** Copies `out.length` bytes into `out`. */
  readInto(addr: number, out: Uint8Array): void;
  writeBytes(addr: number, data: Uint8Array): void;
  /** Sets `len` bytes to `value`. */
  fill(addr: number, len: number, value?: number): void;
  /** A zero-copy view of `len` bytes inside one region (writes through it reach the guest). */
  slice(addr: number, len: number): Uint8Array;
  /** A NUL-terminated latin1 string of at most `max` bytes. */
  readCString(addr: number, max: number): string;
  /**
   * Records that `[addr, addr+len)` was written around this interface (through a {@link slice} view,
   * for example), for dirty tracking. Does nothing when the memory tracks no dirty pages.
   */
  markDirty(addr: number, len: number): void;
}
