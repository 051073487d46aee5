/**
 * Backend-neutral capture and restore of a vCPU's and a VM's state, the foundation of snapshots:
 * {@link captureVcpuState} / {@link restoreVcpuState} and {@link captureVmState} /
 * {@link restoreVmState}. The states are plain objects of the shapes in `state.ts` (KVM's
 * structures), so one captured on the emulator restores on KVM and the other way round, where the
 * target offers the CPU features the guest was given ({@link missingCpuFeatures}).
 *
 * Restore into a fresh VM in this order: create the irqchip and PIT, {@link restoreVmState} (the
 * clock first, so timers and TSCs restart from it), create the vCPUs, {@link restoreVcpuState}
 * for each, copy guest memory (before or after; the vCPU state does not read it, except kvm-clock
 * records that the emulator rewrites on restore).
 *
 * @module
 */
import { missingCpuFeatures } from './cpu-features.js';
import { HypervisorError } from './errors.js';
import type {
  ClockData,
  CpuidEntry,
  DebugRegs,
  Fpu,
  IrqchipState,
  MsrEntry,
  PitState,
  Regs,
  Sregs,
  VcpuEvents,
  Xcr,
} from './state.js';
import type { Hypervisor, Vcpu, Vm } from './types.js';

/**
 * The MSRs a snapshot saves (those of them the hypervisor's `supportedMsrs()` lists), in the order
 * they are restored: IA32_TSC before IA32_TSC_DEADLINE (a deadline is a TSC value), the LAPIC's
 * TSC deadline after the LAPIC page (its timer mode decides whether the deadline is armed).
 *
 * TSC (0x10), TSC_ADJUST (0x3b), APIC_BASE (0x1b), SYSENTER_CS/ESP/EIP (0x174-0x176),
 * MISC_ENABLE (0x1a0), PAT (0x277), MTRRdefType (0x2ff), the variable (0x200-0x20f) and fixed
 * MTRRs, EFER, STAR, LSTAR, CSTAR, FMASK, FS/GS/KERNEL_GS base, TSC_AUX, kvm-clock (0x11, 0x12,
 * 0x4b564d00, 0x4b564d01), KVM async PF (0x4b564d02), steal time (0x4b564d03), PV EOI
 * (0x4b564d04), poll control (0x4b564d05), then TSC_DEADLINE (0x6e0).
 */
export const SNAPSHOT_MSRS: readonly number[] = [
  0x10, // IA32_TSC
  0x3b, // IA32_TSC_ADJUST
  0x1b, // IA32_APIC_BASE
  0x174, // IA32_SYSENTER_CS
  0x175, // IA32_SYSENTER_ESP
  0x176, // IA32_SYSENTER_EIP
  0x1a0, // IA32_MISC_ENABLE
  0x277, // IA32_PAT
  0x2ff, // IA32_MTRR_DEF_TYPE
  ...Array.from({ length: 16 }, (_, i) => 0x200 + i), // IA32_MTRR_PHYSBASE/PHYSMASK 0-7
  0x250, // IA32_MTRR_FIX64K_00000
  0x258, // IA32_MTRR_FIX16K_80000
  0x259, // IA32_MTRR_FIX16K_A0000
  ...Array.from({ length: 8 }, (_, i) => 0x268 + i), // IA32_MTRR_FIX4K_*
  0xc000_0080, // EFER
  0xc000_0081, // STAR
  0xc000_0082, // LSTAR
  0xc000_0083, // CSTAR
  0xc000_0084, // FMASK
  0xc000_0100, // FS_BASE
  0xc000_0101, // GS_BASE
  0xc000_0102, // KERNEL_GS_BASE
  0xc000_0103, // TSC_AUX
  0x11, // MSR_KVM_WALL_CLOCK
  0x12, // MSR_KVM_SYSTEM_TIME
  0x4b56_4d00, // MSR_KVM_WALL_CLOCK_NEW
  0x4b56_4d01, // MSR_KVM_SYSTEM_TIME_NEW
  0x4b56_4d02, // MSR_KVM_ASYNC_PF_EN
  0x4b56_4d03, // MSR_KVM_STEAL_TIME
  0x4b56_4d04, // MSR_KVM_PV_EOI_EN
  0x4b56_4d05, // MSR_KVM_POLL_CONTROL
  0x6e0, // IA32_TSC_DEADLINE (last)
];

