/**
 * Test guests and helpers shared by the backends (`@ts-vmm/kvm-ioctls/testing`).
 *
 * @packageDocumentation
 */
export * from './guests.js';
export * from './kvm-backend.js';
export * from './programs.js';
export * from './watchdog.js';
