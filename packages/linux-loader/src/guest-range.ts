import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { hex } from './hex.js';

/**
 * Describes why `[addr, addr+len)` cannot be written in `memory`, or returns `undefined` when every
 * byte of it is backed. Loaders call this for every range before writing anything, so a failed load
 * leaves guest memory untouched.
 *
 * @example
 * ```ts
 * const why = guestRangeProblem(mem, 0x100000, image.length);
 * if (why) throw new LoaderError('no-space', `kernel: ${why}`);
 * ```
 */
export function guestRangeProblem(memory: GuestMemoryAccess, addr: number, len: number): string | undefined {
  if (!Number.isSafeInteger(addr) || addr < 0) return `address ${hex(addr)} is not a valid guest address`;
  if (!Number.isSafeInteger(len) || len < 0) return `length ${len} is not a valid size`;
  if (len === 0) return undefined;
  if (!memory.checkRange(addr, len)) {
    return `[${hex(addr)}, ${hex(addr + len)}) is not (wholly) backed by guest memory`;
  }
  return undefined;
}

/** A half-open guest physical range `[start, end)`. @example const r: GuestRange = { start: 0x1000, end: 0x2000 }; */
export interface GuestRange {
  start: number;
  end: number;
}

/** True when two half-open ranges share a byte. @example rangesOverlap({start:0,end:2},{start:1,end:3}) // true */
export function rangesOverlap(a: GuestRange, b: GuestRange): boolean {
  return a.start < b.end && b.start < a.end && a.start < a.end && b.start < b.end;
}