/** Everything of one vCPU a snapshot holds, in KVM's shapes. */
export interface VcpuState {
  /** The vCPU id (`createVcpu(id)`). */
  id: number;
  /** The CPUID the guest was given (checked against the target's `supportedCpuid()` on restore). */
  cpuid: CpuidEntry[];
  regs: Regs;
  sregs: Sregs;
  fpu: Fpu;
  /** Standard-format XSAVE area ({@link Vcpu.getXsave}); restored after `fpu`, so it wins. */
  xsave: Uint8Array;
  xcrs: Xcr[];
  debugRegs: DebugRegs;
  /** The values of {@link SNAPSHOT_MSRS} the source hypervisor had, in restore order. */
  msrs: MsrEntry[];
  /** The LAPIC register page (VMs with an irqchip). */
  lapic?: Uint8Array;
  /** KVM_MP_STATE_*. */
  mpState: number;
  events: VcpuEvents;
}

/** The platform state of a VM a snapshot holds. */
export interface VmState {
  /** PIC pair and IOAPIC (VMs with an irqchip). */
  irqchip?: IrqchipState;
  /** The PIT (VMs with one). */
  pit?: PitState;
  /** kvm-clock time when captured. */
  clock: ClockData;
}

/** What {@link captureVcpuState} and {@link captureVmState} need to know about the VM. */
export interface CaptureOptions {
  /** The VM has an irqchip ({@link Vm.createIrqchip}): save the LAPIC, PIC and IOAPIC. */
  irqchip: boolean;
  /** The VM has a PIT ({@link Vm.createPit}). */
  pit?: boolean;
  /**
   * The CPUID the VMM gave the vCPU (default `vcpu.getCpuid()`). Pass it where the backend's
   * `getCpuid()` does not return what was set: a paravirtual KVM (PVM) reports the host's leaves.
   */
  cpuid?: readonly CpuidEntry[];
}

/**
 * Reads the MSRs of `indices` that `vcpu` can read (KVM's KVM_GET_MSRS stops at the first it
 * cannot, the emulator throws for it: either way that one is left out and the rest read).
 */
function readMsrs(vcpu: Vcpu, indices: readonly number[]): MsrEntry[] {
  const out: MsrEntry[] = [];
  let rest = [...indices];
  while (rest.length > 0) {
    let got: MsrEntry[];
    try {
      got = vcpu.getMsrs(rest);
    } catch {
      // one by one, to find the one refused
      got = [];
      for (const index of rest) {
        try {
          got.push(...vcpu.getMsrs([index]));
        } catch {
          break;
        }
      }
    }
    out.push(...got);
    rest = rest.slice(got.length + 1); // skip the one that failed
  }
  return out;
}

/**
 * Captures the state of a stopped vCPU (between two `run()` calls): registers, FPU and XSAVE,
 * XCRs, debug registers, the MSRs of {@link SNAPSHOT_MSRS} that `hypervisor` supports, CPUID,
 * the LAPIC page, MP state and pending events. Every array is a copy.
 *
 * @example
 * ```ts
 * const saved = captureVcpuState(hv, vcpu, { irqchip: true });
 * ```
 */
export function captureVcpuState(hypervisor: Hypervisor, vcpu: Vcpu, options: CaptureOptions): VcpuState {
  const supported = new Set(hypervisor.supportedMsrs());
  const indices = SNAPSHOT_MSRS.filter((i) => supported.has(i));
  return {
    id: vcpu.id,
    cpuid: (options.cpuid ?? vcpu.getCpuid()).map((e) => ({ ...e })),
    regs: { ...vcpu.getRegs() },
    sregs: vcpu.getSregs(),
    fpu: vcpu.getFpu(),
    xsave: vcpu.getXsave().slice(),
    xcrs: vcpu.getXcrs().map((x) => ({ ...x })),
    debugRegs: vcpu.getDebugRegs(),
    msrs: readMsrs(vcpu, indices),
    lapic: options.irqchip ? vcpu.getLapic().slice() : undefined,
    mpState: vcpu.getMpState(),
    events: vcpu.getVcpuEvents(),
  };
}

