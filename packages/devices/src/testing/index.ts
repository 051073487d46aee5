/**
 * Test helpers for device models and VMM wiring, kept out of the package's root entry: a
 * {@link SimulatedDriver} that drives a virtio-mmio device as a guest kernel would, and a
 * {@link RecordingIrqLine} that counts interrupts. Portable (no Node modules), like the root entry.
 *
 * @example
 * ```ts
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 * import { Bus, Rng, VirtioMmioTransport } from '@ts-vmm/devices';
 * import { RecordingIrqLine, SimulatedDriver } from '@ts-vmm/devices/testing';
 *
 * const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
 * const irq = new RecordingIrqLine();
 * const bus = new Bus('mmio');
 * bus.register(0xd000_0000, 0x1000, new VirtioMmioTransport(new Rng(), { mem, irq }), 'virtio-rng');
 * const drv = new SimulatedDriver(bus, 0xd000_0000, mem, 0x1000);
 * drv.init();
 * const buf = drv.alloc(32);
 * drv.submit(0, [{ addr: buf, len: 32, write: true }]);
 * drv.takeUsed(0); // [{ id: 0, len: 32 }]
 * irq.triggers; // 1
 * ```
 *
 * @packageDocumentation
 */
export { NO_RING_FEATURES, type SimBuffer, type SimQueue, SimulatedDriver } from './driver-sim.js';
export { RecordingIrqLine } from './recording-irq.js';
