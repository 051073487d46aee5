/**
 * Where guest RAM goes: below the 32-bit MMIO hole (3 GiB .. 4 GiB) and, for guests bigger than
 * 3 GiB, again from 4 GiB upward.
 *
 * @module
 */
import { ConfigError } from './errors.js';

/** Start of the 32-bit MMIO hole (3 GiB): virtio-mmio windows, IOAPIC, LAPIC live here. */
export const MMIO_HOLE_START = 0xc000_0000;
/** End of the 32-bit MMIO hole (4 GiB). */
export const MMIO_HOLE_END = 0x1_0000_0000;

/** One RAM range in guest physical address space. */
export interface RamRange {
  start: number;
  size: number;
}

/**
 * The RAM ranges for `memoryMib` MiB of guest memory.
 *
 * @example
 * ```ts
 * ramLayout(512); // [{ start: 0, size: 0x2000_0000 }]
 * ramLayout(4096); // [{ start: 0, size: 0xc000_0000 }, { start: 0x1_0000_0000, size: 0x4000_0000 }]
 * ```
 */
export function ramLayout(memoryMib: number): RamRange[] {
  if (!Number.isSafeInteger(memoryMib) || memoryMib <= 0) {
    throw new ConfigError('memoryMib', `${memoryMib} is not a positive whole number of MiB`);
  }
  const total = memoryMib * 0x10_0000;
  if (total <= MMIO_HOLE_START) return [{ start: 0, size: total }];
  return [
    { start: 0, size: MMIO_HOLE_START },
    { start: MMIO_HOLE_END, size: total - MMIO_HOLE_START },
  ];
}
