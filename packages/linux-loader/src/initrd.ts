import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { HIGH_MEMORY_START } from './e820.js';
import { LoaderError } from './errors.js';
import { type GuestRange, rangesOverlap } from './guest-range.js';
import { hex } from './hex.js';

/**
 * Options for {@link placeInitrd}.
 * @example const p: InitrdPlacement = { size: 1 << 20, addrMax: 0x37ffffff, avoid: [{ start: 0x1000000, end: 0x3000000 }] };
 */
export interface InitrdPlacement {
  /** Bytes to place. */
  size: number;
  /** Highest address the initrd may occupy, inclusive (the setup header's `initrd_addr_max`). Default 0xffffffff. */
  addrMax?: number;
  /** Alignment, a power of two. Default 4096. */
  align?: number;
  /** Ranges it must not overlap (the kernel with its `init_size`, boot data...). */
  avoid?: readonly GuestRange[];
  /** Lowest allowed address. Default 1 MiB. */
  minAddress?: number;
}

/**
 * Finds the highest `align`-aligned address for an initrd of `size` bytes that ends at or below
 * `addrMax + 1`, lies in low guest memory (below 4 GiB, inside one run of backed memory), at or above
 * `minAddress`, and overlaps none of `avoid`. Throws {@link LoaderError} when there is none.
 *
 * @example
 * ```ts
 * const at = placeInitrd(mem, { size: initrd.length, addrMax: k.setupHeader.initrdAddrMax,
 *   avoid: [{ start: k.kernelLoad, end: k.kernelEnd }] });
 * mem.writeBytes(at, initrd);
 * ```
 */
export function placeInitrd(memory: GuestMemoryAccess, p: InitrdPlacement): number {
  const align = p.align ?? 4096;
  const size = p.size;
  const addrMax = p.addrMax ?? 0xffffffff;
  const min = p.minAddress ?? HIGH_MEMORY_START;
  if (!Number.isSafeInteger(size) || size <= 0)
    throw new LoaderError('invalid-argument', `initrd size ${size} must be a positive integer`);
  if (!Number.isSafeInteger(align) || align <= 0 || (align & (align - 1)) !== 0) {
    throw new LoaderError('invalid-argument', `initrd alignment ${align} is not a power of two`);
  }
  if (!Number.isSafeInteger(addrMax) || addrMax < 0)
    throw new LoaderError('invalid-argument', `initrd addrMax ${addrMax} is invalid`);
  const limit = Math.min(addrMax + 1, 2 ** 32);
  const avoid = [...(p.avoid ?? [])].filter((r) => r.end > r.start);
  // Candidate tops: each region's end and each avoided range's start, all clipped to the limit.
  const tops = new Set<number>();
  for (const r of memory.regions) tops.add(Math.min(r.start + r.size, limit));
  for (const a of avoid) tops.add(Math.min(a.start, limit));
  const sorted = [...tops].sort((a, b) => b - a);
  for (const top of sorted) {
    const at = Math.floor((top - size) / align) * align;
    if (at < min || at < 0) continue;
    const r = { start: at, end: at + size };
    if (!memory.checkRange(at, size)) continue;
    if (avoid.some((a) => rangesOverlap(a, r))) continue;
    return at;
  }
  throw new LoaderError(
    'no-space',
    `an initrd of ${size} bytes (${hex(size)}) fits nowhere between ${hex(min)} and ${hex(limit)} in guest memory outside the kernel and boot data`,
  );
}
