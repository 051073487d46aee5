/**
 * Where guest RAM goes: below the 32-bit MMIO hole (3 GiB .. 4 GiB) and, for guests bigger than
 * 3 GiB, again from 4 GiB upward.
 *
 * @module
 */
import { VmmError } from '../vmm/errors.js';

/** Start of the 32-bit MMIO hole (3 GiB): virtio-mmio windows, IOAPIC, LAPIC live here. */
export const MMIO_HOLE_START = 0xc000_0000;
/** End of the 32-bit MMIO hole (4 GiB). */
export const MMIO_HOLE_END = 0x1_0000_0000;

/**
 * Largest single RAM range: bigger ranges are split into adjacent ones (each becomes its own memory
 * slot and mapping; Node cannot map one ArrayBuffer over 4 GiB).
 */
export const MAX_RAM_RANGE = 0x8000_0000;

/** One RAM range in guest physical address space. */
export interface RamRange {
  start: number;
  size: number;
}

/**
 * The RAM ranges for `memoryMib` MiB of guest memory, each at most {@link MAX_RAM_RANGE}.
 *
 * @example
 * ```ts
 * ramLayout(512); // [{ start: 0, size: 0x2000_0000 }]
 * ramLayout(4096); // [{ start: 0, size: 0x8000_0000 }, { start: 0x8000_0000, size: 0x4000_0000 },
 *                  //  { start: 0x1_0000_0000, size: 0x4000_0000 }]
 * ```
 */
export function ramLayout(memoryMib: number): RamRange[] {
  if (!Number.isSafeInteger(memoryMib) || memoryMib <= 0) {
    throw VmmError.config('memoryMib', `${memoryMib} is not a positive whole number of MiB`);
  }
  const total = memoryMib * 0x10_0000;
  const out: RamRange[] = [];
  const push = (start: number, size: number) => {
    for (let off = 0; off < size; off += MAX_RAM_RANGE) {
      out.push({ start: start + off, size: Math.min(MAX_RAM_RANGE, size - off) });
    }
  };
  if (total <= MMIO_HOLE_START) {
    push(0, total);
  } else {
    push(0, MMIO_HOLE_START);
    push(MMIO_HOLE_END, total - MMIO_HOLE_START);
  }
  return out;
}
