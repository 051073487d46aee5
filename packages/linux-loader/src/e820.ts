import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { LoaderError } from './errors.js';
import { hex } from './hex.js';

/**
 * E820 / PVH memory map entry types.
 * @example e820ForMemory(mem).filter((e) => e.type === E820Type.RAM);
 */
export const E820Type = {
  RAM: 1,
  RESERVED: 2,
  ACPI: 3,
  NVS: 4,
  UNUSABLE: 5,
} as const;

/**
 * One memory map entry.
 * @example const hole: E820Entry = { addr: 0x9fc00, size: 0x60400, type: E820Type.RESERVED };
 */
export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/**
 * Start of the Extended BIOS Data Area: RAM below it is the guest's "low memory".
 * @example e820ForMemory(mem)[0].size; // EBDA_START (0x9fc00) for memory from 0
 */
export const EBDA_START = 0x9fc00;
/**
 * 1 MiB: end of the BIOS hole, start of "high" memory.
 * @example placeInitrd(mem, { size: 4096, minAddress: HIGH_MEMORY_START });
 */
export const HIGH_MEMORY_START = 0x100000;
/**
 * How many entries the zero page's e820_table holds.
 * @example validateE820(e820ForMemory(mem), E820_MAX_ENTRIES_ZEROPAGE);
 */
export const E820_MAX_ENTRIES_ZEROPAGE = 128;

/**
 * Options for {@link e820ForMemory}.
 * @example e820ForMemory(mem, { reserved: [{ addr: 0xc000_0000, size: 0x1000 }] } satisfies E820Options);
 */
export interface E820Options {
  /** Extra ranges to mark (reserved by default), carved out of RAM where they overlap it. */
  reserved?: readonly { addr: number; size: number; type?: number }[];
}

/**
 * Builds the E820 map for a VM from its memory layout: RAM below 0x9fc00, the EBDA/BIOS hole
 * 0x9fc00–0x100000 reserved, RAM from 1 MiB up to the end of each region (the regions already
 * leave out the 32-bit MMIO hole), and memory above 4 GiB. Adjacent entries of one type are merged;
 * the result is sorted.
 *
 * @example
 * ```ts
 * const mem = GuestMemory.createShared([{ start: 0, size: 512 << 20 }]);
 * e820ForMemory(mem);
 * // [{addr:0,size:0x9fc00,type:1},{addr:0x9fc00,size:0x60400,type:2},{addr:0x100000,size:0x1ff00000,type:1}]
 * ```
 */
export function e820ForMemory(
  memory: GuestMemoryAccess | readonly { start: number; size: number }[],
  options: E820Options = {},
): E820Entry[] {
  const regions = Array.isArray(memory) ? memory : (memory as GuestMemoryAccess).regions;
  let ram: { start: number; end: number }[] = [];
  for (const r of regions) {
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.size) || r.start < 0 || r.size <= 0) {
      throw new LoaderError(
        'invalid-argument',
        `e820: region start ${hex(r.start)} size ${hex(r.size)} is invalid`,
      );
    }
    ram.push({ start: r.start, end: r.start + r.size });
  }
  const holes: { start: number; end: number; type: number }[] = [];
  if (ram.some((r) => r.start < HIGH_MEMORY_START)) {
    holes.push({ start: EBDA_START, end: HIGH_MEMORY_START, type: E820Type.RESERVED });
  }
  for (const x of options.reserved ?? []) {
    if (!Number.isSafeInteger(x.addr) || !Number.isSafeInteger(x.size) || x.addr < 0 || x.size <= 0) {
      throw new LoaderError(
        'invalid-argument',
        `e820: reserved range ${hex(x.addr)} size ${hex(x.size)} is invalid`,
      );
    }
    holes.push({ start: x.addr, end: x.addr + x.size, type: x.type ?? E820Type.RESERVED });
  }
  for (const h of holes) ram = ram.flatMap((r) => carve(r, h));
  const sortedHoles = [...holes].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sortedHoles.length; i++) {
    if (sortedHoles[i].start < sortedHoles[i - 1].end) {
      throw new LoaderError(
        'invalid-argument',
        `e820: reserved ranges at ${hex(sortedHoles[i - 1].start)} and ${hex(sortedHoles[i].start)} overlap`,
      );
    }
  }
  const entries = [
    ...ram.map((r) => ({ start: r.start, end: r.end, type: E820Type.RAM as number })),
    ...holes,
  ].sort((a, b) => a.start - b.start);
  const out: E820Entry[] = [];
  for (const e of entries) {
    const last = out[out.length - 1];
    if (last && last.type === e.type && last.addr + last.size === e.start) last.size += e.end - e.start;
    else out.push({ addr: e.start, size: e.end - e.start, type: e.type });
  }
  return out;
}

function carve(r: { start: number; end: number }, h: { start: number; end: number }) {
  if (h.end <= r.start || h.start >= r.end) return [r];
  const out: { start: number; end: number }[] = [];
  if (r.start < h.start) out.push({ start: r.start, end: h.start });
  if (h.end < r.end) out.push({ start: h.end, end: r.end });
  return out;
}

/**
 * Checks a memory map: sorted, non-empty entries, no overlaps, at most `max` entries. Throws
 * {@link LoaderError}.
 *
 * @example validateE820(e820ForMemory(mem), 128);
 */
export function validateE820(entries: readonly E820Entry[], max: number): void {
  if (entries.length > max) {
    throw new LoaderError('invalid-argument', `e820: ${entries.length} entries, at most ${max} fit`);
  }
  let prevEnd = 0;
  for (const e of entries) {
    if (!Number.isSafeInteger(e.addr) || !Number.isSafeInteger(e.size) || e.addr < 0 || e.size <= 0) {
      throw new LoaderError('invalid-argument', `e820: entry ${hex(e.addr)} size ${hex(e.size)} is invalid`);
    }
    if (!Number.isInteger(e.type) || e.type < 0 || e.type > 0xffffffff) {
      throw new LoaderError('invalid-argument', `e820: entry at ${hex(e.addr)} has invalid type ${e.type}`);
    }
    if (e.addr < prevEnd) {
      throw new LoaderError(
        'invalid-argument',
        `e820: entry at ${hex(e.addr)} overlaps or precedes the previous entry`,
      );
    }
    prevEnd = e.addr + e.size;
  }
}
