import { GuestMemoryError, hex } from './errors.js';

/** Which kind of host memory backs a region. */
export type BackingKind = 'shared-array-buffer' | 'memfd';

/**
 * One contiguous range of guest physical memory and the host bytes behind it.
 *
 * `bytes` is a view over the whole region: index 0 is guest address `start` (the view need not
 * start at offset 0 of its buffer: use `bytes.byteOffset` when building other views of the same
 * memory). Hypervisor backends use `hostAddress` (memfd backing) to register the region with KVM;
 * the emulator reads `bytes` directly, or, for wasm memory, reaches it at `wasmOffset`.
 *
 * @example
 * ```ts
 * const r = mem.regions[0];
 * r.bytes[0x10] = 0xaa; // same as mem.write8(r.start + 0x10, 0xaa)
 * ```
 */
export interface GuestRegion {
  /** First guest physical address of the region. */
  readonly start: number;
  /** Size in bytes (a multiple of 4 KiB). */
  readonly size: number;
  /** The region's bytes. */
  readonly bytes: Uint8Array;
  /** A DataView over the same bytes (little-endian accessors). */
  readonly view: DataView;
  /** What kind of host memory backs the region. */
  readonly backing: BackingKind;
  /** The memfd holding the bytes (memfd backing only). */
  readonly fd?: number;
  /** Offset of this region's bytes inside `fd`. */
  readonly fdOffset: number;
  /** Host virtual address of `bytes` in this thread (memfd backing only). */
  readonly hostAddress?: bigint;
  /**
   * The SharedArrayBuffer behind `bytes` (shared-array-buffer backing only). For memory inside a
   * `WebAssembly.Memory` ({@link GuestMemory.createWasm}) this is the memory's whole buffer as it was
   * when the region was opened, with `bytes` at `wasmOffset`; it keeps its length after the memory
   * grows (read `wasmMemory.buffer` for the current one).
   */
  readonly sharedBuffer?: SharedArrayBuffer;
  /**
   * Byte offset of the region inside the `WebAssembly.Memory` that holds it (memory made by
   * {@link GuestMemory.createWasm}, or re-opened from it, only): guest address `start` is wasm
   * address `wasmOffset`, so compiled wasm code reaches guest address `a` of this region at
   * `a - start + wasmOffset`. A multiple of 64 KiB, never 0.
   */
  readonly wasmOffset?: number;
}

/** A region to create: where it starts and how big it is. */
export interface RegionSpec {
  start: number;
  size: number;
}

/** 4 KiB: the granularity of guest regions. */
export const PAGE_SIZE = 4096;

/**
 * Largest single region: 4 GiB, the most one mmap'd ArrayBuffer can cover in Node. Larger guest
 * memory is described as several regions (memory slots).
 */
export const MAX_REGION_SIZE = 2 ** 32;

/** Checks a list of region specs: page-aligned, non-empty, in range, sorted output, no overlaps. */
export function validateRegionSpecs(specs: readonly RegionSpec[]): RegionSpec[] {
  if (specs.length === 0)
    throw new GuestMemoryError('invalid-region', 'guest memory needs at least one region');
  for (const s of specs) {
    if (!Number.isSafeInteger(s.start) || s.start < 0 || s.start % PAGE_SIZE !== 0) {
      throw new GuestMemoryError(
        'invalid-region',
        `region start ${hex(s.start)} is not a 4 KiB aligned address`,
        s.start,
      );
    }
    if (!Number.isSafeInteger(s.size) || s.size <= 0 || s.size % PAGE_SIZE !== 0) {
      throw new GuestMemoryError(
        'invalid-region',
        `region at ${hex(s.start)} has size ${s.size}: must be a positive multiple of 4096`,
        s.start,
      );
    }
    if (s.size > MAX_REGION_SIZE) {
      throw new GuestMemoryError(
        'invalid-region',
        `region at ${hex(s.start)} has size ${hex(s.size)}: at most 4 GiB per region; split it into several regions`,
        s.start,
      );
    }
    if (s.start + s.size > 2 ** 52) {
      throw new GuestMemoryError('invalid-region', `region at ${hex(s.start)} extends past 2^52`, s.start);
    }
  }
  const sorted = [...specs].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.start < prev.start + prev.size) {
      throw new GuestMemoryError(
        'overlap',
        `region [${hex(cur.start)}, ${hex(cur.start + cur.size)}) overlaps [${hex(prev.start)}, ${hex(prev.start + prev.size)})`,
        cur.start,
      );
    }
  }
  return sorted;
}
