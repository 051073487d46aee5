// This package's struct codecs against kvm-sys's layouts (which kvm-sys checks against the C header
// with a compiled sizeof/offsetof program), plus encode/decode round trips with fast-check.
import * as sys from '@ts-vmm/kvm-sys';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KVM_RUN_OFFSETS } from './kvm-run.js';
import * as S from './structs.js';

type Layout = { size: number; offsets: Readonly<Record<string, number>> };
const theirs = sys as unknown as Record<string, Layout>;

/** [our struct, kvm-sys struct name, our field -> C field path]. */
const PAIRS: [Layout, string, Record<string, string>?][] = [
  [S.KvmRegs, 'KvmRegs'],
  [S.KvmSegment, 'KvmSegment'],
  [S.KvmDtable, 'KvmDtable'],
  [S.KvmSregs, 'KvmSregs'],
  [S.KvmFpu, 'KvmFpu'],
  [S.KvmCpuidEntry2, 'KvmCpuidEntry2'],
  [S.KvmUserspaceMemoryRegion, 'KvmUserspaceMemoryRegion'],
  [S.KvmIrqfd, 'KvmIrqfd'],
  [S.KvmIoeventfd, 'KvmIoeventfd'],
  [S.KvmIrqLevel, 'KvmIrqLevel'],
  [S.KvmMsi, 'KvmMsi'],
  [S.KvmDirtyLog, 'KvmDirtyLog'],
  [S.KvmClockData, 'KvmClockData'],
  [S.KvmEnableCap, 'KvmEnableCap', { arg0: 'args[0]', arg1: 'args[1]', arg2: 'args[2]', arg3: 'args[3]' }],
  [S.KvmCoalescedMmioZone, 'KvmCoalescedMmioZone'],
  [S.KvmCreateDevice, 'KvmCreateDevice'],
  [S.KvmDeviceAttr, 'KvmDeviceAttr'],
  [S.KvmTranslation, 'KvmTranslation'],
  [
    S.KvmGuestDebug,
    'KvmGuestDebug',
    {
      dr0: 'arch.debugreg[0]',
      dr1: 'arch.debugreg[1]',
      dr2: 'arch.debugreg[2]',
      dr3: 'arch.debugreg[3]',
      dr6: 'arch.debugreg[6]',
      dr7: 'arch.debugreg[7]',
    },
  ],
  [S.KvmDebugregs, 'KvmDebugregs', { db0: 'db[0]', db1: 'db[1]', db2: 'db[2]', db3: 'db[3]' }],
  [S.KvmPitConfig, 'KvmPitConfig'],
];

function resolveOffset(l: Layout, path: string): number | undefined {
  if (l.offsets[path] !== undefined) return l.offsets[path];
  // 'db[2]' as base + 2 * element size when only the array's offset is listed.
  const m = /^(.*)\[(\d+)\]$/.exec(path);
  if (m && l.offsets[m[1]] !== undefined) return l.offsets[m[1]] + Number(m[2]) * 8;
  if (m && l.offsets[`${m[1]}[0]`] !== undefined) return l.offsets[`${m[1]}[0]`] + Number(m[2]) * 8;
  const dot = path.split('.');
  if (dot.length === 2) {
    const base = l.offsets[dot[0]];
    const rest = resolveOffset(
      {
        size: 0,
        offsets: Object.fromEntries(
          Object.entries(l.offsets)
            .filter(([k]) => k.startsWith(`${dot[0]}.`))
            .map(([k, v]) => [k.slice(dot[0].length + 1), v - (base ?? 0)]),
        ),
      },
      dot[1],
    );
    if (base !== undefined && rest !== undefined) return base + rest;
  }
  return undefined;
}

