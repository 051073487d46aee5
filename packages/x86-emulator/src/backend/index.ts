/**
 * The emulated backend: {@link EmulatedHypervisor}, {@link EmulatedVm}, {@link EmulatedVcpu}, which
 * implement the @ts-vmm/hypervisor backend-neutral interfaces on the pure-TypeScript CPU.
 *
 * @module
 */
export * from './hypervisor.js';
export * from './kicker.js';
export * from './options.js';
export * from './supported-cpuid.js';
export * from './translate.js';
export * from './vcpu.js';
export * from './vm.js';
