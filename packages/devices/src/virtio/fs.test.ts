import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { DeviceError } from '../errors.js';
import { MemoryFileSystem } from '../fuse/memory-fs.js';
import { ERRNO, FUSE_OP } from '../fuse/protocol.js';
import { Builder, request } from '../fuse/test-client.js';
import { SimulatedDriver } from '../testing/driver-sim.js';
import { RecordingIrqLine } from '../testing/recording-irq.js';
import { VIRTIO_STATUS, VIRTQ_DESC_F } from './constants.js';
import { VirtioFs } from './fs.js';
import { VirtioMmioTransport } from './mmio.js';

const BASE = 0xd000_0000;

function attach(dev: VirtioFs, size = 0x40_0000) {
  const mem = GuestMemory.createShared([{ start: 0, size }]);
  const irq = new RecordingIrqLine();
  const t = new VirtioMmioTransport(dev, { mem, irq });
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, t, 'virtio');
  const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
  drv.init({ queueSizes: dev.queueMaxSizes.map(() => 16) });
  return { mem, irq, t, bus, drv };
}

describe('VirtioFs (virtio-fs)', () => {
  it('is device 26 with the tag and one request queue in its config, and refuses bad tags', () => {
    const dev = new VirtioFs({ tag: 'share', fileSystem: new MemoryFileSystem() });
    expect(dev.deviceType).toBe(26);
    expect(dev.queueMaxSizes.length).toBe(2);
    const cfg = new Uint8Array(40);
    dev.readConfig(0, cfg);
    expect(new TextDecoder().decode(cfg.subarray(0, 5))).toBe('share');
    expect(cfg.subarray(5, 36).every((b) => b === 0)).toBe(true);
    expect(new DataView(cfg.buffer).getUint32(36, true)).toBe(1);
    for (const tag of ['', 'x'.repeat(37), 'a\0b'])
      expect(() => new VirtioFs({ tag, fileSystem: new MemoryFileSystem() })).toThrow(DeviceError);
  });

  it('serves FUSE requests from the request queue, FORGET from hiprio without a reply', () => {
    const dev = new VirtioFs({ tag: 't', fileSystem: new MemoryFileSystem() });
    const { mem, drv } = attach(dev);
    const call = (q: number, req: Uint8Array, room: number) => {
      const a = drv.alloc(req.length);
      mem.writeBytes(a, req);
      const o = drv.alloc(room);
      drv.submit(q, [
        { addr: a, len: req.length },
        { addr: o, len: room, write: true },
      ]);
      const [u] = drv.takeUsed(q);
      return mem.readBytes(o, u.len);
    };
    const init = call(
      1,
      request(FUSE_OP.INIT, 0, new Builder().u32(7).u32(38).u32(0).u32(0).zeros(48).bytes()),
      80,
    );
    expect(init.length).toBe(80);
    expect(new DataView(init.buffer).getUint32(16, true)).toBe(7);
    const mk = call(1, request(FUSE_OP.MKDIR, 1, new Builder().u32(0o755).u32(0).str('d').bytes()), 144);
    expect(new DataView(mk.buffer).getInt32(4, true)).toBe(0);
    const bad = call(1, request(FUSE_OP.LOOKUP, 1, new Builder().str('..').bytes()), 144);
    expect(new DataView(bad.buffer).getInt32(4, true)).toBe(-ERRNO.EINVAL);
    expect(call(0, request(FUSE_OP.FORGET, 2, new Builder().u64(1).bytes()), 16).length).toBe(0);
    expect(dev.server.nodeCount).toBe(1);
  });

  it('sets DEVICE_NEEDS_RESET for a chain outside guest memory', () => {
    const dev = new VirtioFs({ tag: 't', fileSystem: new MemoryFileSystem() });
    const { drv } = attach(dev);
    drv.submit(1, [{ addr: 0x7fff_0000, len: 64 }]);
    expect(drv.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS.DEVICE_NEEDS_RESET);
  });

  it('no exception, no write outside writable buffers, for random chains of FUSE-like bytes (property)', () => {
    const MEM = 0x8_0000;
    const SLOT = 0x1000;
    const SLOT_BASE = 0x4_0000;
    const opcodes = Object.values(FUSE_OP);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            slot: fc.integer({ min: 0, max: 70 }),
            len: fc.oneof(
              fc.constantFrom(0, 16, 40, 48, 64, 144, 4096),
              fc.integer({ min: 0, max: 0xffff_ffff }),
            ),
            flags: fc.integer({ min: 0, max: 3 }),
            next: fc.integer({ min: 0, max: 17 }),
          }),
          { minLength: 16, maxLength: 16 },
        ),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 17 })), { maxLength: 8 }),
        fc.constantFrom(...opcodes),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.integer({ min: 0, max: 200 }),
        (descs, heads, opcode, tail, hdrLen) => {
          const dev = new VirtioFs({ tag: 't', fileSystem: new MemoryFileSystem(), queueSize: 16 });
          const mem = GuestMemory.createShared([{ start: 0, size: MEM }]);
          const t = new VirtioMmioTransport(dev, { mem });
          const bus = new Bus('mmio');
          bus.register(BASE, 0x1000, t);
          const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
          drv.init({ queueSizes: [16, 16] });
          const init = request(FUSE_OP.INIT, 0, new Builder().u32(7).u32(38).zeros(56).bytes());
          const a = drv.alloc(64);
          const o = drv.alloc(80);
          mem.writeBytes(a, init);
          drv.submit(1, [
            { addr: a, len: 64 },
            { addr: o, len: 80, write: true },
          ]);
          drv.takeUsed(1);
          const slotBytes = request(opcode, tail[0] % 4, tail);
          new DataView(slotBytes.buffer).setUint32(0, hdrLen, true);
          for (let s = 0; s < (MEM - SLOT_BASE) / SLOT; s++) mem.writeBytes(SLOT_BASE + s * SLOT, slotBytes);
          for (const q of drv.queues)
            for (const [i, d] of descs.entries())
              drv.writeDesc(q.desc, i, SLOT_BASE + d.slot * SLOT, d.len, d.flags, d.next);
          const writable = descs
            .filter((d) => d.flags & VIRTQ_DESC_F.WRITE)
            .map((d) => [SLOT_BASE + d.slot * SLOT, d.len]);
          for (const [qi, head] of heads) drv.publish(qi, head);
          const before = mem.readBytes(0, MEM);
          for (let qi = 0; qi < 2; qi++) expect(() => drv.notify(qi)).not.toThrow();
          const after = mem.readBytes(0, MEM);
          const usedAreas = drv.queues.map((q) => [q.used, 6 + 8 * q.size] as const);
          for (let x = 0; x < MEM; x++) {
            if (after[x] === before[x]) continue;
            const ok =
              usedAreas.some(([s, l]) => x >= s && x < s + l) ||
              writable.some(([s, l]) => x >= s && x < s + l);
            if (!ok) throw new Error(`virtio-fs wrote 0x${x.toString(16)} outside any writable buffer`);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