describe('struct layouts match kvm-sys (checked against linux/kvm.h)', () => {
  it.each(PAIRS.map(([ours, name, map]) => ({ ours, name, map })))('$name', ({ ours, name, map }) => {
    const ref = theirs[name];
    expect(ref, `kvm-sys exports ${name}`).toBeDefined();
    expect(ours.size).toBe(ref.size);
    for (const [field, off] of Object.entries(ours.offsets)) {
      const path = map?.[field] ?? field;
      expect(resolveOffset(ref, path), `${name}.${path}`).toBe(off);
    }
  });

  it('kvm_run offsets match', () => {
    const ref = (sys as unknown as { KVM_RUN_OFFSETS: Record<string, number> }).KVM_RUN_OFFSETS;
    const rename: Record<string, string> = {
      fail_entry_reason: 'fail_entry_hardware_entry_failure_reason',
      debug_exception: 'debug_arch_exception',
      debug_pc: 'debug_arch_pc',
      debug_dr6: 'debug_arch_dr6',
      debug_dr7: 'debug_arch_dr7',
      sync_regs: 's',
    };
    for (const [k, v] of Object.entries(KVM_RUN_OFFSETS)) expect(ref[rename[k] ?? k], k).toBe(v);
  });
});

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });

describe('codecs round-trip arbitrary values', () => {
  it('kvm_regs', () => {
    const names = Object.keys(S.KvmRegs.offsets);
    fc.assert(
      fc.property(fc.array(u64, { minLength: names.length, maxLength: names.length }), (vals) => {
        const regs = Object.fromEntries(names.map((n, i) => [n, vals[i]])) as unknown as Parameters<
          typeof S.KvmRegs.encode
        >[0];
        expect(S.KvmRegs.decode(S.KvmRegs.encode(regs))).toEqual(regs);
      }),
    );
  });

  it('kvm_sregs', () => {
    const seg = fc.record({
      base: u64, limit: u32, selector: u16, type: u8, present: u8, dpl: u8, db: u8, s: u8, l: u8, g: u8, avl: u8, unusable: u8,
    }); // biome-ignore format: table
    const dt = fc.record({ base: u64, limit: u16 });
    const sregs = fc.record({
      cs: seg, ds: seg, es: seg, fs: seg, gs: seg, ss: seg, tr: seg, ldt: seg, gdt: dt, idt: dt,
      cr0: u64, cr2: u64, cr3: u64, cr4: u64, cr8: u64, efer: u64, apic_base: u64,
      interrupt_bitmap: fc.array(u64, { minLength: 4, maxLength: 4 }),
    }); // biome-ignore format: table
    fc.assert(
      fc.property(sregs, (s) => {
        expect(S.KvmSregs.decode(S.KvmSregs.encode(s))).toEqual(s);
        // and kvm-sys decodes our bytes to the same values
        const ref = (
          sys as unknown as { KvmSregs: { decode(b: Uint8Array): Record<string, unknown> } }
        ).KvmSregs.decode(S.KvmSregs.encode(s));
        expect(ref.cr3).toBe(s.cr3);
        expect((ref.cs as { selector: number }).selector).toBe(s.cs.selector);
      }),
    );
  });

  it('cpuid2 and msrs', () => {
    const entry = fc.record({
      function: u32,
      index: u32,
      flags: u32,
      eax: u32,
      ebx: u32,
      ecx: u32,
      edx: u32,
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
        expect(S.KvmCpuid2.decode(S.KvmCpuid2.encode({ entries })).entries).toEqual(entries);
      }),
    );
    const msr = fc.record({ index: u32, data: u64 });
    fc.assert(
      fc.property(fc.array(msr, { maxLength: 40 }), (msrs) => {
        expect(S.KvmMsrs.decode(S.KvmMsrs.encode(msrs), msrs.length)).toEqual(msrs);
      }),
    );
  });

  it('irq routing encodes irqchip and MSI entries at their C offsets', () => {
    const b = S.KvmIrqRouting.encode([
      { gsi: 3, route: { type: 'irqchip', chip: 2, pin: 3 } },
      { gsi: 40, route: { type: 'msi', addressLo: 0xfee0_0000, addressHi: 1, data: 0x31 } },
    ]);
    const v = new DataView(b.buffer);
    expect(b.length).toBe(8 + 2 * 48);
    expect([
      v.getUint32(0, true),
      v.getUint32(8, true),
      v.getUint32(12, true),
      v.getUint32(24, true),
      v.getUint32(28, true),
    ]).toEqual([2, 3, 1, 2, 3]);
    expect([
      v.getUint32(56, true),
      v.getUint32(60, true),
      v.getUint32(72, true),
      v.getUint32(76, true),
      v.getUint32(80, true),
    ]).toEqual([40, 2, 0xfee0_0000, 1, 0x31]);
  });
});
