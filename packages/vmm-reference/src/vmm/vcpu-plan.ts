/**
 * What one vCPU needs before its first `run()`: CPUID, MSRs, LAPIC wiring, and (boot vCPU only)
 * the entry state. Built on the main thread, applied on the vCPU's own thread.
 *
 * @module
 */
import type { CpuidEntry, MsrEntry, Vcpu, VcpuState } from '@ts-vmm/hypervisor';
import { MpState } from '@ts-vmm/hypervisor';
import {
  bootFpu,
  bootRegs,
  bootSregs,
  type EntryLayout,
  type EntryMode,
  wireLapicLints,
} from '@ts-vmm/linux-loader';
import { ENTRY_LAYOUT } from './boot-linux.js';
import { VmmError } from './errors.js';

/** A structured-clonable vCPU setup. */
export interface VcpuPlan {
  id: number;
  cpuid: CpuidEntry[];
  msrs: MsrEntry[];
  irqchip: boolean;
  /** Entry state for the boot vCPU; APs wait for INIT/SIPI. */
  entry?: EntryMode;
  /** Where the entry's GDT, IDT, page tables and stack are (default {@link ENTRY_LAYOUT}). */
  layout?: EntryLayout;
  /** A saved state to load instead (a snapshot restore: `restoreVcpuState` replaces the rest). */
  restore?: VcpuState;
}

/**
 * Applies a plan to a freshly created vCPU.
 * @example applyVcpuPlan(vm.createVcpu(0), plan)
 */
export function applyVcpuPlan(vcpu: Vcpu, plan: VcpuPlan): void {
  const step = (what: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      throw new VmmError('vcpu', `vCPU ${plan.id}: ${what} failed: ${(e as Error).message}`, { cause: e });
    }
  };
  step('setting CPUID', () => vcpu.setCpuid(plan.cpuid));
  if (plan.msrs.length) step('setting MSRs', () => vcpu.setMsrs(plan.msrs));
  if (plan.irqchip) step('wiring LAPIC LINT0/LINT1', () => vcpu.setLapic(wireLapicLints(vcpu.getLapic())));
  if (plan.entry) {
    const entry = plan.entry;
    const layout = plan.layout ?? ENTRY_LAYOUT;
    step('setting FPU state', () => vcpu.setFpu(bootFpu(vcpu.getFpu())));
    step('setting special registers', () => vcpu.setSregs(bootSregs(vcpu.getSregs(), entry, layout)));
    step('setting registers', () => vcpu.setRegs(bootRegs(entry, layout)));
  } else if (plan.irqchip) {
    step('parking the AP in wait-for-SIPI', () => vcpu.setMpState(MpState.UNINITIALIZED));
  }
}
