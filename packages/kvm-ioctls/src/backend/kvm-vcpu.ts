/**
 * `KvmVcpu`: the KVM backend of the neutral {@link Vcpu} interface.
 *
 * @module
 */

import type {
  CpuidEntry,
  DebugRegs,
  Fpu,
  GuestDebug,
  MsrEntry,
  Regs,
  Sregs,
  Translation,
  Vcpu,
  VcpuEvents,
  VcpuExit,
  Xcr,
} from '@ts-vmm/hypervisor';
import {
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
  KvmXsave,
} from '@ts-vmm/kvm-sys';
import { KvmError } from '../errors.js';
import type { KvmKickerDescription, VcpuFd } from '../vcpu-fd.js';
import { debugRegsFromKvm, debugRegsToKvm, vcpuEventsFromKvm, vcpuEventsToKvm } from './state.js';

/**
 * A KVM vCPU behind the backend-neutral {@link Vcpu} interface. `raw` gives the full {@link VcpuFd}
 * (vCPU events, XSAVE, debug registers, ...).
 *
 * @example
 * ```ts
 * const vcpu = vm.createVcpu(0);
 * vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n });
 * const exit = vcpu.run();
 * ```
 */
export class KvmVcpu implements Vcpu {
  readonly id: number;
  /** The underlying KVM vCPU fd wrapper. */
  readonly raw: VcpuFd;
  /** Runs the guest until it needs the VMM (see {@link VcpuFd.run}). */
  readonly run: () => VcpuExit;

  constructor(raw: VcpuFd) {
    this.raw = raw;
    this.id = raw.id;
    this.run = raw.run.bind(raw);
  }

  /** See {@link Vcpu.getRegs}. @example vcpu.getRegs() */
  getRegs(): Regs {
    return this.raw.getRegs();
  }
  /** See {@link Vcpu.setRegs}. @example vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n }) */
  setRegs(regs: Regs): void {
    this.raw.setRegs(regs);
  }
  /** See {@link Vcpu.getSregs}. @example vcpu.getSregs() */
  getSregs(): Sregs {
    return this.raw.getSregs();
  }
  /** See {@link Vcpu.setSregs}. @example vcpu.setSregs({ ...vcpu.getSregs(), efer: 0x500n }) */
  setSregs(sregs: Sregs): void {
    this.raw.setSregs(sregs);
  }
  /** See {@link Vcpu.getFpu}. @example vcpu.getFpu() */
  getFpu(): Fpu {
    return this.raw.getFpu();
  }
  /** See {@link Vcpu.setFpu}. @example vcpu.setFpu({ ...vcpu.getFpu(), mxcsr: 0x1f80 }) */
  setFpu(fpu: Fpu): void {
    this.raw.setFpu(fpu);
  }
  /** See {@link Vcpu.getMsrs}. @example vcpu.getMsrs([0xc000_0080]) // [{ index: EFER, data }] */
  getMsrs(indices: number[]): MsrEntry[] {
    return this.raw.getMsrs(indices);
  }
  /** See {@link Vcpu.setMsrs}. @example vcpu.setMsrs([{ index: 0x10, data: 0n }]) // IA32_TSC */
  setMsrs(entries: MsrEntry[]): void {
    this.raw.setMsrs(entries);
  }
  /** See {@link Vcpu.setCpuid}. @example vcpu.setCpuid(vm.hypervisor.supportedCpuid()) */
  setCpuid(entries: CpuidEntry[]): void {
    this.raw.setCpuid2(entries);
  }
  /** See {@link Vcpu.getCpuid}. @example vcpu.getCpuid() */
  getCpuid(): CpuidEntry[] {
    return this.raw.getCpuid2();
  }
  /** See {@link Vcpu.getLapic}. @example vcpu.getLapic() */
  getLapic(): Uint8Array {
    return this.raw.getLapic();
  }
  /** See {@link Vcpu.setLapic}. @example vcpu.setLapic(vcpu.getLapic()) */
  setLapic(regs: Uint8Array): void {
    this.raw.setLapic(regs);
  }
  /** See {@link Vcpu.getMpState}. @example vcpu.getMpState() */
  getMpState(): number {
    return this.raw.getMpState();
  }
  /**
   * See {@link Vcpu.setMpState}.
   * @example
   * import { MpState } from '@ts-vmm/hypervisor';
   * vcpu.setMpState(MpState.RUNNABLE);
   */
  setMpState(state: number): void {
    this.raw.setMpState(state);
  }

