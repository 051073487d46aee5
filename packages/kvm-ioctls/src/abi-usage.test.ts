// How this package uses kvm-sys's layouts (which kvm-sys checks against <linux/kvm.h>): neutral
// shapes round-trip through the kvm-sys codecs with the padding fields dropped, and the wrappers put
// the bytes KVM expects into their ioctl buffers (checked with a fake addon that records them).

import type { CpuidEntry, Fpu, MsrEntry, Sregs } from '@ts-vmm/hypervisor';
import {
  KVM_ENABLE_CAP,
  KVM_GET_MSRS,
  KVM_GET_SREGS,
  KVM_IRQ_ROUTING_IRQCHIP,
  KVM_IRQ_ROUTING_MSI,
  KVM_MSI_VALID_DEVID,
  KVM_SET_GSI_ROUTING,
  KVM_SET_GUEST_DEBUG,
  KVM_SET_SREGS,
  KvmCpuid2,
  KvmEnableCap,
  KvmFpu,
  KvmGuestDebug,
  KvmIrqRouting,
  KvmMsrs,
  KvmSregs,
} from '@ts-vmm/kvm-sys';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KvmError } from './errors.js';
import * as shapes from './neutral-shapes.js';
import type { NativeAddon } from './sys.js';
import { VcpuFd } from './vcpu-fd.js';
import { VmFd } from './vm-fd.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });

const segment = fc.record({
  base: u64, limit: u32, selector: u16, type: u8, present: u8, dpl: u8, db: u8, s: u8, l: u8, g: u8, avl: u8, unusable: u8,
}); // biome-ignore format: table
const dtable = fc.record({ base: u64, limit: u16 });
const sregsArb: fc.Arbitrary<Sregs> = fc.record({
  cs: segment, ds: segment, es: segment, fs: segment, gs: segment, ss: segment, tr: segment, ldt: segment,
  gdt: dtable, idt: dtable, cr0: u64, cr2: u64, cr3: u64, cr4: u64, cr8: u64, efer: u64, apic_base: u64,
  interrupt_bitmap: fc.array(u64, { minLength: 4, maxLength: 4 }),
}); // biome-ignore format: table
const fpuArb: fc.Arbitrary<Fpu> = fc.record({
  fpr: fc.uint8Array({ minLength: 128, maxLength: 128 }),
  fcw: u16,
  fsw: u16,
  ftwx: u8,
  last_opcode: u16,
  last_ip: u64,
  last_dp: u64,
  xmm: fc.uint8Array({ minLength: 256, maxLength: 256 }),
  mxcsr: u32,
});
const cpuidArb: fc.Arbitrary<CpuidEntry> = fc.record({
  function: u32, index: u32, flags: u32, eax: u32, ebx: u32, ecx: u32, edx: u32,
}); // biome-ignore format: table
const msrArb: fc.Arbitrary<MsrEntry> = fc.record({ index: u32, data: u64 });

describe('neutral shapes through kvm-sys codecs', () => {
  it('Sregs round-trip exactly (no padding fields appear), and padding encodes as zero', () => {
    fc.assert(
      fc.property(sregsArb, (s) => {
        const bytes = KvmSregs.encode(shapes.sregsToKvm(s));
        expect(shapes.sregsFromKvm(KvmSregs.decode(bytes))).toEqual(s);
        expect(bytes[KvmSregs.offsets['cs.padding']]).toBe(0);
        expect(bytes.subarray(KvmSregs.offsets['gdt.padding'], KvmSregs.offsets['gdt.padding'] + 6)).toEqual(
          new Uint8Array(6),
        );
      }),
    );
  });

  it('Fpu round-trips exactly', () => {
    fc.assert(
      fc.property(fpuArb, (f) => {
        expect(shapes.fpuFromKvm(KvmFpu.decode(KvmFpu.encode(shapes.fpuToKvm(f))))).toEqual(f);
      }),
    );
  });

  it('CPUID and MSR lists round-trip exactly', () => {
    fc.assert(
      fc.property(fc.array(cpuidArb, { maxLength: 40 }), (entries) => {
        const back = KvmCpuid2.decode(KvmCpuid2.encode({ entries })).entries.map(shapes.cpuidEntryFromKvm);
        expect(back).toEqual(entries);
      }),
    );
    fc.assert(
      fc.property(fc.array(msrArb, { maxLength: 40 }), (entries) => {
        expect(KvmMsrs.decode(KvmMsrs.encode({ entries })).entries.map(shapes.msrEntryFromKvm)).toEqual(
          entries,
        );
      }),
    );
  });
});

/** A fake addon recording every ioctl's request and a copy of its buffer; `reply` may fill buffers. */
function recordingAddon(reply: (req: number, buf: Uint8Array) => number = () => 0) {
  const calls: { req: number; buf: Uint8Array }[] = [];
  const run = new ArrayBuffer(4096);
  const sys = {
    ioctl: (_fd: number, req: number, arg?: unknown) => {
      const buf = arg instanceof Uint8Array ? arg : new Uint8Array(0);
      const r = reply(req, buf);
      calls.push({ req, buf: buf.slice() });
      return r;
    },
    mmap: () => run,
    munmap: () => {},
    close: () => {},
    installKickSignal: () => 38,
    currentThread: () => 1n,
  } as unknown as NativeAddon;
  return { sys, calls };
}

