/**
 * The boot GDT and the segment registers that go with it.
 *
 * Entries: 0 null, 1 (0x08) 64-bit code, 2 (0x10) data, 3 (0x18) TSS, 4 (0x20) 32-bit code (PVH),
 * 5 (0x28) 64-bit code DPL3, 6 (0x30) data DPL3 (for the CPL3 probe).
 *
 * @module
 */
import type { Segment } from '@ts-vmm/hypervisor';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import { GDT_ADDR } from './address-map.js';

/**
 * Packs a segment descriptor: `flags` holds the access byte (bits 0-7) and the G/DB/L/AVL nibble
 * (bits 12-15), as in Firecracker's `gdt_entry`.
 * @example gdtEntry(0xa09b, 0, 0xfffff) // 64-bit code
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

/** The boot GDT entries. */
export const BOOT_GDT: readonly bigint[] = [
  0n,
  gdtEntry(0xa09b, 0, 0xfffff), // 0x08 code64, DPL0
  gdtEntry(0xc093, 0, 0xfffff), // 0x10 data, DPL0
  gdtEntry(0x808b, 0, 0xfffff), // 0x18 TSS
  gdtEntry(0xc09b, 0, 0xfffff), // 0x20 code32, DPL0 (PVH)
  gdtEntry(0xa0fb, 0, 0xfffff), // 0x28 code64, DPL3
  gdtEntry(0xc0f3, 0, 0xfffff), // 0x30 data, DPL3
];

export const CODE64_SELECTOR = 0x08;
export const DATA_SELECTOR = 0x10;
export const TSS_SELECTOR = 0x18;
export const CODE32_SELECTOR = 0x20;
export const USER_CODE64_SELECTOR = 0x2b;
export const USER_DATA_SELECTOR = 0x33;

/**
 * Decodes a GDT entry into the `kvm_segment` form for `selector`.
 * @example segmentFromEntry(BOOT_GDT[1], 0x08).l // 1
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
 * Writes {@link BOOT_GDT} at {@link GDT_ADDR}; returns the GDTR value.
 * @example const gdtr = writeGdt(memory); sregs.gdt = gdtr;
 */
export function writeGdt(memory: GuestMemory): { base: bigint; limit: number } {
  BOOT_GDT.forEach((e, i) => {
    memory.write64(GDT_ADDR + i * 8, e);
  });
  return { base: BigInt(GDT_ADDR), limit: BOOT_GDT.length * 8 - 1 };
}

/** The `kvm_segment` of the GDT entry a selector names. */
export function bootSegment(selector: number): Segment {
  return segmentFromEntry(BOOT_GDT[selector >> 3], selector);
}
