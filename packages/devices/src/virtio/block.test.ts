import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { DeviceError } from '../errors.js';
import { FileDiskBackend } from '../node/file-disk.js';
import { NO_RING_FEATURES, SimulatedDriver } from '../testing/driver-sim.js';
import { RecordingIrqLine } from '../testing/recording-irq.js';
import { Block, type BlockOptions, SECTOR_SIZE, VIRTIO_BLK_F, VIRTIO_BLK_S, VIRTIO_BLK_T } from './block.js';
import { featureBit, VIRTIO_STATUS, VIRTQ_DESC_F } from './constants.js';
import { MemoryDiskBackend } from './disk.js';
import { VirtioMmioTransport } from './mmio.js';

const BASE = 0xd000_0000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-vmm-blk-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** Disk bytes whose sector s is filled with the byte s & 0xff. */
function pattern(sectors: number): Uint8Array {
  const buf = new Uint8Array(sectors * SECTOR_SIZE);
  for (let s = 0; s < sectors; s++) buf.fill(s & 0xff, s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE);
  return buf;
}
function image(sectors: number): string {
  const p = path.join(tmp, `disk${n++}.img`);
  fs.writeFileSync(p, pattern(sectors));
  return p;
}

/** The two backends the device tests run over. */
type DiskKind = 'file' | 'memory';

/** A disk of `sectors` sectors (see {@link pattern}) and a way to read back what it holds. */
function makeDisk(kind: DiskKind, sectors: number, readOnly = false) {
  if (kind === 'memory') {
    const bytes = pattern(sectors);
    const backend = new MemoryDiskBackend(bytes, { readOnly });
    return { backend, contents: () => bytes.slice() };
  }
  const file = image(sectors);
  const backend = FileDiskBackend.open(file, { readOnly });
  return { backend, contents: () => new Uint8Array(fs.readFileSync(file)) };
}

type SetupOptions = Partial<Omit<BlockOptions, 'backend'>> & {
  sectors?: number;
  features?: bigint;
  kind?: DiskKind;
};

function setupWith(opts: SetupOptions = {}) {
  const { backend, contents } = makeDisk(opts.kind ?? 'file', opts.sectors ?? 64, opts.readOnly);
  const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
  const blk = new Block({ mode: 'sync', queueSize: 16, ...opts, backend });
  const irq = new RecordingIrqLine();
  const t = new VirtioMmioTransport(blk, { mem, irq });
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, t, 'virtio-blk');
  const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
  const features = drv.init({ features: opts.features });
  /** Builds a request: header, data buffers, status byte. */
  const request = (
    type: number,
    sector: number | bigint,
    data: { len: number; write?: boolean }[],
    indirect = false,
  ) => {
    const hdr = drv.alloc(16);
    mem.write32(hdr, type);
    mem.write64(hdr + 8, BigInt(sector));
    const bufs = data.map((d) => ({ addr: drv.alloc(d.len, 16), len: d.len, write: d.write }));
    const status = drv.alloc(1);
    mem.write8(status, 0xee);
    const head = drv.submit(0, [{ addr: hdr, len: 16 }, ...bufs, { addr: status, len: 1, write: true }], {
      indirect,
    });
    return { head, bufs, status: () => mem.read8(status) };
  };
  return { contents, backend, mem, blk, irq, t, drv, request, features };
}

