/** @packageDocumentation The reference microVM monitor and its `ts-vmm` CLI. */
export {};
