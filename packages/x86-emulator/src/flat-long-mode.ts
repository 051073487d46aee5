/**
 * A ready-made 64-bit environment for running code at CPL3 (tests, the differential tester and the
 * benchmark use it; the KVM side of the differential tester builds the byte-identical image):
 * identity-mapped page tables for the first 1 GiB (2 MiB pages, user-accessible), a GDT with kernel
 * and user segments and a 64-bit TSS, and an IDT whose every vector points at a stub that reports
 * the exception with an MMIO write to `MMIO_BASE + vector`.
 *
 * @example
 * ```ts
 * import { zeroRegs } from '@ts-vmm/hypervisor';
 * const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
 * buildFlatImage(mem);
 * mem.writeBytes(FLAT.CODE, code);
 * const cpu = new Cpu(mem);
 * cpu.setSregs(flatSregs());
 * cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.USER_STACK), rflags: 0x202n });
 * ```
 */
import type { Segment, Sregs } from '@ts-vmm/hypervisor';
import type { GuestMemory } from '@ts-vmm/vm-memory';

/**
 * Layout of the flat long-mode image.
 * @example mem.writeBytes(FLAT.CODE, code); // user code runs at FLAT.CODE
 */
export const FLAT = {
  PML4: 0x1000,
  PDPT: 0x2000,
  PD: 0x3000,
  GDT: 0x5000,
  IDT: 0x6000,
  TSS: 0x7000,
  HANDLERS: 0x8000,
  KERNEL_STACK: 0x9f000,
  CODE: 0x100000,
  DATA: 0x200000,
  USER_STACK: 0x3ff000,
  RAM_SIZE: 0x1000000,
  /** Unbacked physical (and identity-mapped) address: writes there become MMIO exits. */
  MMIO_BASE: 0x30000000,
  /** `MMIO_BASE + DONE`: the end-of-test marker write. */
  DONE: 0x100,
  KERNEL_CS: 0x08,
  KERNEL_DS: 0x10,
  USER_DS: 0x1b,
  USER_CS: 0x23,
  TSS_SEL: 0x28,
  /** 32-bit (compatibility-mode) user code segment. */
  USER_CS32: 0x3b,
} as const;

/**
 * Bytes that end a test: `mov [MMIO_BASE + DONE], al`.
 * @example mem.writeBytes(FLAT.CODE, new Uint8Array([...code, ...DONE_BYTES]));
 */
export const DONE_BYTES = [0x88, 0x04, 0x25, 0x00, 0x01, 0x00, 0x30];

/** Writes page tables, GDT, TSS, IDT and exception stubs into `mem`. @example buildFlatImage(mem) */
export function buildFlatImage(mem: GuestMemory): void {
  const v = (a: number, lo: number, hi: number) => {
    mem.write32(a, lo >>> 0);
    mem.write32(a + 4, hi >>> 0);
  };
  v(FLAT.PML4, FLAT.PDPT | 7, 0);
  v(FLAT.PDPT, FLAT.PD | 7, 0);
  for (let k = 0; k < 512; k++) v(FLAT.PD + k * 8, (k << 21) | 0x87, 0);
  // GDT
  v(FLAT.GDT, 0, 0);
  v(FLAT.GDT + 0x08, 0x0000ffff, 0x00af9b00);
  v(FLAT.GDT + 0x10, 0x0000ffff, 0x00cf9300);
  v(FLAT.GDT + 0x18, 0x0000ffff, 0x00cff300);
  v(FLAT.GDT + 0x20, 0x0000ffff, 0x00affb00);
  // TSS descriptor: base FLAT.TSS, limit 0x67, type 11 (busy)
  v(FLAT.GDT + 0x28, ((FLAT.TSS & 0xffff) << 16) | 0x67, ((FLAT.TSS >> 16) & 0xff) | 0x8b00);
  v(FLAT.GDT + 0x30, 0, 0);
  v(FLAT.GDT + 0x38, 0x0000ffff, 0x00cffb00); // 32-bit user code (compatibility mode)
  // TSS: RSP0
  v(FLAT.TSS + 4, FLAT.KERNEL_STACK, 0);
  mem.write16(FLAT.TSS + 0x66, 0x68);
  // IDT + stubs: mov [MMIO_BASE + v], al ; hlt
  for (let vec = 0; vec < 256; vec++) {
    const h = FLAT.HANDLERS + vec * 16;
    const target = FLAT.MMIO_BASE + vec;
    mem.writeBytes(
      h,
      new Uint8Array([
        0x88,
        0x04,
        0x25,
        target & 0xff,
        (target >> 8) & 0xff,
        (target >> 16) & 0xff,
        target >>> 24,
        0xf4,
      ]),
    );
    const g = FLAT.IDT + vec * 16;
    v(
      g,
      (FLAT.KERNEL_CS << 16) | (h & 0xffff),
      (h & 0xffff0000) | 0x8e00 | (vec === 3 || vec === 4 ? 0x6000 : 0),
    );
    v(g + 8, 0, 0);
  }
}

function seg(selector: number, type: number, dpl: number, l: number, db: number): Segment {
  return {
    base: 0n,
    limit: 0xffffffff,
    selector,
    type,
    present: 1,
    dpl,
    db,
    s: 1,
    l,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}

/**
 * Special registers for CPL3 code in the flat image: 64-bit, or 32-bit compatibility mode.
 * @example cpu.setSregs(flatSregs())
 */
export function flatSregs(compat = false): Sregs {
  const ds = seg(FLAT.USER_DS, 3, 3, 0, 1);
  return {
    cs: compat ? seg(FLAT.USER_CS32, 11, 3, 0, 1) : seg(FLAT.USER_CS, 11, 3, 1, 0),
    ds,
    es: ds,
    fs: { ...ds },
    gs: { ...ds },
    ss: ds,
    tr: {
      base: BigInt(FLAT.TSS),
      limit: 0x67,
      selector: FLAT.TSS_SEL,
      type: 11,
      present: 1,
      dpl: 0,
      db: 0,
      s: 0,
      l: 0,
      g: 0,
      avl: 0,
      unusable: 0,
    },
    ldt: {
      base: 0n,
      limit: 0,
      selector: 0,
      type: 2,
      present: 0,
      dpl: 0,
      db: 0,
      s: 0,
      l: 0,
      g: 0,
      avl: 0,
      unusable: 1,
    },
    gdt: { base: BigInt(FLAT.GDT), limit: 0x3f },
    idt: { base: BigInt(FLAT.IDT), limit: 0xfff },
    cr0: 0x80050033n,
    cr2: 0n,
    cr3: BigInt(FLAT.PML4),
    cr4: 0x6a0n, // PAE | PGE | OSFXSR | OSXMMEXCPT
    cr8: 0n,
    efer: 0xd01n, // SCE | LME | LMA | NXE
    apic_base: 0xfee00900n,
    interrupt_bitmap: [0n, 0n, 0n, 0n],
  };
}
