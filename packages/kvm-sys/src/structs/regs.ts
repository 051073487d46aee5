// vCPU register state: kvm_regs, kvm_sregs (kvm_segment, kvm_dtable), kvm_sregs2, kvm_fpu,
// kvm_debugregs, kvm_xcrs, kvm_xsave, kvm_lapic_state.
import { array, bytes, defineStruct, type Struct, u8, u16, u32, u64 } from './layout.js';

/** `struct kvm_regs`: general-purpose registers (KVM_GET_REGS / KVM_SET_REGS). */
export interface KvmRegsValue {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}
const REG_NAMES = [
  'rax',
  'rbx',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'rsp',
  'rbp',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
  'rip',
  'rflags',
] as const;
/**
 * Layout of `struct kvm_regs` (144 bytes).
 * @example
 * const regs = KvmRegs.decode(buf); regs.rip = 0x7c00n; KvmRegs.encode(regs, buf);
 */
export const KvmRegs: Struct<KvmRegsValue> = defineStruct(
  'kvm_regs',
  REG_NAMES.map((n) => [n, u64] as const),
);

/** `struct kvm_segment`. */
export interface KvmSegmentValue {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
  padding: number;
}
/** Layout of `struct kvm_segment` (24 bytes). @example KvmSegment.decode(buf, KvmSregs.offsets.cs) */
export const KvmSegment: Struct<KvmSegmentValue> = defineStruct('kvm_segment', [
  ['base', u64],
  ['limit', u32],
  ['selector', u16],
  ['type', u8],
  ['present', u8],
  ['dpl', u8],
  ['db', u8],
  ['s', u8],
  ['l', u8],
  ['g', u8],
  ['avl', u8],
  ['unusable', u8],
  ['padding', u8],
]);

/** `struct kvm_dtable` (GDTR / IDTR). */
export interface KvmDtableValue {
  base: bigint;
  limit: number;
  padding: number[];
}
/** Layout of `struct kvm_dtable` (16 bytes). @example KvmDtable.encode({ base: 0x500n, limit: 0x1f, padding: [] }) */
export const KvmDtable: Struct<KvmDtableValue> = defineStruct('kvm_dtable', [
  ['base', u64],
  ['limit', u16],
  ['padding', array(u16, 3)],
]);

/** `struct kvm_sregs`: segment and control registers (KVM_GET_SREGS / KVM_SET_SREGS). */
export interface KvmSregsValue {
  cs: KvmSegmentValue;
  ds: KvmSegmentValue;
  es: KvmSegmentValue;
  fs: KvmSegmentValue;
  gs: KvmSegmentValue;
  ss: KvmSegmentValue;
  tr: KvmSegmentValue;
  ldt: KvmSegmentValue;
  gdt: KvmDtableValue;
  idt: KvmDtableValue;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apic_base: bigint;
  /** Pending external interrupts, one bit per vector (256 bits as 4 u64). */
  interrupt_bitmap: bigint[];
}
const SEGS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
const CRS = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'] as const;
/**
 * Layout of `struct kvm_sregs` (312 bytes).
 * @example
 * const s = KvmSregs.decode(buf); s.cr0 |= 1n; s.cs.selector = 0x8; KvmSregs.encode(s, buf);
 */
export const KvmSregs: Struct<KvmSregsValue> = defineStruct('kvm_sregs', [
  ...SEGS.map((n) => [n, KvmSegment] as const),
  ['gdt', KvmDtable],
  ['idt', KvmDtable],
  ...CRS.map((n) => [n, u64] as const),
  ['interrupt_bitmap', array(u64, 4)],
]);

/** `struct kvm_sregs2` (KVM_GET_SREGS2 / KVM_SET_SREGS2, KVM_CAP_SREGS2). */
export interface KvmSregs2Value extends Omit<KvmSregsValue, 'interrupt_bitmap'> {
  flags: bigint;
  pdptrs: bigint[];
}
/** Layout of `struct kvm_sregs2`. @example KvmSregs2.decode(buf).pdptrs */
export const KvmSregs2: Struct<KvmSregs2Value> = defineStruct('kvm_sregs2', [
  ...SEGS.map((n) => [n, KvmSegment] as const),
  ['gdt', KvmDtable],
  ['idt', KvmDtable],
  ...CRS.map((n) => [n, u64] as const),
  ['flags', u64],
  ['pdptrs', array(u64, 4)],
]);