/**
 * Throws an `incompatible-cpu` {@link HypervisorError} naming every feature the guest's CPUID
 * (`state.cpuid`) has that `hypervisor.supportedCpuid()` lacks.
 * @example checkCpuCompatibility(hv, saved); // throws "... missing AVX2 (CPUID.7.0:EBX bit 5)"
 */
export function checkCpuCompatibility(hypervisor: Hypervisor, state: Pick<VcpuState, 'cpuid' | 'id'>): void {
  const missing = missingCpuFeatures(state.cpuid, hypervisor.supportedCpuid());
  if (missing.length > 0) {
    throw new HypervisorError(
      'incompatible-cpu',
      'restoreVcpuState',
      `vCPU ${state.id} was given CPU features the ${hypervisor.kind} backend does not offer: ${missing.join(', ')}`,
      missing,
    );
  }
}

/**
 * Loads `state` into `vcpu` (a fresh vCPU of a VM set up as the source was: same irqchip, memory
 * and {@link restoreVmState} done first). Checks CPU compatibility first (see
 * {@link checkCpuCompatibility}); then CPUID, MP state, special and general registers, FPU, XSAVE,
 * XCRs, debug registers, LAPIC, MSRs (in {@link SNAPSHOT_MSRS} order, those `hypervisor` supports)
 * and events. A part the backend refuses throws that backend's error.
 *
 * @example
 * ```ts
 * restoreVcpuState(hv, vm.createVcpu(savedState.id), saved);
 * ```
 */
export function restoreVcpuState(hypervisor: Hypervisor, vcpu: Vcpu, state: VcpuState): void {
  if (state.id !== vcpu.id)
    throw new HypervisorError(
      'invalid-state',
      'restoreVcpuState',
      `the state is of vCPU ${state.id}, not of vCPU ${vcpu.id}`,
    );
  checkCpuCompatibility(hypervisor, state);
  vcpu.setCpuid(state.cpuid.map((e) => ({ ...e })));
  vcpu.setMpState(state.mpState);
  // special registers first: the emulator reads RIP in the mode CS and EFER give
  vcpu.setSregs(state.sregs);
  vcpu.setRegs(state.regs);
  vcpu.setFpu(state.fpu);
  vcpu.setXsave(state.xsave);
  vcpu.setXcrs(state.xcrs.map((x) => ({ ...x })));
  vcpu.setDebugRegs(state.debugRegs);
  if (state.lapic) vcpu.setLapic(state.lapic.slice());
  const supported = new Set(hypervisor.supportedMsrs());
  const order = new Map(SNAPSHOT_MSRS.map((m, i) => [m, i]));
  const msrs = state.msrs
    .filter((m) => supported.has(m.index))
    .sort((a, b) => (order.get(a.index) ?? 0) - (order.get(b.index) ?? 0));
  if (msrs.length > 0) vcpu.setMsrs(msrs);
  vcpu.setVcpuEvents(state.events);
}

/**
 * Captures the VM's platform state: PIC pair and IOAPIC (with `irqchip`), PIT (with `pit`) and
 * the clock.
 * @example const vmState = captureVmState(vm, { irqchip: true, pit: true });
 */
export function captureVmState(vm: Vm, options: CaptureOptions): VmState {
  return {
    irqchip: options.irqchip ? vm.getIrqchip() : undefined,
    pit: options.pit ? vm.getPit() : undefined,
    clock: vm.getClock(),
  };
}

/**
 * Loads `state` into a fresh `vm` (irqchip and PIT created as in the source, vCPUs not yet
 * restored): the clock (as it was: time did not pass while the state was saved), the interrupt
 * controllers, then the PIT.
 * @example restoreVmState(vm, savedState.vm);
 */
export function restoreVmState(vm: Vm, state: VmState): void {
  vm.setClock({ clock: state.clock.clock, flags: 0 });
  if (state.irqchip) vm.setIrqchip(state.irqchip);
  if (state.pit) vm.setPit(state.pit);
}
