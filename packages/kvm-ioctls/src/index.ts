/** @packageDocumentation Safe wrappers over KVM (Kvm, VmFd, VcpuFd, VcpuExit) and the backend-neutral Hypervisor/Vm/Vcpu interfaces. */
export {};
