/**
 * Conversions between kvm-sys's struct values and the backend-neutral shapes of `backend/types.ts`
 * (`Sregs`, `Fpu`, `CpuidEntry`, `MsrEntry`). kvm-sys names every C field, padding included
 * (`padding`, `pad1`, `reserved`); the neutral shapes, shared with the emulator backend, leave the
 * padding out. Decoded values are copied without it, so a KVM `Sregs` has exactly the fields an
 * emulator one has. Neutral values encode as they are: kvm-sys zero-fills the fields a value leaves out.
 *
 * @module
 */
import type {
  KvmCpuidEntry2Value,
  KvmDtableValue,
  KvmFpuValue,
  KvmMsrEntryValue,
  KvmSegmentValue,
  KvmSregsValue,
} from '@ts-vmm/kvm-sys';
import type { CpuidEntry, DTable, Fpu, MsrEntry, Segment, Sregs } from './backend/types.js';

function segment(s: KvmSegmentValue): Segment {
  const { padding: _padding, ...neutral } = s;
  return neutral;
}

function dtable(d: KvmDtableValue): DTable {
  return { base: d.base, limit: d.limit };
}

/**
 * A decoded `kvm_sregs` as a neutral `Sregs` (segment and descriptor-table padding dropped).
 * @example const sregs = sregsFromKvm(KvmSregs.decode(buf));
 */
export function sregsFromKvm(s: KvmSregsValue): Sregs {
  return {
    cs: segment(s.cs),
    ds: segment(s.ds),
    es: segment(s.es),
    fs: segment(s.fs),
    gs: segment(s.gs),
    ss: segment(s.ss),
    tr: segment(s.tr),
    ldt: segment(s.ldt),
    gdt: dtable(s.gdt),
    idt: dtable(s.idt),
    cr0: s.cr0,
    cr2: s.cr2,
    cr3: s.cr3,
    cr4: s.cr4,
    cr8: s.cr8,
    efer: s.efer,
    apic_base: s.apic_base,
    interrupt_bitmap: s.interrupt_bitmap,
  };
}

/**
 * A neutral `Sregs` as kvm-sys's value for `KvmSregs.encode` (the padding it lacks encodes as zero).
 * @example KvmSregs.encode(sregsToKvm(sregs), buf);
 */
export function sregsToKvm(s: Sregs): KvmSregsValue {
  return s as KvmSregsValue;
}

/**
 * A decoded `kvm_fpu` as a neutral `Fpu` (`pad1`/`pad2` dropped).
 * @example const fpu = fpuFromKvm(KvmFpu.decode(buf));
 */
export function fpuFromKvm(f: KvmFpuValue): Fpu {
  const { pad1: _pad1, pad2: _pad2, ...neutral } = f;
  return neutral;
}

/**
 * A neutral `Fpu` as kvm-sys's value for `KvmFpu.encode` (`pad1`/`pad2` encode as zero).
 * @example KvmFpu.encode(fpuToKvm(fpu), buf);
 */
export function fpuToKvm(f: Fpu): KvmFpuValue {
  return f as KvmFpuValue;
}

/**
 * A decoded `kvm_cpuid_entry2` as a neutral `CpuidEntry` (`padding` dropped).
 * @example KvmCpuid2.decode(buf).entries.map(cpuidEntryFromKvm)
 */
export function cpuidEntryFromKvm(e: KvmCpuidEntry2Value): CpuidEntry {
  return {
    function: e.function,
    index: e.index,
    flags: e.flags,
    eax: e.eax,
    ebx: e.ebx,
    ecx: e.ecx,
    edx: e.edx,
  };
}

/**
 * A decoded `kvm_msr_entry` as a neutral `MsrEntry` (`reserved` dropped).
 * @example KvmMsrs.decode(buf).entries.map(msrEntryFromKvm)
 */
export function msrEntryFromKvm(e: KvmMsrEntryValue): MsrEntry {
  return { index: e.index, data: e.data };
}