describe('wrappers build the ioctl buffers with kvm-sys layouts', () => {
  it('setGsiRouting encodes irqchip and MSI entries at their C offsets', () => {
    const { sys, calls } = recordingAddon();
    const vm = VmFd.wrap(sys, 10, 4096, false);
    vm.setGsiRouting([
      { gsi: 3, route: { type: 'irqchip', chip: 2, pin: 3 } },
      { gsi: 40, route: { type: 'msi', addressLo: 0xfee0_0000, addressHi: 1, data: 0x31 } },
      { gsi: 41, route: { type: 'msi', addressLo: 0xfee0_1000, addressHi: 0, data: 0x32, devid: 7 } },
    ]);
    const [{ req, buf: b }] = calls;
    expect(req).toBe(KVM_SET_GSI_ROUTING);
    const v = new DataView(b.buffer);
    expect(b.length).toBe(KvmIrqRouting.sizeFor(3));
    expect(b.length).toBe(8 + 3 * 48);
    // entry 0: gsi, type, flags, irqchip.irqchip, irqchip.pin
    expect([0, 8, 12, 16, 24, 28].map((o) => v.getUint32(o, true))).toEqual([
      3,
      3,
      KVM_IRQ_ROUTING_IRQCHIP,
      0,
      2,
      3,
    ]);
    // entry 1: gsi, type, flags, msi.address_lo, address_hi, data, devid
    expect([56, 60, 64, 72, 76, 80, 84].map((o) => v.getUint32(o, true))).toEqual([
      40,
      KVM_IRQ_ROUTING_MSI,
      0,
      0xfee0_0000,
      1,
      0x31,
      0,
    ]);
    // entry 2: MSI with a device id sets KVM_MSI_VALID_DEVID
    expect([104, 112, 132].map((o) => v.getUint32(o, true))).toEqual([41, KVM_MSI_VALID_DEVID, 7]);
  });

  it('enableCap places args and refuses more than kvm_enable_cap holds', () => {
    const { sys, calls } = recordingAddon();
    const vm = VmFd.wrap(sys, 10, 4096, false);
    vm.enableCap(123, [24n, 5n], 1);
    expect(calls[0].req).toBe(KVM_ENABLE_CAP);
    expect(KvmEnableCap.decode(calls[0].buf)).toMatchObject({ cap: 123, flags: 1, args: [24n, 5n, 0n, 0n] });
    expect(() => vm.enableCap(123, [1n, 2n, 3n, 4n, 5n])).toThrow(KvmError);
    expect(() => vm.enableCap(123, [1n, 2n, 3n, 4n, 5n])).toThrow(/5 arguments, at most 4/);
  });

  it('setGuestDebug puts DR0-3 in debugreg[0..3] and DR6/DR7 in debugreg[6]/[7]', () => {
    const { sys, calls } = recordingAddon();
    const vcpu = VcpuFd.wrap(sys, 11, 0, 4096);
    vcpu.setGuestDebug(0x3, { dr0: 0x1000n, dr3: 0x4000n, dr6: 0xff0n, dr7: 0x401n });
    const call = calls.find((c) => c.req === KVM_SET_GUEST_DEBUG)!;
    expect(KvmGuestDebug.decode(call.buf)).toMatchObject({
      control: 3,
      arch: { debugreg: [0x1000n, 0n, 0n, 0x4000n, 0n, 0n, 0xff0n, 0x401n] },
    });
  });

  it('getMsrs returns only the entries KVM read, without the reserved field', () => {
    const { sys } = recordingAddon((req, buf) => {
      if (req !== KVM_GET_MSRS) return 0;
      new DataView(buf.buffer, buf.byteOffset).setBigUint64(8 + 8, 0x500n, true); // entries[0].data
      return 1; // KVM read one of the two
    });
    const vcpu = VcpuFd.wrap(sys, 11, 0, 4096);
    expect(vcpu.getMsrs([0xc000_0080, 0x1234])).toEqual([{ index: 0xc000_0080, data: 0x500n }]);
  });

  it('getSregs/setSregs go through kvm_sregs and keep the neutral shape', () => {
    const { sys, calls } = recordingAddon();
    const vcpu = VcpuFd.wrap(sys, 11, 0, 4096);
    const s = vcpu.getSregs();
    expect(calls[0].req).toBe(KVM_GET_SREGS);
    expect(Object.keys(s.cs)).not.toContain('padding');
    expect(Object.keys(s.gdt)).toEqual(['base', 'limit']);
    vcpu.setSregs({ ...s, cr3: 0x1000n, cs: { ...s.cs, selector: 0x10 } });
    const set = calls.find((c) => c.req === KVM_SET_SREGS)!;
    expect(KvmSregs.decode(set.buf)).toMatchObject({ cr3: 0x1000n, cs: { selector: 0x10 } });
  });
});
