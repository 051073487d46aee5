/**
 * Emulated platform chips: the clock, local APICs, IOAPIC, PIC and PIT that KVM provides in-kernel.
 *
 * @module
 */
export * from './apic-bus.js';
export * from './apic-constants.js';
export * from './ioapic.js';
export * from './lapic.js';
export * from './msi.js';
export * from './pic.js';
export * from './virtual-clock.js';
export * from './pit.js';
