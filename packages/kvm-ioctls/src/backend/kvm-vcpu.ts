/**
 * `KvmVcpu`: the KVM backend of the neutral {@link Vcpu} interface.
 *
 * @module
 */
import { KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_SINGLESTEP, KVM_GUESTDBG_USE_HW_BP } from '../abi/ioctls.js';
import type { KvmKickerDescription, VcpuFd } from '../vcpu-fd.js';
import type {
  CpuidEntry,
  Fpu,
  GuestDebug,
  MsrEntry,
  Regs,
  Sregs,
  Translation,
  Vcpu,
  VcpuExit,
} from './types.js';

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

  getRegs(): Regs {
    return this.raw.getRegs();
  }
  setRegs(regs: Regs): void {
    this.raw.setRegs(regs);
  }
  getSregs(): Sregs {
    return this.raw.getSregs();
  }
  setSregs(sregs: Sregs): void {
    this.raw.setSregs(sregs);
  }
  getFpu(): Fpu {
    return this.raw.getFpu();
  }
  setFpu(fpu: Fpu): void {
    this.raw.setFpu(fpu);
  }
  getMsrs(indices: number[]): MsrEntry[] {
    return this.raw.getMsrs(indices);
  }
  setMsrs(entries: MsrEntry[]): void {
    this.raw.setMsrs(entries);
  }
  setCpuid(entries: CpuidEntry[]): void {
    this.raw.setCpuid2(entries);
  }
  getCpuid(): CpuidEntry[] {
    return this.raw.getCpuid2();
  }
  getLapic(): Uint8Array {
    return this.raw.getLapic();
  }
  setLapic(regs: Uint8Array): void {
    this.raw.setLapic(regs);
  }
  getMpState(): number {
    return this.raw.getMpState();
  }
  setMpState(state: number): void {
    this.raw.setMpState(state);
  }

  /** Single-step and up to four execute breakpoints through `KVM_SET_GUEST_DEBUG`. */
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

  translate(linearAddress: bigint): Translation {
    return this.raw.translate(linearAddress);
  }
  interrupt(vector: number): void {
    this.raw.interrupt(vector);
  }
  nmi(): void {
    this.raw.nmi();
  }
  setImmediateExit(on: boolean): void {
    this.raw.setImmediateExit(on);
  }

  /** A structured-clonable {@link KvmKickerDescription}; open it with `hypervisor.openKicker()`. */
  kicker(): KvmKickerDescription {
    return this.raw.kickerDescription();
  }

  close(): void {
    this.raw.close();
  }
}
