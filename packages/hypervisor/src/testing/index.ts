/**
 * Test guests shared by the backends (`@ts-vmm/hypervisor/testing`): small real-, protected- and
 * long-mode programs, the shared guest suite {@link defineGuestSuite} (needs vitest, an optional
 * peer dependency; the main entry does not) and a vCPU watchdog thread (Node only).
 *
 * @packageDocumentation
 */
export * from './browser-context.js';
export * from './guest-suite.js';
export * from './guests.js';
export * from './programs.js';
export * from './readme-examples.js';
export * from './watchdog.js';
