/**
 * Test guests and helpers shared by the backends (`@ts-vmm/kvm-ioctls/testing`), and the shared
 * guest suite {@link defineGuestSuite} (needs vitest, an optional peer dependency; the main entry does not).
 *
 * @packageDocumentation
 */
export * from './guest-suite.js';
export * from './guests.js';
export * from './kvm-backend.js';
export * from './programs.js';
export * from './watchdog.js';
