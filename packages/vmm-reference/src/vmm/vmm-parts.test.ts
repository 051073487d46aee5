/**
 * CPUID, the console escape, the ACPI power device and the demo guest. (The boot GDT, page tables
 * and entry registers are @ts-vmm/linux-loader's and tested there, in src/boot-state/.)
 */
import { AcpiPowerDevice } from '@ts-vmm/devices';
import type { CpuidEntry } from '@ts-vmm/hypervisor';
import { type EntryLayout, translate, writeGdt, writeIdentityPageTables } from '@ts-vmm/linux-loader';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { ACPI_RESET_VALUE, GDT_ADDR, PDPT_ADDR, PML4_ADDR } from './address-map.js';
import { ENTRY_LAYOUT } from './boot-linux.js';
import { ConsoleEscape } from './console-escape.js';
import { vcpuCpuid } from './cpuid.js';
import { DEMO_GREETING, demoGuest } from './demo-guest.js';

describe('entry layout', () => {
  it('puts the GDT and page tables where the address map says', () => {
    const layout: EntryLayout = ENTRY_LAYOUT;
    const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
    expect(writeGdt(mem, layout).base).toBe(BigInt(GDT_ADDR));
    const cr3 = writeIdentityPageTables(mem, layout);
    expect(cr3).toBe(PML4_ADDR);
    expect(mem.read64(PML4_ADDR) & ~0xfffn).toBe(BigInt(PDPT_ADDR));
    expect(translate(mem, cr3, 0xfee0_0000)).toBe(0xfee0_0000);
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
  it('Ctrl-A X quits, Ctrl-A S asks for a snapshot, Ctrl-A Ctrl-A sends Ctrl-A, across chunks', () => {
    const e = new ConsoleEscape();
    const none = { quit: false, snapshot: false };
    expect(e.feed(Uint8Array.of(0x61, 0x01))).toEqual({ forward: Uint8Array.of(0x61), ...none });
    expect(e.feed(Uint8Array.of(0x01, 0x62))).toEqual({ forward: Uint8Array.of(0x01, 0x62), ...none });
    expect(e.feed(Uint8Array.of(0x01, 0x63))).toEqual({ forward: Uint8Array.of(0x01, 0x63), ...none });
    expect(e.feed(Uint8Array.of(0x66, 0x01, 0x73, 0x67))).toEqual({
      forward: Uint8Array.of(0x66, 0x67),
      quit: false,
      snapshot: true,
    });
    expect(e.feed(Uint8Array.of(0x64, 0x01, 0x78, 0x65)).quit).toBe(true);
  });

  it('power device reports poweroff and reset', () => {
    const events: string[] = [];
    const d = new AcpiPowerDevice({ onEvent: (ev) => events.push(ev), resetValue: ACPI_RESET_VALUE });
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
