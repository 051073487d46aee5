import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { FileDiskBackend } from '../node/file-disk.js';
import { UnixSocketVsockBackend } from '../node/unix-socket-vsock.js';
import { NO_RING_FEATURES, SimulatedDriver } from '../testing/driver-sim.js';
import { Block } from './block.js';
import { Console } from './console.js';
import { VIRTIO_STATUS, VIRTQ_DESC_F } from './constants.js';
import type { VirtioDevice } from './device.js';
import { MemoryDiskBackend } from './disk.js';
import { VirtioMmioTransport } from './mmio.js';
import { Net } from './net.js';
import { MemoryNetBackend } from './net-backend.js';
import { Rng } from './rng.js';
import { Vsock } from './vsock.js';

// Every virtio device, fed random descriptor tables on every queue: the outcome must be a normal
// completion, a device-level error or DEVICE_NEEDS_RESET; never an exception out of the bus, and
// never a write outside the chain's device-writable buffers (or the used ring).

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-vmm-prop-'));
const disk = path.join(tmp, 'disk.img');
fs.writeFileSync(disk, new Uint8Array(64 * 512).fill(7));
const vsock = new Vsock({
  guestCid: 3,
  backend: new UnixSocketVsockBackend({ path: path.join(tmp, 'v.sock') }),
});
afterAll(async () => {
  await vsock.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const MEM = 0x8_0000;
const SLOT = 0x1000;
const SLOT_BASE = 0x4_0000;

const factories: [string, () => VirtioDevice][] = [
  ['block', () => new Block({ backend: FileDiskBackend.open(disk), mode: 'sync', queueSize: 16 })],
  [
    'block (memory)',
    () =>
      new Block({
        backend: new MemoryDiskBackend(new Uint8Array(64 * 512).fill(7)),
        queueSize: 16,
        mode: 'sync',
      }),
  ],
  ['net', () => new Net({ backend: new MemoryNetBackend(), queueSize: 16 })],
  ['console', () => new Console({ queueSize: 16 })],
  ['rng', () => new Rng({ queueSize: 16 })],
  ['vsock', () => vsock],
];

const descArb = fc.record({
  slot: fc.integer({ min: 0, max: 70 }), // slots past 63 are outside guest memory
  len: fc.oneof(fc.constantFrom(0, 1, 12, 16, 44, 64, 512, 4096), fc.integer({ min: 0, max: 0xffff_ffff })),
  flags: fc.integer({ min: 0, max: 7 }),
  next: fc.integer({ min: 0, max: 17 }),
});

describe('all virtio devices under malformed descriptor tables (property)', () => {
  for (const [name, make] of factories) {
    it(`${name}: no exception, no hang, no write outside writable buffers`, () => {
      fc.assert(
        fc.property(
          fc.array(descArb, { minLength: 16, maxLength: 16 }),
          fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 17 })), {
            maxLength: 8,
          }),
          fc.uint8Array({ minLength: 64, maxLength: 64 }),
          fc.boolean(),
          (descs, heads, fillBytes, ringFeatures) => {
            const dev = make();
            const mem = GuestMemory.createShared([{ start: 0, size: MEM }]);
            const t = new VirtioMmioTransport(dev, { mem });
            const bus = new Bus('mmio');
            bus.register(0xd000_0000, 0x1000, t);
            const drv = new SimulatedDriver(bus, 0xd000_0000, mem, 0x1000);
            drv.init({
              features: ringFeatures ? undefined : NO_RING_FEATURES,
              queueSizes: dev.queueMaxSizes.map(() => 16),
            });
            // slots hold the random bytes: headers for devices, garbage tables for indirect descriptors
            for (let s = 0; s < (MEM - SLOT_BASE) / SLOT; s++) {
              for (let o = 0; o < SLOT; o += 64) mem.writeBytes(SLOT_BASE + s * SLOT + o, fillBytes);
            }
            for (const q of drv.queues) {
              for (const [i, d] of descs.entries()) {
                drv.writeDesc(q.desc, i, SLOT_BASE + d.slot * SLOT, d.len, d.flags, d.next);
              }
            }
            const writable: [number, number][] = descs
              .filter((d) => d.flags & VIRTQ_DESC_F.WRITE)
              .map((d) => [SLOT_BASE + d.slot * SLOT, d.len]);
            const indirect = ringFeatures && descs.some((d) => d.flags & VIRTQ_DESC_F.INDIRECT);
            for (const [qi, head] of heads) if (qi < drv.queues.length) drv.publish(qi, head);
            const before = mem.readBytes(0, MEM);
            for (let qi = 0; qi < drv.queues.length; qi++) expect(() => drv.notify(qi)).not.toThrow();
            const after = mem.readBytes(0, MEM);
            const usedAreas = drv.queues.map((q) => [q.used, 6 + 8 * q.size] as const);
            for (let a = 0; a < MEM; a++) {
              if (after[a] === before[a]) continue;
              const ok =
                usedAreas.some(([s, l]) => a >= s && a < s + l) ||
                writable.some(([s, l]) => a >= s && a < s + l) ||
                (indirect && a >= SLOT_BASE);
              if (!ok) throw new Error(`${name} wrote 0x${a.toString(16)} outside any writable buffer`);
            }
            expect(drv.status & VIRTIO_STATUS.DRIVER_OK).toBe(VIRTIO_STATUS.DRIVER_OK);
            drv.w32(0x70, 0); // reset, so the shared vsock starts clean
          },
        ),
        { numRuns: 60 },
      );
    });
  }
});
