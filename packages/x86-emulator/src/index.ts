/**
 * A pure-TypeScript x86-64 machine for ts-vmm. What a VMM builder uses:
 *
 * - the emulated backend, {@link EmulatedHypervisor} (or {@link openEmulator}), which implements
 *   `@ts-vmm/hypervisor`'s `Hypervisor`/`Vm`/`Vcpu` interfaces, with its options and the
 *   cross-thread vCPU kicker ({@link openEmulatedKicker});
 * - the CPU itself for direct use, {@link Cpu} (real, protected, compatibility and long mode, paging,
 *   exceptions and interrupts, x87/SSE/SSE2, block compilers to WebAssembly and JavaScript), with its
 *   CPUID table and MSR hooks;
 * - the platform chips KVM keeps in the kernel: {@link VirtualClock}, {@link Lapic},
 *   {@link ApicBus}, {@link Ioapic}, {@link PicPair}, {@link Pit}, kvm-clock records, and
 *   {@link EmulatedIrqchip}, which composes them;
 * - {@link X86EmulatorError}, the one error class.
 *
 * The entry imports no `node:` module and uses no Node global, so it bundles for a browser.
 * Fixtures for tests and benchmarks (the flat long-mode image) are in `@ts-vmm/x86-emulator/testing`.
 *
 * @packageDocumentation
 */

// the emulated backend
export { EmulatedHypervisor, openEmulator } from './backend/hypervisor.js';
export { type EmulatedKickerDescription, openEmulatedKicker } from './backend/kicker.js';
export type { EmulatedBackendOptions } from './backend/options.js';
export { EmulatedVcpu } from './backend/vcpu.js';
export { EmulatedVm } from './backend/vm.js';

// the CPU, its CPUID table and MSR hooks
export { CR0, CR4, EFER, RFLAGS, VEC } from './constants.js';
export { Cpu, type CpuExit, type CpuOptions } from './cpu.js';
export { defaultCpuid, lookupCpuid } from './cpuid.js';
// errors
export { X86EmulatorError, type X86EmulatorErrorKind } from './errors.js';
export { GuestFault } from './fault.js';
export { MSR, type MsrFile, type MsrHandler, type MsrWriteHook } from './msr.js';
// the platform chips and the clock
export { ApicBus, type ApicMessage } from './platform/apic-bus.js';
export {
  ApicBaseBits,
  ApicEsrBit,
  ApicMpState,
  ApicMsr,
  DeliveryMode,
  IOAPIC_DEFAULT_BASE,
  IOAPIC_NUM_PINS,
  IOAPIC_VERSION,
  LAPIC_DEFAULT_BASE,
  LAPIC_MMIO_SIZE,
  LAPIC_REGISTER_PAGE_SIZE,
  LapicReg,
  LVT_MASKED,
  Shorthand,
  TimerMode,
} from './platform/apic-constants.js';
export type { MmioDevice, PortIoDevice } from './platform/io-device.js';
export { Ioapic, IoapicMmio } from './platform/ioapic.js';
export { EmulatedIrqchip, type EmulatedIrqchipOptions } from './platform/irqchip.js';
export { type ApicEventResult, Lapic, type LapicOptions } from './platform/lapic.js';
export { decodeMsi, encodeMsi, type MsiDecodeOptions } from './platform/msi.js';
export { PicPair, PicPorts } from './platform/pic.js';
export { PIT_HZ, Pit, type PitOptions, PitPorts } from './platform/pit.js';
export {
  encodePvclockTimeInfo,
  encodePvclockWallClock,
  PVCLOCK_TIME_INFO_SIZE,
  PVCLOCK_TSC_STABLE_BIT,
  PVCLOCK_WALL_CLOCK_SIZE,
  PvclockMsr,
  type PvclockTimeInfo,
  pvclockRead,
  pvclockScale,
  pvclockTimeInfo,
} from './platform/pvclock.js';
export {
  type ClockMode,
  ClockTimer,
  type FrequencyCpuid,
  MIN_PERIODIC_TIMER_NS,
  VirtualClock,
  type VirtualClockOptions,
} from './platform/virtual-clock.js';
export { hostRandom, type RandomSource, seededRandom } from './random.js';
