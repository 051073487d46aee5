/**
 * The backend-neutral hypervisor interfaces (`Hypervisor`, `Vm`, `Vcpu`, `VcpuExit`), the capability
 * flags a VMM wires by, and the plain state shapes (in the form of KVM's structures) that both the
 * KVM backend (`@ts-vmm/kvm-ioctls`) and the emulator (`@ts-vmm/x86-emulator`) read and write.
 * Plain TypeScript: no native code, no Node-only module.
 *
 * @packageDocumentation
 */
export { GPR_NAMES, zeroRegs } from './regs.js';
export * from './types.js';
