// Other vCPU state: kvm_vcpu_events, kvm_mp_state, kvm_translation, kvm_interrupt, kvm_guest_debug,
// kvm_debug_exit_arch, kvm_vapic_addr, kvm_tpr_access_ctl.
import { array, bytes, defineStruct, type Struct, u8, u32, u64 } from './layout.js';

/** `struct kvm_vcpu_events` (KVM_GET_VCPU_EVENTS / KVM_SET_VCPU_EVENTS). */
export interface KvmVcpuEventsValue {
  exception: { injected: number; nr: number; has_error_code: number; pending: number; error_code: number };
  interrupt: { injected: number; nr: number; soft: number; shadow: number };
  nmi: { injected: number; pending: number; masked: number; pad: number };
  sipi_vector: number;
  flags: number;
  smi: { smm: number; pending: number; smm_inside_nmi: number; latched_init: number };
  triple_fault: { pending: number };
  reserved: Uint8Array;
  exception_has_payload: number;
  exception_payload: bigint;
}
/**
 * Layout of `struct kvm_vcpu_events` (64 bytes).
 * @example
 * const ev = KvmVcpuEvents.decode(buf); ev.nmi.pending = 1; ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
 */
export const KvmVcpuEvents: Struct<KvmVcpuEventsValue> = defineStruct('kvm_vcpu_events', [
  [
    'exception',
    defineStruct('', [
      ['injected', u8],
      ['nr', u8],
      ['has_error_code', u8],
      ['pending', u8],
      ['error_code', u32],
    ]),
  ],
  [
    'interrupt',
    defineStruct('', [
      ['injected', u8],
      ['nr', u8],
      ['soft', u8],
      ['shadow', u8],
    ]),
  ],
  [
    'nmi',
    defineStruct('', [
      ['injected', u8],
      ['pending', u8],
      ['masked', u8],
      ['pad', u8],
    ]),
  ],
  ['sipi_vector', u32],
  ['flags', u32],
  [
    'smi',
    defineStruct('', [
      ['smm', u8],
      ['pending', u8],
      ['smm_inside_nmi', u8],
      ['latched_init', u8],
    ]),
  ],
  ['triple_fault', defineStruct('', [['pending', u8]])],
  ['reserved', bytes(26)],
  ['exception_has_payload', u8],
  ['exception_payload', u64],
]);

/** `struct kvm_mp_state` (KVM_GET_MP_STATE / KVM_SET_MP_STATE). */
export interface KvmMpStateValue {
  /** One of KVM_MP_STATE_*. */
  mp_state: number;
}
/** Layout of `struct kvm_mp_state` (4 bytes). @example KvmMpState.encode({ mp_state: KVM_MP_STATE_RUNNABLE }) */
export const KvmMpState: Struct<KvmMpStateValue> = defineStruct('kvm_mp_state', [['mp_state', u32]]);

/** `struct kvm_translation` (KVM_TRANSLATE). */
export interface KvmTranslationValue {
  linear_address: bigint;
  physical_address: bigint;
  valid: number;
  writeable: number;
  usermode: number;
  pad: Uint8Array;
}
/** Layout of `struct kvm_translation` (24 bytes). @example KvmTranslation.encode({ linear_address: 0x1000n } as KvmTranslationValue) */
export const KvmTranslation: Struct<KvmTranslationValue> = defineStruct('kvm_translation', [
  ['linear_address', u64],
  ['physical_address', u64],
  ['valid', u8],
  ['writeable', u8],
  ['usermode', u8],
  ['pad', bytes(5)],
]);

/** `struct kvm_interrupt` (KVM_INTERRUPT, without an in-kernel irqchip). */
export interface KvmInterruptValue {
  irq: number;
}
/** Layout of `struct kvm_interrupt` (4 bytes). @example KvmInterrupt.encode({ irq: 0x20 }) */
export const KvmInterrupt: Struct<KvmInterruptValue> = defineStruct('kvm_interrupt', [['irq', u32]]);

/** `struct kvm_guest_debug_arch` (x86: debugreg[8]). */
export interface KvmGuestDebugArchValue {
  debugreg: bigint[];
}
/** Layout of `struct kvm_guest_debug_arch` (64 bytes). @example KvmGuestDebugArch.encode({ debugreg: [0x1000n] }) */
export const KvmGuestDebugArch: Struct<KvmGuestDebugArchValue> = defineStruct('kvm_guest_debug_arch', [
  ['debugreg', array(u64, 8)],
]);

/** `struct kvm_guest_debug` (KVM_SET_GUEST_DEBUG). */
export interface KvmGuestDebugValue {
  /** KVM_GUESTDBG_* flags. */
  control: number;
  pad: number;
  arch: KvmGuestDebugArchValue;
}
/**
 * Layout of `struct kvm_guest_debug` (72 bytes).
 * @example KvmGuestDebug.encode({ control: KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, pad: 0, arch: { debugreg: [] } })
 */
export const KvmGuestDebug: Struct<KvmGuestDebugValue> = defineStruct('kvm_guest_debug', [
  ['control', u32],
  ['pad', u32],
  ['arch', KvmGuestDebugArch],
]);

/** `struct kvm_debug_exit_arch` (kvm_run.debug.arch on x86). */
export interface KvmDebugExitArchValue {
  exception: number;
  pad: number;
  pc: bigint;
  dr6: bigint;
  dr7: bigint;
}
/** Layout of `struct kvm_debug_exit_arch` (32 bytes). @example KvmDebugExitArch.decode(run, KVM_RUN_OFFSETS.exit) */
export const KvmDebugExitArch: Struct<KvmDebugExitArchValue> = defineStruct('kvm_debug_exit_arch', [
  ['exception', u32],
  ['pad', u32],
  ['pc', u64],
  ['dr6', u64],
  ['dr7', u64],
]);

/** `struct kvm_vapic_addr` (KVM_SET_VAPIC_ADDR). */
export interface KvmVapicAddrValue {
  vapic_addr: bigint;
}
/** Layout of `struct kvm_vapic_addr` (8 bytes). @example KvmVapicAddr.encode({ vapic_addr: 0n }) */
export const KvmVapicAddr: Struct<KvmVapicAddrValue> = defineStruct('kvm_vapic_addr', [['vapic_addr', u64]]);

/** `struct kvm_tpr_access_ctl` (KVM_TPR_ACCESS_REPORTING). */
export interface KvmTprAccessCtlValue {
  enabled: number;
  flags: number;
  reserved: number[];
}
/** Layout of `struct kvm_tpr_access_ctl` (40 bytes). @example KvmTprAccessCtl.encode({ enabled: 1, flags: 0, reserved: [] }) */
export const KvmTprAccessCtl: Struct<KvmTprAccessCtlValue> = defineStruct('kvm_tpr_access_ctl', [
  ['enabled', u32],
  ['flags', u32],
  ['reserved', array(u32, 8)],
]);
