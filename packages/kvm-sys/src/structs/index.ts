// Byte-exact x86-64 layouts of the KVM ABI structs.
export * from './cpuid-msr.js';
export * from './flex.js';
export * from './irq.js';
export * from './layout.js';
export * from './regs.js';
export * from './run.js';
export * from './vcpu-state.js';
export * from './vm.js';
