/**
 * The reference microVM monitor of ts-vmm: configuration, the default guest builder, the `Vmm`
 * class and the `ts-vmm` CLI.
 *
 * @packageDocumentation
 */

export { type CliDeps, type CliIo, runCli } from './cli/main.js';
export * from './config/index.js';
export * from './firecracker/index.js';
export * from './guest/index.js';
export * from './snapshot/index.js';
export * from './vmm/index.js';