for (const kind of ['file', 'memory'] as const)
  describe(`Block (virtio-blk) over a ${kind} disk`, () => {
    const setup = (opts: SetupOptions = {}) => setupWith({ kind, ...opts });

    it('advertises capacity, block size, seg_max and flush in its config', () => {
      const { t, blk, features } = setup({ sectors: 64 });
      expect(blk.capacity).toBe(64);
      const cfg = new Uint8Array(60);
      t.read(0x100, cfg.subarray(0, 8));
      expect(new DataView(cfg.buffer).getBigUint64(0, true)).toBe(64n);
      const d = new Uint8Array(4);
      t.read(0x100 + 20, d);
      expect(new DataView(d.buffer).getUint32(0, true)).toBe(512);
      expect(features & featureBit(VIRTIO_BLK_F.FLUSH)).not.toBe(0n);
      expect(features & featureBit(VIRTIO_BLK_F.RO)).toBe(0n);
    });

    it('reads sectors into guest memory, filling the used ring and raising an interrupt', () => {
      const { mem, drv, request, irq } = setup();
      const r = request(VIRTIO_BLK_T.IN, 3, [{ len: 1024, write: true }]);
      expect(r.status()).toBe(VIRTIO_BLK_S.OK);
      expect(mem.read8(r.bufs[0].addr)).toBe(3);
      expect(mem.read8(r.bufs[0].addr + 1023)).toBe(4);
      expect(drv.takeUsed(0)).toEqual([{ id: r.head, len: 1025 }]);
      expect(irq.triggers).toBe(1);
    });

    it('reads through an indirect table and scattered buffers', () => {
      const { mem, drv, request } = setup();
      const r = request(
        VIRTIO_BLK_T.IN,
        10,
        [
          { len: 512, write: true },
          { len: 1024, write: true },
        ],
        true,
      );
      expect(r.status()).toBe(VIRTIO_BLK_S.OK);
      expect(mem.read8(r.bufs[0].addr)).toBe(10);
      expect(mem.read8(r.bufs[1].addr)).toBe(11);
      expect(mem.read8(r.bufs[1].addr + 600)).toBe(12);
      expect(drv.takeUsed(0)[0].len).toBe(1537);
    });

    it('writes sectors to the disk and flushes', () => {
      const { mem, request, contents } = setup();
      const hdr = request(VIRTIO_BLK_T.OUT, 5, [{ len: 512 }], false);
      // the buffer was allocated zeroed; the device wrote those zeroes to sector 5
      expect(hdr.status()).toBe(VIRTIO_BLK_S.OK);
      const disk = contents();
      expect(disk[5 * 512]).toBe(0);
      expect(disk[6 * 512]).toBe(6);
      const r2 = request(VIRTIO_BLK_T.FLUSH, 0, []);
      expect(r2.status()).toBe(VIRTIO_BLK_S.OK);
      void mem;
    });

    it('writes guest data it was given', () => {
      const s = setup();
      const hdr = s.drv.alloc(16);
      s.mem.write32(hdr, VIRTIO_BLK_T.OUT);
      s.mem.write64(hdr + 8, 7n);
      const data = s.drv.alloc(512);
      s.mem.fill(data, 512, 0x5a);
      const st = s.drv.alloc(1);
      s.drv.submit(0, [
        { addr: hdr, len: 16 },
        { addr: data, len: 512 },
        { addr: st, len: 1, write: true },
      ]);
      expect(s.mem.read8(st)).toBe(0);
      expect(s.contents()[7 * 512 + 100]).toBe(0x5a);
    });

    it('takes its size, read-only flag and default id from the backend; refuses bad configuration', () => {
      const ro = makeDisk(kind, 8, true).backend;
      const blk = new Block({ backend: ro });
      expect(blk.capacity).toBe(8);
      expect(blk.readOnly).toBe(true);
      expect(blk.deviceFeatures & featureBit(VIRTIO_BLK_F.RO)).not.toBe(0n);
      blk.close();
      const bad = (o: BlockOptions) => {
        try {
          new Block(o);
        } catch (e) {
          return e;
        }
        return undefined;
      };
      expect(bad({ backend: makeDisk(kind, 8, true).backend, readOnly: false })).toMatchObject({
        kind: 'invalid-config',
        device: 'virtio-blk',
      });
      expect(bad({ backend: makeDisk(kind, 8).backend, mode: 'fast' as 'sync' })).toBeInstanceOf(DeviceError);
      const negative = Object.create(makeDisk(kind, 8).backend, { size: { value: -1 } });
      expect(String(bad({ backend: negative }))).toMatch(/backend size -1/);
      expect(String(bad({ backend: {} as BlockOptions['backend'] }))).toMatch(/not a DiskBackend/);
    });

    it('answers GET_ID with the backend name by default', () => {
      const { mem, request } = setup();
      const r = request(VIRTIO_BLK_T.GET_ID, 0, [{ len: 20, write: true }]);
      const name = kind === 'memory' ? 'memdisk' : /^disk\d+\.img$/;
      const got = new TextDecoder().decode(mem.readBytes(r.bufs[0].addr, 20)).replace(/\0+$/, '');
      if (typeof name === 'string') expect(got).toBe(name);
      else expect(got).toMatch(name);
    });

    it('answers GET_ID with at most 20 bytes', () => {
      const { mem, request } = setup({ id: 'my-disk' });
      const r = request(VIRTIO_BLK_T.GET_ID, 0, [{ len: 20, write: true }]);
      expect(r.status()).toBe(VIRTIO_BLK_S.OK);
      expect(new TextDecoder().decode(mem.readBytes(r.bufs[0].addr, 7))).toBe('my-disk');
      expect(mem.read8(r.bufs[0].addr + 7)).toBe(0);
      expect(() => new Block({ backend: makeDisk(kind, 8).backend, id: 'x'.repeat(21) })).toThrow(
        /at most 20/,
      );
    });

    it('fails out-of-range and misaligned requests with IOERR and unknown types with UNSUPP', () => {
      const { request, blk } = setup({ sectors: 8 });
      expect(request(VIRTIO_BLK_T.IN, 8, [{ len: 512, write: true }]).status()).toBe(VIRTIO_BLK_S.IOERR);
      expect(request(VIRTIO_BLK_T.IN, 7, [{ len: 1024, write: true }]).status()).toBe(VIRTIO_BLK_S.IOERR);
      expect(request(VIRTIO_BLK_T.IN, 2n ** 63n, [{ len: 512, write: true }]).status()).toBe(
        VIRTIO_BLK_S.IOERR,
      );
      expect(request(VIRTIO_BLK_T.IN, 0, [{ len: 100, write: true }]).status()).toBe(VIRTIO_BLK_S.IOERR);
      expect(request(99, 0, [{ len: 512, write: true }]).status()).toBe(VIRTIO_BLK_S.UNSUPP);
      expect(request(VIRTIO_BLK_T.IN, 7, [{ len: 512, write: true }]).status()).toBe(VIRTIO_BLK_S.OK);
      expect(blk.stats.errors).toBe(4);
      expect(blk.stats.unsupported).toBe(1);
    });

    it('refuses writes in read-only mode and offers VIRTIO_BLK_F_RO', () => {
      const { request, features, contents } = setup({ readOnly: true });
      expect(features & featureBit(VIRTIO_BLK_F.RO)).not.toBe(0n);
      expect(features & featureBit(VIRTIO_BLK_F.DISCARD)).toBe(0n);
      expect(request(VIRTIO_BLK_T.OUT, 0, [{ len: 512 }]).status()).toBe(VIRTIO_BLK_S.IOERR);
      expect(contents()[0]).toBe(0);
      expect(contents()[512]).toBe(1);
    });

    it('writes zeroes and accepts discards within bounds', () => {
      const s = setup({ sectors: 16 });
      const seg = (sector: number, count: number, flags = 0) => {
        const a = s.drv.alloc(16);
        s.mem.write64(a, BigInt(sector));
        s.mem.write32(a + 8, count);
        s.mem.write32(a + 12, flags);
        return a;
      };
      const send = (type: number, segAddr: number) => {
        const hdr = s.drv.alloc(16);
        s.mem.write32(hdr, type);
        const st = s.drv.alloc(1);
        s.drv.submit(0, [
          { addr: hdr, len: 16 },
          { addr: segAddr, len: 16 },
          { addr: st, len: 1, write: true },
        ]);
        return s.mem.read8(st);
      };
      expect(send(VIRTIO_BLK_T.WRITE_ZEROES, seg(2, 3))).toBe(VIRTIO_BLK_S.OK);
      const disk = s.contents();
      expect(disk[2 * 512]).toBe(0);
      expect(disk[4 * 512 + 511]).toBe(0);
      expect(disk[5 * 512]).toBe(5);
      expect(send(VIRTIO_BLK_T.DISCARD, seg(10, 6))).toBe(VIRTIO_BLK_S.OK);
      expect(send(VIRTIO_BLK_T.DISCARD, seg(10, 7))).toBe(VIRTIO_BLK_S.IOERR);
      expect(send(VIRTIO_BLK_T.DISCARD, seg(1, 1, 1))).toBe(VIRTIO_BLK_S.UNSUPP);
      expect(send(VIRTIO_BLK_T.WRITE_ZEROES, seg(1, 1, 2))).toBe(VIRTIO_BLK_S.UNSUPP);
    });

    it('returns a chain with no writable byte untouched (used length 0)', () => {
      const s = setup();
      const hdr = s.drv.alloc(16);
      const head = s.drv.submit(0, [{ addr: hdr, len: 16 }]);
      expect(s.drv.takeUsed(0)).toEqual([{ id: head, len: 0 }]);
    });

    it('coalesces interrupts with EVENT_IDX and interrupts on every batch without it', () => {
      const s = setup();
      s.drv.setUsedEvent(0, 5);
      for (let i = 0; i < 4; i++) s.request(VIRTIO_BLK_T.IN, i, [{ len: 512, write: true }]);
      expect(s.irq.triggers).toBe(1); // the first one, then quiet until used idx passes 5
      const p = setup({ features: NO_RING_FEATURES });
      for (let i = 0; i < 4; i++) p.request(VIRTIO_BLK_T.IN, i, [{ len: 512, write: true }]);
      expect(p.irq.triggers).toBe(4);
    });

    it('serves requests asynchronously off the notification path', async () => {
      const s = setup({ mode: 'async' });
      const reqs = [0, 1, 2, 3].map((i) => s.request(VIRTIO_BLK_T.IN, i * 2, [{ len: 1024, write: true }]));
      expect(s.blk.pendingRequests).toBe(4);
      expect(reqs[0].status()).toBe(0xee); // not done yet
      await s.blk.drain();
      for (let i = 0; i < 4; i++) {
        expect(reqs[i].status()).toBe(VIRTIO_BLK_S.OK);
        expect(s.mem.read8(reqs[i].bufs[0].addr + 512)).toBe(i * 2 + 1);
      }
      expect(
        s.drv
          .takeUsed(0)
          .map((u) => u.id)
          .sort(),
      ).toEqual(reqs.map((r) => r.head).sort());
      expect(s.irq.triggers).toBeGreaterThanOrEqual(1);
      // a write then a read of the same sector, async
      const w = s.request(VIRTIO_BLK_T.OUT, 9, [{ len: 512 }]);
      await s.blk.drain();
      expect(w.status()).toBe(VIRTIO_BLK_S.OK);
      expect(s.contents()[9 * 512]).toBe(0);
    });

    it('drops async completions that arrive after a reset', async () => {
      const s = setup({ mode: 'async' });
      const r = s.request(VIRTIO_BLK_T.IN, 1, [{ len: 512, write: true }]);
      s.drv.w32(0x70, 0); // reset
      await s.blk.drain();
      expect(r.status()).toBe(0xee);
      expect(s.mem.read16(s.drv.queues[0].used + 2)).toBe(0);
    });

    it('survives malformed descriptor tables: status, needs-reset, or nothing; writes only to writable buffers (property)', () => {
      const original = pattern(32);
      const file = image(32);
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              addrSlot: fc.integer({ min: 0, max: 40 }),
              len: fc.oneof(
                fc.constantFrom(0, 1, 16, 512, 1024, 4096),
                fc.integer({ min: 0, max: 0xffff_ffff }),
              ),
              flags: fc.integer({ min: 0, max: 7 }),
              next: fc.integer({ min: 0, max: 20 }),
            }),
            { minLength: 16, maxLength: 16 },
          ),
          fc.array(fc.integer({ min: 0, max: 18 }), { minLength: 1, maxLength: 6 }),
          fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
          fc.boolean(),
          (descs, heads, hdrBytes, useEventIdx) => {
            const mem = GuestMemory.createShared([{ start: 0, size: 0x4_0000 }]);
            if (kind === 'file') fs.writeFileSync(file, original);
            const backend =
              kind === 'file' ? FileDiskBackend.open(file) : new MemoryDiskBackend(original.slice());
            const blk = new Block({ backend, mode: 'sync', queueSize: 16, readOnly: false });
            const t = new VirtioMmioTransport(blk, { mem });
            const bus = new Bus('mmio');
            bus.register(BASE, 0x1000, t);
            const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
            drv.init({ features: useEventIdx ? undefined : NO_RING_FEATURES });
            const q = drv.queues[0];
            // buffers live in 4 KiB slots from 0x10000; slot 40 ends past memory for big lengths
            const slotAddr = (s: number) => 0x1_0000 + s * 0x1000;
            for (let s = 0; s < 40; s++) mem.writeBytes(slotAddr(s), Uint8Array.from(hdrBytes));
            // indirect descriptors point at slots, whose content (the random header bytes) makes garbage tables
            for (const [i, d] of descs.entries()) {
              drv.writeDesc(q.desc, i % 16, slotAddr(d.addrSlot), d.len, d.flags, d.next);
            }
            const writableRanges: [number, number][] = [];
            for (const d of descs) {
              if (d.flags & VIRTQ_DESC_F.WRITE) writableRanges.push([slotAddr(d.addrSlot), d.len]);
            }
            for (const h of heads) drv.publish(0, h);
            const before = mem.readBytes(0, 0x4_0000);
            expect(() => drv.notify(0)).not.toThrow();
            const after = mem.readBytes(0, 0x4_0000);
            const usedLo = q.used;
            const usedHi = q.used + 6 + 8 * q.size;
            for (let a = 0; a < after.length; a++) {
              if (after[a] === before[a]) continue;
              if (a >= usedLo && a < usedHi) continue;
              // indirect tables can name writable buffers anywhere in the slots
              const anyIndirect = descs.some((d) => d.flags & VIRTQ_DESC_F.INDIRECT);
              const inSlots = anyIndirect && a >= 0x1_0000;
              const inWritable = writableRanges.some(([s, l]) => a >= s && a < s + l);
              expect(inWritable || inSlots).toBe(true);
            }
            const status = drv.status;
            expect(status & VIRTIO_STATUS.DRIVER_OK).toBe(VIRTIO_STATUS.DRIVER_OK);
            blk.close();
          },
        ),
        { numRuns: 150 },
      );
    });
  });
