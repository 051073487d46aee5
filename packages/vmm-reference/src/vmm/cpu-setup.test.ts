import type { CpuidEntry, Sregs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GDT_ADDR, PML4_ADDR } from './address-map.js';
import { ConsoleEscape } from './console-escape.js';
import { bootMsrs, bootRegs, bootSregs, MSR, wireLapicLints } from './cpu-setup.js';
import { vcpuCpuid } from './cpuid.js';
import { DEMO_GREETING, demoGuest } from './demo-guest.js';
import { BOOT_GDT, bootSegment, gdtEntry, writeGdt } from './gdt.js';
import { translate, writeIdentityPageTables } from './page-tables.js';
import { AcpiPowerDevice } from './power.js';

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
    expect(cr3).toBe(PML4_ADDR);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (a) => {
        expect(translate(mem, cr3, a)).toBe(a);
      }),
    );
    expect(translate(mem, cr3, 2 ** 32)).toBeUndefined();
    expect(mem.read64(PML4_ADDR) & 4n).toBe(0n);
    writeIdentityPageTables(mem, { user: true });
    expect(mem.read64(PML4_ADDR) & 4n).toBe(4n);
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
    const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
    const gdtr = writeGdt(mem);
    expect(gdtr.limit).toBe(BOOT_GDT.length * 8 - 1);
    expect(mem.read64(GDT_ADDR + 8)).toBe(BOOT_GDT[1]);
  });

  it('long mode and PVH register states', () => {
    const lm = bootSregs(resetSregs, { kind: 'linux64', entry: 0x100200, zeroPage: 0x7000 });
    expect(lm.cr0 & 0x80000001n).toBe(0x80000001n);
    expect(lm.efer & 0x500n).toBe(0x500n);
    expect(lm.cr4 & 0x20n).toBe(0x20n);
    expect(lm.cr3).toBe(BigInt(PML4_ADDR));
    expect(lm.cs.l).toBe(1);
    const pvh = bootSregs(resetSregs, { kind: 'pvh', entry: 0x1000000, startInfo: 0x7000 });
    expect(pvh.cr0 & 0x80000001n).toBe(1n);
    expect(pvh.efer).toBe(0n);
    expect(pvh.cs).toMatchObject({ db: 1, l: 0, selector: 0x20 });
    expect(bootRegs({ kind: 'linux64', entry: 0x100200, zeroPage: 0x7000 })).toMatchObject({
      rip: 0x100200n,
      rsi: 0x7000n,
    });
    expect(bootRegs({ kind: 'pvh', entry: 0x1000000, startInfo: 0x7000 })).toMatchObject({
      rbx: 0x7000n,
      rflags: 2n,
    });
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

describe('CPUID', () => {
  const supported: CpuidEntry[] = [
    { function: 0, index: 0, flags: 0, eax: 0x1f, ebx: 0x756e6547, ecx: 0x6c65746e, edx: 0x49656e69 },
    { function: 1, index: 0, flags: 0, eax: 0x906a3, ebx: 0x0, ecx: 0x80202001, edx: 0x178bfbff },
    { function: 4, index: 0, flags: 1, eax: 0x121, ebx: 0, ecx: 0, edx: 0 },
    { function: 4, index: 3, flags: 1, eax: 0x163, ebx: 0, ecx: 0, edx: 0 },
    { function: 0xb, index: 0, flags: 1, eax: 0, ebx: 0, ecx: 0, edx: 0 },
    { function: 0x1f, index: 0, flags: 1, eax: 0, ebx: 0, ecx: 0, edx: 0 },
    { function: 0x40000001, index: 0, flags: 0, eax: 0x1, ebx: 0, ecx: 0, edx: 0 },
  ];

  it('gives each vCPU its APIC ID and the VM topology', () => {
    for (let id = 0; id < 4; id++) {
      const c = vcpuCpuid(supported, { vcpuId: id, vcpuCount: 4, backend: 'kvm' });
      const l1 = c.find((e) => e.function === 1)!;
      expect(l1.ebx >>> 24).toBe(id);
      expect((l1.ebx >>> 16) & 0xff).toBe(4);
      expect(l1.ecx >>> 31).toBe(1);
      const b1 = c.find((e) => e.function === 0xb && e.index === 1)!;
      expect(b1).toMatchObject({ eax: 2, ebx: 4, edx: id });
      expect(c.filter((e) => e.function === 0x1f)).toHaveLength(3);
      const l3 = c.find((e) => e.function === 4 && e.index === 3)!;
      expect(l3.eax >>> 26).toBe(3);
      const sig = c.find((e) => e.function === 0x40000000)!;
      const bytes = Buffer.alloc(12);
      bytes.writeUInt32LE(sig.ebx, 0);
      bytes.writeUInt32LE(sig.ecx, 4);
      bytes.writeUInt32LE(sig.edx, 8);
      expect(bytes.toString('latin1')).toBe('KVMKVMKVM\0\0\0');
    }
  });

  it('hides CX16, XSAVE and AVX when CPL0 is emulated', () => {
    const c = vcpuCpuid(supported, { vcpuId: 0, vcpuCount: 1, backend: 'kvm', emulatedCpl0: true });
    const l1 = c.find((e) => e.function === 1)!;
    expect(l1.ecx & ((1 << 13) | (1 << 26) | (1 << 28))).toBe(0);
    expect(l1.ecx & 1).toBe(1);
  });

  it('adds no KVM signature for the emulator', () => {
    const c = vcpuCpuid(supported, { vcpuId: 0, vcpuCount: 1, backend: 'emulated' });
    expect(c.some((e) => e.function === 0x40000000)).toBe(false);
  });
});

describe('console escape, power device, demo guest', () => {
  it('Ctrl-A X quits, Ctrl-A Ctrl-A sends Ctrl-A, across chunks', () => {
    const e = new ConsoleEscape();
    expect(e.feed(Uint8Array.of(0x61, 0x01))).toEqual({ forward: Uint8Array.of(0x61), quit: false });
    expect(e.feed(Uint8Array.of(0x01, 0x62))).toEqual({ forward: Uint8Array.of(0x01, 0x62), quit: false });
    expect(e.feed(Uint8Array.of(0x01, 0x63))).toEqual({ forward: Uint8Array.of(0x01, 0x63), quit: false });
    expect(e.feed(Uint8Array.of(0x64, 0x01, 0x78, 0x65)).quit).toBe(true);
  });

  it('power device reports poweroff and reset', () => {
    const events: string[] = [];
    const d = new AcpiPowerDevice((ev) => events.push(ev));
    d.write(0, Uint8Array.of(0x14)); // SLP_TYP without SLP_EN: nothing
    d.write(0, Uint8Array.of(0x34));
    d.write(2, Uint8Array.of(1));
    expect(events).toEqual(['poweroff', 'reset']);
    const r = new Uint8Array(1);
    d.read(1, r);
    expect(r[0]).toBe(0x80);
  });

  it('demo guest carries its greeting and a correct RIP-relative pointer', () => {
    const g = demoGuest();
    const rel = new DataView(g.buffer).getInt32(3, true);
    const msg = new TextDecoder().decode(g.subarray(7 + rel, g.length - 1));
    expect(msg).toBe(`${DEMO_GREETING}\r\n`);
  });
});
