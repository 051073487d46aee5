// CPUID and MSR lists: kvm_cpuid_entry2 / kvm_cpuid2, kvm_msr_entry / kvm_msrs, kvm_msr_list.
import { defineFlexStruct, type FlexStruct } from './flex.js';
import { array, defineStruct, type Struct, u32, u64 } from './layout.js';

/** `struct kvm_cpuid_entry2`. */
export interface KvmCpuidEntry2Value {
  function: number;
  index: number;
  /** KVM_CPUID_FLAG_* */
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  padding?: number[];
}
/** Layout of `struct kvm_cpuid_entry2` (40 bytes). @example KvmCpuidEntry2.decode(buf, 8) */
export const KvmCpuidEntry2: Struct<KvmCpuidEntry2Value> = defineStruct('kvm_cpuid_entry2', [
  ['function', u32],
  ['index', u32],
  ['flags', u32],
  ['eax', u32],
  ['ebx', u32],
  ['ecx', u32],
  ['edx', u32],
  ['padding', array(u32, 3)],
]);

/** Header of `struct kvm_cpuid2`. */
export interface KvmCpuid2Header {
  nent: number;
  padding: number;
}
/** `struct kvm_cpuid2` decoded. */
export type KvmCpuid2Value = KvmCpuid2Header & { entries: KvmCpuidEntry2Value[] };
/**
 * `struct kvm_cpuid2` (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2): header + `nent` entries.
 * @example
 * const buf = KvmCpuid2.alloc(KVM_MAX_CPUID_ENTRIES);
 * addon.ioctl(kvm, KVM_GET_SUPPORTED_CPUID, buf);
 * const cpuid = KvmCpuid2.decode(buf);
 * addon.ioctl(vcpu, KVM_SET_CPUID2, KvmCpuid2.encode({ entries: cpuid.entries }));
 */
export const KvmCpuid2: FlexStruct<KvmCpuid2Header, KvmCpuidEntry2Value, 'entries'> = defineFlexStruct(
  'kvm_cpuid2',
  defineStruct<KvmCpuid2Header>('kvm_cpuid2', [
    ['nent', u32],
    ['padding', u32],
  ]),
  'nent',
  'entries',
  KvmCpuidEntry2,
);

/** Maximum entries KVM accepts in one kvm_cpuid2 (KVM_MAX_CPUID_ENTRIES in the kernel). */
export const KVM_MAX_CPUID_ENTRIES = 256;

/** `struct kvm_msr_entry`. */
export interface KvmMsrEntryValue {
  index: number;
  reserved?: number;
  data: bigint;
}
/** Layout of `struct kvm_msr_entry` (16 bytes). @example KvmMsrEntry.encode({ index: 0x10, data: 0n }) */
export const KvmMsrEntry: Struct<KvmMsrEntryValue> = defineStruct('kvm_msr_entry', [
  ['index', u32],
  ['reserved', u32],
  ['data', u64],
]);

/** Header of `struct kvm_msrs`. */
export interface KvmMsrsHeader {
  nmsrs: number;
  pad: number;
}
/**
 * `struct kvm_msrs` (KVM_GET_MSRS / KVM_SET_MSRS): header + `nmsrs` entries.
 * KVM_GET_MSRS returns how many entries it read; decode the buffer after setting indices.
 * @example
 * const buf = KvmMsrs.encode({ entries: [{ index: 0x174, data: 0n }] });
 * const n = addon.ioctl(vcpu, KVM_GET_MSRS, buf);
 * const value = KvmMsrs.decode(buf).entries[0].data;
 */
export const KvmMsrs: FlexStruct<KvmMsrsHeader, KvmMsrEntryValue, 'entries'> = defineFlexStruct(
  'kvm_msrs',
  defineStruct<KvmMsrsHeader>('kvm_msrs', [
    ['nmsrs', u32],
    ['pad', u32],
  ]),
  'nmsrs',
  'entries',
  KvmMsrEntry,
);

/** Header of `struct kvm_msr_list`. */
export interface KvmMsrListHeader {
  nmsrs: number;
}
/**
 * `struct kvm_msr_list` (KVM_GET_MSR_INDEX_LIST / KVM_GET_MSR_FEATURE_INDEX_LIST).
 * If `nmsrs` is too small the ioctl fails with E2BIG and writes the needed count into `nmsrs`.
 * @example
 * const buf = KvmMsrList.alloc(1024);
 * addon.ioctl(kvm, KVM_GET_MSR_INDEX_LIST, buf);
 * const { indices } = KvmMsrList.decode(buf);
 */
export const KvmMsrList: FlexStruct<KvmMsrListHeader, number, 'indices'> = defineFlexStruct(
  'kvm_msr_list',
  defineStruct<KvmMsrListHeader>('kvm_msr_list', [['nmsrs', u32]]),
  'nmsrs',
  'indices',
  u32,
);
