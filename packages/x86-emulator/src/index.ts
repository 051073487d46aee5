/** @packageDocumentation A pure-TypeScript x86-64 machine implementing the ts-vmm backend-neutral vCPU interface. */
export {};
