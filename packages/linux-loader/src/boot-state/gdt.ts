/**
 * The boot GDT and the segment registers that go with it.
 *
 * Entries: 0 null, 1 (0x08) 64-bit code, 2 (0x10) data, 3 (0x18) TSS, 4 (0x20) 32-bit code (PVH),
 * 5 (0x28) 64-bit code DPL3, 6 (0x30) data DPL3 (for guests entered at CPL3).
 *
 * @module
 */
import type { DTable, Segment } from '@ts-vmm/hypervisor';
import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { LoaderError } from '../errors.js';
import { guestRangeProblem } from '../guest-range.js';
import { hex } from '../hex.js';
import { type EntryLayout, resolveLayout } from './entry-layout.js';

/**
 * Packs a segment descriptor: `flags` holds the access byte (bits 0-7) and the G/DB/L/AVL nibble
 * (bits 12-15), as in Firecracker's `gdt_entry`.
 *
 * @example
 * ```ts
 * gdtEntry(0xa09b, 0, 0xfffff); // 0x00af9b000000ffffn: flat 64-bit code, DPL 0
 * ```
 */
export function gdtEntry(flags: number, base: number, limit: number): bigint {
  const b = BigInt(base >>> 0);
  const l = BigInt(limit & 0xfffff);
  const f = BigInt(flags & 0xf0ff);
  return (
    ((b & 0xff00_0000n) << 32n) |
    ((b & 0x00ff_ffffn) << 16n) |
    (l & 0xffffn) |
    ((l & 0xf_0000n) << 32n) |
    (f << 40n)
  );
}

/**
 * The boot GDT: flat 4 GiB segments for the Linux 64-bit entry (0x08 code, 0x10 data), PVH's 32-bit
 * entry (0x20 code, 0x10 data), a TSS descriptor (0x18) for TR, and DPL 3 code and data (0x28, 0x30).
 *
 * @example
 * ```ts
 * BOOT_GDT[CODE64_SELECTOR >> 3]; // the 64-bit code descriptor
 * ```
 */
export const BOOT_GDT: readonly bigint[] = [
  0n,
  gdtEntry(0xa09b, 0, 0xfffff), // 0x08 code64, DPL0
  gdtEntry(0xc093, 0, 0xfffff), // 0x10 data, DPL0
  gdtEntry(0x808b, 0, 0xfffff), // 0x18 TSS
  gdtEntry(0xc09b, 0, 0xfffff), // 0x20 code32, DPL0 (PVH)
  gdtEntry(0xa0fb, 0, 0xfffff), // 0x28 code64, DPL3
  gdtEntry(0xc0f3, 0, 0xfffff), // 0x30 data, DPL3
];

/** Selector of the 64-bit code segment (CS at the Linux 64-bit entry). @example bootSegment(CODE64_SELECTOR).l // 1 */
export const CODE64_SELECTOR = 0x08;
/** Selector of the flat data segment (DS/ES/FS/GS/SS at both entries). @example bootSegment(DATA_SELECTOR).db // 1 */
export const DATA_SELECTOR = 0x10;
/** Selector of the TSS descriptor (TR). @example bootSegment(TSS_SELECTOR).type // 0xb */
export const TSS_SELECTOR = 0x18;
/** Selector of the 32-bit code segment (CS at the PVH entry). @example bootSegment(CODE32_SELECTOR).db // 1 */
export const CODE32_SELECTOR = 0x20;
/** Selector (RPL 3) of the DPL 3 64-bit code segment. @example bootSegment(USER_CODE64_SELECTOR).dpl // 3 */
export const USER_CODE64_SELECTOR = 0x2b;
/** Selector (RPL 3) of the DPL 3 data segment. @example bootSegment(USER_DATA_SELECTOR).dpl // 3 */
export const USER_DATA_SELECTOR = 0x33;

/**
 * Decodes a GDT entry into the `kvm_segment` form ({@link Segment}) for `selector`.
 *
 * @example
 * ```ts
 * segmentFromEntry(BOOT_GDT[1], 0x08); // { base: 0n, limit: 0xffffffff, type: 0xb, l: 1, g: 1, ... }
 * ```
 */
export function segmentFromEntry(entry: bigint, selector: number): Segment {
  const e = entry;
  const base = Number(((e >> 16n) & 0xff_ffffn) | ((e >> 32n) & 0xff00_0000n));
  const rawLimit = Number((e & 0xffffn) | ((e >> 32n) & 0xf_0000n));
  const g = Number((e >> 55n) & 1n);
  return {
    base: BigInt(base),
    limit: g ? rawLimit * 4096 + 4095 : rawLimit,
    selector,
    type: Number((e >> 40n) & 0xfn),
    present: Number((e >> 47n) & 1n),
    dpl: Number((e >> 45n) & 3n),
    db: Number((e >> 54n) & 1n),
    s: Number((e >> 44n) & 1n),
    l: Number((e >> 53n) & 1n),
    g,
    avl: Number((e >> 52n) & 1n),
    unusable: Number((e >> 47n) & 1n) ? 0 : 1,
  };
}

/**
 * The segment register value for a selector of {@link BOOT_GDT}.
 *
 * @example
 * ```ts
 * sregs.cs = bootSegment(CODE64_SELECTOR);
 * ```
 */
export function bootSegment(selector: number): Segment {
  const entry = BOOT_GDT[selector >> 3];
  if (entry === undefined || selector < 0) {
    throw new LoaderError('invalid-argument', `selector ${hex(selector)} is not in the boot GDT`);
  }
  return segmentFromEntry(entry, selector);
}

/**
 * Writes {@link BOOT_GDT} at `layout.gdt` (default 0x500) and returns the GDTR value, which
 * {@link bootSregs} also sets for the same layout. Throws {@link LoaderError} `'no-space'` when the
 * 56 bytes are not backed by guest memory (nothing is written then).
 *
 * @example
 * ```ts
 * const gdtr = writeGdt(mem); // { base: 0x500n, limit: 55 }
 * ```
 */
export function writeGdt(memory: GuestMemoryAccess, layout: EntryLayout = {}): DTable {
  const at = resolveLayout(layout).gdt;
  const why = guestRangeProblem(memory, at, BOOT_GDT.length * 8);
  if (why) throw new LoaderError('no-space', `boot GDT at ${hex(at)}: ${why}`);
  BOOT_GDT.forEach((e, i) => {
    memory.write64(at + i * 8, e);
  });
  return { base: BigInt(at), limit: BOOT_GDT.length * 8 - 1 };
}