  /** See {@link Vcpu.getVcpuEvents} (`KVM_GET_VCPU_EVENTS`). @example vcpu.getVcpuEvents().nmi.masked */
  getVcpuEvents(): VcpuEvents {
    return vcpuEventsFromKvm(this.raw.getVcpuEvents());
  }
  /** See {@link Vcpu.setVcpuEvents} (`KVM_SET_VCPU_EVENTS`). @example vcpu.setVcpuEvents(savedState.events) */
  setVcpuEvents(events: VcpuEvents): void {
    this.raw.setVcpuEvents(vcpuEventsToKvm(events));
  }
  /** See {@link Vcpu.getDebugRegs} (`KVM_GET_DEBUGREGS`). @example vcpu.getDebugRegs().dr6 */
  getDebugRegs(): DebugRegs {
    return debugRegsFromKvm(this.raw.getDebugRegs());
  }
  /** See {@link Vcpu.setDebugRegs} (`KVM_SET_DEBUGREGS`). @example vcpu.setDebugRegs(savedState.debugRegs) */
  setDebugRegs(regs: DebugRegs): void {
    this.raw.setDebugRegs(debugRegsToKvm(regs));
  }
  /** See {@link Vcpu.getXcrs} (`KVM_GET_XCRS`). @example vcpu.getXcrs()[0].value // XCR0 */
  getXcrs(): Xcr[] {
    return this.raw.getXcrs();
  }
  /** See {@link Vcpu.setXcrs} (`KVM_SET_XCRS`). @example vcpu.setXcrs([{ xcr: 0, value: 1n }]) */
  setXcrs(xcrs: Xcr[]): void {
    this.raw.setXcrs(xcrs);
  }
  /** See {@link Vcpu.getXsave}: KVM's 4 KiB `KVM_GET_XSAVE` area. @example vcpu.getXsave().length // 4096 */
  getXsave(): Uint8Array {
    return this.raw.getXsave();
  }
  /**
   * See {@link Vcpu.setXsave}: a shorter area (the emulator's 576 bytes) is zero-padded to KVM's
   * 4 KiB, its missing components then being in their initial state.
   * @example vcpu.setXsave(savedState.xsave)
   */
  setXsave(area: Uint8Array): void {
    if (area.length > KvmXsave.size)
      throw KvmError.invalid(
        'KVM_SET_XSAVE',
        `area is ${area.length} bytes, this build sets at most ${KvmXsave.size} (no KVM_SET_XSAVE2)`,
      );
    const full = new Uint8Array(KvmXsave.size);
    full.set(area);
    this.raw.setXsave(full);
  }

  /**
   * Single-step and up to four execute breakpoints through `KVM_SET_GUEST_DEBUG`. A hit breakpoint
   * fires again on resume: step over it with the breakpoint removed (`{ enable: true, singleStep:
   * true }`), then set the breakpoints again.
   * @example vcpu.setGuestDebug({ enable: true, singleStep: true })
   */
  setGuestDebug(debug: GuestDebug): void {
    if (!debug.enable) {
      this.raw.setGuestDebug(0);
      return;
    }
    let control = KVM_GUESTDBG_ENABLE;
    if (debug.singleStep) control |= KVM_GUESTDBG_SINGLESTEP;
    const bps = debug.hwBreakpoints ?? [];
    if (bps.length > 4) throw new RangeError(`at most 4 hardware breakpoints, got ${bps.length}`);
    let dr7 = 0n;
    bps.forEach((_, i) => {
      dr7 |= 1n << BigInt(i * 2); // local enable, R/W=00 (execute), LEN=00
    });
    if (bps.length > 0) control |= KVM_GUESTDBG_USE_HW_BP;
    this.raw.setGuestDebug(control, {
      dr0: bps[0],
      dr1: bps[1],
      dr2: bps[2],
      dr3: bps[3],
      dr7: dr7 | (bps.length ? 0x400n : 0n),
    });
  }

  /** See {@link Vcpu.translate}. @example vcpu.translate(0xffff_8000_0000_1000n).physicalAddress */
  translate(linearAddress: bigint): Translation {
    return this.raw.translate(linearAddress);
  }
  /** See {@link Vcpu.interrupt}. @example vcpu.interrupt(0x20) */
  interrupt(vector: number): void {
    this.raw.interrupt(vector);
  }
  /** See {@link Vcpu.nmi}. @example vcpu.nmi() */
  nmi(): void {
    this.raw.nmi();
  }
  /** See {@link Vcpu.setImmediateExit}. @example vcpu.setImmediateExit(true) */
  setImmediateExit(on: boolean): void {
    this.raw.setImmediateExit(on);
  }

  /**
   * A structured-clonable {@link KvmKickerDescription}; open it with `hypervisor.openKicker()`.
   * @example worker.postMessage(vcpu.kicker())
   */
  kicker(): KvmKickerDescription {
    return this.raw.kickerDescription();
  }

  /** See {@link Vcpu.close}. @example vcpu.close() */
  close(): void {
    this.raw.close();
  }
}
