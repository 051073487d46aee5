/**
 * Conversions between kvm-sys's struct values and the backend-neutral shapes of `@ts-vmm/hypervisor`
 * (`Sregs`, `Fpu`, `CpuidEntry`, `MsrEntry`, ...). kvm-sys names every C field, padding included
 * (`padding`, `pad1`, `reserved`); the neutral shapes, shared with the emulator backend, leave the
 * padding out. Decoded values are copied without it, so a KVM `Sregs` has exactly the fields an
 * emulator one has. Neutral values encode as they are: kvm-sys zero-fills the fields a value leaves out.
 *
 * @module
 */
import type {
  ClockData,
  CpuidEntry,
  DebugRegs,
  DTable,
  Fpu,
  IoapicState,
  LapicState,
  MsrEntry,
  PicState,
  PitChannelState,
  Regs,
  Segment,
  Sregs,
  VcpuEvents,
  Xcr,
} from '@ts-vmm/hypervisor';
import type {
  KvmClockDataValue,
  KvmCpuidEntry2Value,
  KvmDebugregsValue,
  KvmDtableValue,
  KvmFpuValue,
  KvmIoapicStateValue,
  KvmLapicStateValue,
  KvmMsrEntryValue,
  KvmPicStateValue,
  KvmPitChannelStateValue,
  KvmRegsValue,
  KvmSegmentValue,
  KvmSregsValue,
  KvmVcpuEventsValue,
  KvmXcrValue,
} from '@ts-vmm/kvm-sys';

// Compile-time check that each neutral shape of @ts-vmm/hypervisor names exactly the fields of its
// kvm-sys struct value less the padding, with the same types: the build fails when either drifts.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Scalar and array fields must have the same type (optional or not); nested structs are checked on their own. */
type FieldOk<A, B> =
  NonNullable<B> extends bigint | number | bigint[] | number[] | Uint8Array
    ? Same<NonNullable<A>, NonNullable<B>>
    : true;
type Fields<K, N, Pad extends keyof K = never> =
  Same<Exclude<keyof K, Pad>, keyof N> extends true
    ? { [F in keyof N]-?: F extends keyof K ? FieldOk<K[F], N[F]> : false }[keyof N] extends true
      ? true
      : false
    : false;
const _shapesMatch: true[] = [
  true as Fields<KvmRegsValue, Regs>,
  true as Fields<KvmSegmentValue, Segment, 'padding'>,
  true as Fields<KvmDtableValue, DTable, 'padding'>,
  true as Fields<KvmSregsValue, Sregs>,
  true as Fields<KvmFpuValue, Fpu, 'pad1' | 'pad2'>,
  true as Fields<KvmMsrEntryValue, MsrEntry, 'reserved'>,
  true as Fields<KvmCpuidEntry2Value, CpuidEntry, 'padding'>,
  true as Fields<KvmDebugregsValue, DebugRegs, 'reserved'>,
  true as Fields<KvmXcrValue, Xcr, 'reserved'>,
  true as Fields<KvmVcpuEventsValue, VcpuEvents, 'reserved'>,
  true as Fields<KvmLapicStateValue, LapicState>,
  true as Fields<KvmPicStateValue, PicState>,
  true as Fields<KvmIoapicStateValue, IoapicState, 'pad'>,
  true as Fields<KvmPitChannelStateValue, PitChannelState>,
  true as Fields<KvmClockDataValue, ClockData, 'pad0' | 'pad'>,
];
void _shapesMatch;

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
