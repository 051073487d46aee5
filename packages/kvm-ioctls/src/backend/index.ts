export * from './kvm-hypervisor.js';
export { KvmVcpu } from './kvm-vcpu.js';
export { KvmVm, type KvmVmDescription, openKvmVm } from './kvm-vm.js';
