import type { Sregs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoaderError } from '../errors.js';
import { BootLayout } from '../layout.js';
import { bootFpu, bootMsrs, bootRegs, bootSregs, MSR, wireLapicLints } from './cpu.js';
import { BOOT_GDT, bootSegment, gdtEntry, writeGdt } from './gdt.js';
import { IDENTITY_PAGE_TABLES_SIZE, translate, writeIdentityPageTables } from './page-tables.js';

const seg = {
  base: 0n,
  limit: 0,
  selector: 0,
  type: 0,
  present: 0,
  dpl: 0,
  db: 0,
  s: 0,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 1,
};
const resetSregs: Sregs = {
  cs: seg,
  ds: seg,
  es: seg,
  fs: seg,
  gs: seg,
  ss: seg,
  tr: seg,
  ldt: seg,
  gdt: { base: 0n, limit: 0xffff },
  idt: { base: 0n, limit: 0xffff },
  cr0: 0x60000010n,
  cr2: 0n,
  cr3: 0n,
  cr4: 0n,
  cr8: 0n,
  efer: 0n,
  apic_base: 0xfee00900n,
  interrupt_bitmap: [0n, 0n, 0n, 0n],
};

describe('page tables', () => {
  it('identity-map the first 4 GiB with 2 MiB pages', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
    const cr3 = writeIdentityPageTables(mem);
    expect(cr3).toBe(BootLayout.PML4);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (a) => {
        expect(translate(mem, cr3, a)).toBe(a);
      }),
    );
    expect(translate(mem, cr3, 2 ** 32)).toBeUndefined();
    expect(mem.read64(BootLayout.PML4) & 4n).toBe(0n);
    writeIdentityPageTables(mem, { user: true });
    expect(mem.read64(BootLayout.PML4) & 4n).toBe(4n);
  });

  it('go where the layout says, and nowhere else', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
    mem.fill(0, 1 << 20, 0xaa);
    const cr3 = writeIdentityPageTables(mem, { pageTables: 0x40000 });
    expect(cr3).toBe(0x40000);
    expect(translate(mem, cr3, 0xfee0_0123)).toBe(0xfee0_0123);
    expect(mem.read8(0x40000 - 1)).toBe(0xaa);
    expect(mem.read8(0x40000 + IDENTITY_PAGE_TABLES_SIZE)).toBe(0xaa);
    expect(mem.read8(BootLayout.PML4)).toBe(0xaa);
    expect(
      bootSregs(resetSregs, { kind: 'linux64', entry: 0, zeroPage: 0 }, { pageTables: 0x40000 }).cr3,
    ).toBe(0x40000n);
  });

  it('refuse an unaligned or unbacked address, writing nothing', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
    expect(() => writeIdentityPageTables(mem, { pageTables: 0x9800 })).toThrow(
      expect.objectContaining({ kind: 'invalid-argument', message: expect.stringMatching(/0x9800/) }),
    );
    expect(() => writeIdentityPageTables(mem, { pageTables: 0xb000 })).toThrow(
      expect.objectContaining({ kind: 'no-space' }),
    );
    expect(mem.read64(0xb000)).toBe(0n);
  });
});

