/**
 * Emulated platform chips: the clock, local APICs, IOAPIC, PIC and PIT that KVM provides in-kernel.
 *
 * @module
 */
export * from './apic-bus.js';
export * from './apic-constants.js';
export * from './io-device.js';
export * from './ioapic.js';
export * from './irqchip.js';
export * from './lapic.js';
export * from './msi.js';
export * from './pic.js';
export * from './pit.js';
export * from './pvclock.js';
export * from './virtual-clock.js';
