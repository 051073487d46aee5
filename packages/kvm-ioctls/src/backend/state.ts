/**
 * Conversions between kvm-sys's values of the snapshot structures (`kvm_vcpu_events`,
 * `kvm_debugregs`, `kvm_pic_state`, `kvm_ioapic_state`, `kvm_pit_state2`) and the neutral shapes of
 * `@ts-vmm/hypervisor` (the same fields, padding left out).
 *
 * @module
 */
import type {
  DebugRegs,
  IoapicState,
  PicState,
  PitChannelState,
  PitState,
  VcpuEvents,
} from '@ts-vmm/hypervisor';
import {
  type KvmDebugregsValue,
  KvmIoapicState,
  type KvmIoapicStateValue,
  KvmPicState,
  type KvmPicStateValue,
  type KvmPitState2Value,
  type KvmVcpuEventsValue,
} from '@ts-vmm/kvm-sys';

/**
 * A decoded `kvm_vcpu_events` as neutral {@link VcpuEvents} (`nmi.pad`, `reserved` dropped).
 * @example vcpuEventsFromKvm(vcpuFd.getVcpuEvents()).nmi.masked
 */
export function vcpuEventsFromKvm(e: KvmVcpuEventsValue): VcpuEvents {
  return {
    exception: { ...e.exception },
    interrupt: { ...e.interrupt },
    nmi: { injected: e.nmi.injected, pending: e.nmi.pending, masked: e.nmi.masked },
    sipi_vector: e.sipi_vector,
    flags: e.flags,
    smi: { ...e.smi },
    triple_fault: { ...e.triple_fault },
    exception_has_payload: e.exception_has_payload,
    exception_payload: e.exception_payload,
  };
}

/**
 * Neutral {@link VcpuEvents} as kvm-sys's value (padding zero).
 * @example vcpuFd.setVcpuEvents(vcpuEventsToKvm(savedState.events))
 */
export function vcpuEventsToKvm(e: VcpuEvents): KvmVcpuEventsValue {
  return { ...e, nmi: { ...e.nmi, pad: 0 }, reserved: new Uint8Array(26) };
}

/** A decoded `kvm_debugregs` as neutral {@link DebugRegs}. @example debugRegsFromKvm(vcpuFd.getDebugRegs()).dr7 */
export function debugRegsFromKvm(d: KvmDebugregsValue): DebugRegs {
  return { db: [...d.db], dr6: d.dr6, dr7: d.dr7, flags: d.flags };
}

/** Neutral {@link DebugRegs} as kvm-sys's value. @example vcpuFd.setDebugRegs(debugRegsToKvm(savedState.debugRegs)) */
export function debugRegsToKvm(d: DebugRegs): KvmDebugregsValue {
  return { ...d, db: [...d.db], reserved: [] };
}

/** The 512-byte chip state of `KVM_GET_IRQCHIP` for a PIC as {@link PicState}. @example picFromKvm(vmFd.getIrqchip(0)) */
export function picFromKvm(chip: Uint8Array): PicState {
  return { ...KvmPicState.decode(chip) };
}

/** A {@link PicState} as the 512-byte chip state of `KVM_SET_IRQCHIP`. @example vmFd.setIrqchip(0, picToKvm(pic)) */
export function picToKvm(pic: PicState): Uint8Array {
  const out = new Uint8Array(512);
  KvmPicState.encode(pic as KvmPicStateValue, out);
  return out;
}

/** The chip state of `KVM_GET_IRQCHIP` for the IOAPIC as {@link IoapicState}. @example ioapicFromKvm(vmFd.getIrqchip(2)) */
export function ioapicFromKvm(chip: Uint8Array): IoapicState {
  const { pad: _pad, ...s } = KvmIoapicState.decode(chip);
  return { ...s, redirtbl: [...s.redirtbl] };
}

/** An {@link IoapicState} as the 512-byte chip state of `KVM_SET_IRQCHIP`. @example vmFd.setIrqchip(2, ioapicToKvm(s)) */
export function ioapicToKvm(s: IoapicState): Uint8Array {
  const out = new Uint8Array(512);
  KvmIoapicState.encode({ ...s, pad: 0 } as KvmIoapicStateValue, out);
  return out;
}

/** A decoded `kvm_pit_state2` as {@link PitState}. @example pitFromKvm(KvmPitState2.decode(vmFd.getPit2())) */
export function pitFromKvm(p: KvmPitState2Value): PitState {
  return { channels: p.channels.map((c): PitChannelState => ({ ...c })), flags: p.flags };
}

/** A {@link PitState} as kvm-sys's `kvm_pit_state2` value. @example KvmPitState2.encode(pitToKvm(s)) */
export function pitToKvm(p: PitState): KvmPitState2Value {
  return { channels: p.channels.map((c) => ({ ...c })), flags: p.flags, reserved: [] };
}
