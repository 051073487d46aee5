/**
 * Safe KVM wrappers (`Kvm`, `VmFd`, `VcpuFd`) and the backend-neutral `Hypervisor`/`Vm`/`Vcpu`
 * interfaces.
 *
 * @packageDocumentation
 */
export * from './backend/index.js';
