/**
 * Safe KVM wrappers (`Kvm`, `VmFd`, `VcpuFd`, `DeviceFd`), the `VcpuExit` union, typed `KvmError`s,
 * and the backend-neutral `Hypervisor`/`Vm`/`Vcpu` interfaces with their KVM backend.
 *
 * @packageDocumentation
 */
export * from './backend/index.js';
export { type DeviceAttr, DeviceFd } from './device-fd.js';
export { KvmError, type KvmErrorKind } from './errors.js';
export { FdHandle } from './fd-handle.js';
export { Kvm } from './kvm.js';
export * from './kvm-constants.js';
export {
  type DebugRegs,
  KvmKicker,
  type KvmKickerDescription,
  openKvmKicker,
  type VcpuEvents,
  VcpuFd,
} from './vcpu-fd.js';
export {
  type IoeventfdSpec,
  type IrqRoutingEntry,
  type MemoryRegion,
  VmFd,
} from './vm-fd.js';
