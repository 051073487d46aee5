export * from './address-map.js';
export {
  type BackendSelection,
  backendAvailable,
  chooseBackend,
  loadBackend,
  probeCpl0Speed,
  SLOW_CPL0_RATIO,
  type SpeedProbe,
} from './backend.js';
export { ENTRY_LAYOUT, type LinuxBoot, type LinuxBootSpec, prepareLinuxBoot } from './boot-linux.js';
export { ConsoleEscape } from './console-escape.js';
export { type CpuidOptions, vcpuCpuid } from './cpuid.js';
export { DEMO_GREETING, demoGuest, probeLoop } from './demo-guest.js';
export { VmmError, type VmmErrorKind } from './errors.js';
export { EXIT_DATA_MAX, ExitChannel, ExitKind, type ExitRequest } from './exit-channel.js';
export { EXIT_CODES, type RunResult, type StopReason, stopResult } from './exit-codes.js';
export { createGuestMemory, EMULATOR_WASM_GROW_ROOM, type VmmMemory } from './guest-memory.js';
export { Machine, type MachineHooks, type MachineOptions, type WiredVirtio } from './machine.js';
export { handleExit, runVcpu, type VcpuLoopHooks, type VcpuStats } from './vcpu-loop.js';
export { applyVcpuPlan, type VcpuPlan } from './vcpu-plan.js';
export {
  buildCmdline,
  type ConsoleInput,
  type RawPayload,
  type RestoreOverrides,
  type SnapshotInfo,
  type SnapshotOptions,
  Vmm,
  type VmmOptions,
} from './vmm.js';
