/**
 * The backend-neutral hypervisor interfaces (`Hypervisor`, `Vm`, `Vcpu`, `VcpuExit`), the capability
 * flags a VMM wires by, and the plain state shapes (in the form of KVM's structures) that both the
 * KVM backend (`@ts-vmm/kvm-ioctls`) and the emulator (`@ts-vmm/x86-emulator`) read and write;
 * backend-neutral capture and restore of vCPU and VM state (`captureVcpuState`, `restoreVmState`,
 * ...) with the CPU-feature check a restore makes. Plain TypeScript: no native code, no Node-only module.
 *
 * @packageDocumentation
 */
export { CPUID_FEATURE_WORDS, intersectCpuid, missingCpuFeatures } from './cpu-features.js';
export { HypervisorError, type HypervisorErrorKind } from './errors.js';
export { GPR_NAMES, zeroRegs } from './regs.js';
export {
  type CaptureOptions,
  captureVcpuState,
  captureVmState,
  checkCpuCompatibility,
  restoreVcpuState,
  restoreVmState,
  SNAPSHOT_MSRS,
  type VcpuState,
  type VmState,
} from './snapshot.js';
export * from './types.js';
export {
  fpuFromXsave,
  XSAVE_HEADER_OFFSET,
  XSAVE_MIN_SIZE,
  XSTATE_SSE,
  XSTATE_X87,
  xsaveFromFpu,
  xstateBv,
} from './xsave.js';