/** `struct kvm_fpu` (KVM_GET_FPU / KVM_SET_FPU), fxsave-like. */
export interface KvmFpuValue {
  /** 8 x87 registers of 16 bytes each. */
  fpr: Uint8Array;
  fcw: number;
  fsw: number;
  ftwx: number;
  pad1: number;
  last_opcode: number;
  last_ip: bigint;
  last_dp: bigint;
  /** 16 XMM registers of 16 bytes each. */
  xmm: Uint8Array;
  mxcsr: number;
  pad2: number;
}
/** Layout of `struct kvm_fpu` (416 bytes). @example KvmFpu.encode({ ...KvmFpu.decode(buf), fcw: 0x37f, mxcsr: 0x1f80 }) */
export const KvmFpu: Struct<KvmFpuValue> = defineStruct('kvm_fpu', [
  ['fpr', bytes(128)],
  ['fcw', u16],
  ['fsw', u16],
  ['ftwx', u8],
  ['pad1', u8],
  ['last_opcode', u16],
  ['last_ip', u64],
  ['last_dp', u64],
  ['xmm', bytes(256)],
  ['mxcsr', u32],
  ['pad2', u32],
]);

/** `struct kvm_debugregs` (KVM_GET_DEBUGREGS / KVM_SET_DEBUGREGS). */
export interface KvmDebugregsValue {
  db: bigint[];
  dr6: bigint;
  dr7: bigint;
  flags: bigint;
  reserved: bigint[];
}
/** Layout of `struct kvm_debugregs` (128 bytes). @example KvmDebugregs.decode(buf).dr7 */
export const KvmDebugregs: Struct<KvmDebugregsValue> = defineStruct('kvm_debugregs', [
  ['db', array(u64, 4)],
  ['dr6', u64],
  ['dr7', u64],
  ['flags', u64],
  ['reserved', array(u64, 9)],
]);

/** `struct kvm_xcr`. */
export interface KvmXcrValue {
  xcr: number;
  reserved: number;
  value: bigint;
}
/** Layout of `struct kvm_xcr` (16 bytes). @example KvmXcr.encode({ xcr: 0, reserved: 0, value: 7n }) */
export const KvmXcr: Struct<KvmXcrValue> = defineStruct('kvm_xcr', [
  ['xcr', u32],
  ['reserved', u32],
  ['value', u64],
]);

/** `struct kvm_xcrs` (KVM_GET_XCRS / KVM_SET_XCRS). */
export interface KvmXcrsValue {
  nr_xcrs: number;
  flags: number;
  /** Up to KVM_MAX_XCRS (16) entries; only the first `nr_xcrs` are meaningful. */
  xcrs: KvmXcrValue[];
  padding: bigint[];
}
/** Layout of `struct kvm_xcrs` (392 bytes). @example KvmXcrs.encode({ nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, reserved: 0, value: 3n }], padding: [] }) */
export const KvmXcrs: Struct<KvmXcrsValue> = defineStruct('kvm_xcrs', [
  ['nr_xcrs', u32],
  ['flags', u32],
  ['xcrs', array(KvmXcr, 16)],
  ['padding', array(u64, 16)],
]);

/** `struct kvm_xsave` (KVM_GET_XSAVE / KVM_SET_XSAVE): the 4 KiB XSAVE area as bytes. */
export interface KvmXsaveValue {
  /** 4096 bytes (`__u32 region[1024]`), in the host's XSAVE format. */
  region: Uint8Array;
}
/**
 * Layout of `struct kvm_xsave` (4096 bytes; KVM_GET_XSAVE2 may use more: see KVM_CAP_XSAVE2).
 * @example const fxsave = KvmXsave.decode(buf).region.subarray(0, 512);
 */
export const KvmXsave: Struct<KvmXsaveValue> = defineStruct('kvm_xsave', [['region', bytes(4096)]], {});

/** `struct kvm_lapic_state` (KVM_GET_LAPIC / KVM_SET_LAPIC): the 1 KiB APIC register page. */
export interface KvmLapicStateValue {
  regs: Uint8Array;
}
/**
 * Layout of `struct kvm_lapic_state` (1024 bytes). Register offsets are the xAPIC MMIO offsets.
 * @example
 * const lapic = KvmLapicState.decode(buf);
 * new DataView(lapic.regs.buffer).setUint32(0x350, 0x700, true); // LVT LINT0: ExtINT
 */
export const KvmLapicState: Struct<KvmLapicStateValue> = defineStruct('kvm_lapic_state', [
  ['regs', bytes(1024)],
]);
