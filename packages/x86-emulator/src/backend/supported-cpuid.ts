/**
 * The CPUID the emulated backend offers (`Hypervisor.supportedCpuid()`): the CPU's own table
 * ({@link defaultCpuid}: only instructions it implements), plus what the emulated platform adds:
 * x2APIC (leaf 1 ECX bit 21: the emulated LAPIC implements the x2APIC MSRs, as KVM's does; Linux
 * prefers it, and its APIC accesses become MSR accesses served inside the CPU instead of MMIO
 * accesses that stop it), TSC-deadline LAPIC timer (leaf 1 ECX bit 24), an always-running APIC timer (leaf 6 ARAT), TSC and crystal frequencies (leaves 0x15/0x16 from
 * {@link VirtualClock.frequencyCpuid}, so Linux never calibrates), and KVM's paravirtual leaves
 * (0x40000000 "KVMKVMKVM", 0x40000001 features: kvm-clock (`CLOCKSOURCE2` + stable bit) and
 * `NOP_IO_DELAY`; 0x40000010 TSC/APIC kHz).
 *
 * @module
 */
import type { CpuidEntry } from '@ts-vmm/hypervisor';
import { defaultCpuid } from '../cpuid.js';
import type { VirtualClock } from '../platform/virtual-clock.js';

/** KVM paravirtual feature bits (CPUID 0x40000001 EAX) the backend implements. */
export const KvmFeature = {
  /** Old kvm-clock MSRs 0x11/0x12. */
  CLOCKSOURCE: 1 << 0,
  /** No delays on port 0x80 writes. */
  NOP_IO_DELAY: 1 << 1,
  /** kvm-clock MSRs 0x4b564d00/0x4b564d01. */
  CLOCKSOURCE2: 1 << 3,
  /** The pvclock TSC-stable bit is honoured. */
  CLOCKSOURCE_STABLE_BIT: 1 << 24,
} as const;

/** Leaf 1 ECX: x2APIC, TSC-deadline timer. */
const X2APIC = 1 << 21;
const TSC_DEADLINE = 1 << 24;

function entry(fn: number, eax: number, ebx: number, ecx: number, edx: number): CpuidEntry {
  return { function: fn, index: 0, flags: 0, eax: eax >>> 0, ebx: ebx >>> 0, ecx: ecx >>> 0, edx: edx >>> 0 };
}

/**
 * CPUID leaves for a VM whose clock is `clock`.
 *
 * @example
 * ```ts
 * const leaves = emulatedCpuid(new VirtualClock());
 * leaves.find((e) => e.function === 0x15); // { eax: 1, ebx: 2, ecx: 1e9, ... } for a 2 GHz TSC
 * ```
 */
export function emulatedCpuid(clock: VirtualClock, options: { kvmclock?: boolean } = {}): CpuidEntry[] {
  const f = clock.frequencyCpuid();
  const out: CpuidEntry[] = [];
  for (const e of defaultCpuid()) {
    const c = { ...e };
    if (c.function === 0) c.eax = Math.max(c.eax, 0x16);
    if (c.function === 1) c.ecx = (c.ecx | X2APIC | TSC_DEADLINE) >>> 0;
    out.push(c);
  }
  // leaf 6 EAX bit 2 ARAT: the LAPIC timer keeps running in idle states (as KVM reports), so Linux
  // needs no broadcast timer and can stop its tick in idle
  out.push(entry(6, 1 << 2, 0, 0, 0));
  out.push(entry(0x15, f.leaf15.eax, f.leaf15.ebx, f.leaf15.ecx, 0));
  out.push(entry(0x16, f.leaf16.eax, f.leaf16.ebx, f.leaf16.ecx, 0));
  const kvmclock = options.kvmclock ?? true;
  const features =
    KvmFeature.NOP_IO_DELAY |
    (kvmclock ? KvmFeature.CLOCKSOURCE | KvmFeature.CLOCKSOURCE2 | KvmFeature.CLOCKSOURCE_STABLE_BIT : 0);
  // "KVMKVMKVM\0\0\0"
  out.push(entry(0x4000_0000, 0x4000_0010, 0x4b4d564b, 0x564b4d56, 0x0000004d));
  out.push(entry(0x4000_0001, features, 0, 0, 0));
  out.push(entry(0x4000_0010, f.leaf40000010.eax, f.leaf40000010.ebx, 0, 0));
  return out;
}