describe('GDT and segments', () => {
  it('encodes descriptors as Firecracker does', () => {
    expect(gdtEntry(0xa09b, 0, 0xfffff)).toBe(0x00af9b000000ffffn);
    expect(gdtEntry(0xc093, 0, 0xfffff)).toBe(0x00cf93000000ffffn);
    expect(gdtEntry(0x808b, 0, 0xfffff)).toBe(0x008f8b000000ffffn);
  });

  it('decodes back into kvm_segment form', () => {
    const cs = bootSegment(0x08);
    expect(cs).toMatchObject({
      selector: 8,
      type: 0xb,
      present: 1,
      dpl: 0,
      s: 1,
      l: 1,
      db: 0,
      g: 1,
      limit: 0xffffffff,
    });
    const ucs = bootSegment(0x2b);
    expect(ucs.dpl).toBe(3);
    expect(() => bootSegment(0x38)).toThrow(LoaderError);
    const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
    const gdtr = writeGdt(mem);
    expect(gdtr).toEqual({ base: BigInt(BootLayout.GDT), limit: BOOT_GDT.length * 8 - 1 });
    expect(mem.read64(BootLayout.GDT + 8)).toBe(BOOT_GDT[1]);
    expect(writeGdt(mem, { gdt: 0x1000 }).base).toBe(0x1000n);
    expect(mem.read64(0x1000 + 0x20)).toBe(BOOT_GDT[4]);
    expect(() => writeGdt(mem, { gdt: (1 << 20) - 8 })).toThrow(
      expect.objectContaining({ kind: 'no-space' }),
    );
  });

  it('long mode and PVH register states', () => {
    const lm = bootSregs(resetSregs, { kind: 'linux64', entry: 0x100200, zeroPage: 0x7000 });
    expect(lm.cr0 & 0x80000001n).toBe(0x80000001n);
    expect(lm.efer & 0x500n).toBe(0x500n);
    expect(lm.cr4 & 0x20n).toBe(0x20n);
    expect(lm.cr3).toBe(BigInt(BootLayout.PML4));
    expect(lm.gdt).toEqual({ base: BigInt(BootLayout.GDT), limit: 55 });
    expect(lm.idt).toEqual({ base: BigInt(BootLayout.IDT), limit: 7 });
    expect(lm.apic_base).toBe(0xfee00900n);
    expect(lm.cs.l).toBe(1);
    const pvh = bootSregs(
      resetSregs,
      { kind: 'pvh', entry: 0x1000000, startInfo: 0x7000 },
      { gdt: 0x800, idt: 0x900 },
    );
    expect(pvh.cr0 & 0x80000001n).toBe(1n);
    expect(pvh.efer).toBe(0n);
    expect(pvh.cs).toMatchObject({ db: 1, l: 0, selector: 0x20 });
    expect(pvh.gdt.base).toBe(0x800n);
    expect(pvh.idt.base).toBe(0x900n);
    expect(bootRegs({ kind: 'linux64', entry: 0x100200, zeroPage: 0x7000 })).toMatchObject({
      rip: 0x100200n,
      rsi: 0x7000n,
      rsp: BigInt(BootLayout.BOOT_STACK),
    });
    expect(bootRegs({ kind: 'linux64', entry: 0x100200, zeroPage: 0x7000 }, { stack: 0x4000 }).rsp).toBe(
      0x4000n,
    );
    expect(bootRegs({ kind: 'pvh', entry: 0x1000000, startInfo: 0x7000 })).toMatchObject({
      rbx: 0x7000n,
      rflags: 2n,
    });
    const user = bootSregs(resetSregs, { kind: 'raw64', entry: 0x100000, stack: 0x8000, cpl3: true });
    expect(user.cs.dpl).toBe(3);
    expect(bootRegs({ kind: 'raw64', entry: 0x100000, stack: 0x8000, cpl3: true }).rflags).toBe(0x3002n);
  });

  it('FPU after reset', () => {
    const f = bootFpu({
      fpr: new Uint8Array(128),
      fcw: 0,
      fsw: 0x3800,
      ftwx: 0xff,
      last_opcode: 0,
      last_ip: 0n,
      last_dp: 0n,
      xmm: new Uint8Array(256),
      mxcsr: 0,
    });
    expect(f).toMatchObject({ fcw: 0x37f, mxcsr: 0x1f80, fsw: 0, ftwx: 0 });
  });

  it('boot MSRs only include supported ones', () => {
    const m = bootMsrs([MSR.IA32_TSC, MSR.MTRR_DEF_TYPE]);
    expect(m).toEqual([
      { index: MSR.IA32_TSC, data: 0n },
      { index: MSR.MTRR_DEF_TYPE, data: 0x806n },
    ]);
  });

  it('wires LINT0 ExtINT and LINT1 NMI', () => {
    const l = new Uint8Array(1024);
    new DataView(l.buffer).setUint32(0x350, 0x10700, true);
    wireLapicLints(l);
    const dv = new DataView(l.buffer);
    expect(dv.getUint32(0x350, true)).toBe(0x10700);
    expect((dv.getUint32(0x360, true) >> 8) & 7).toBe(4);
  });
});
