import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { FileDiskBackend } from '../node/file-disk.js';
import { NO_RING_FEATURES, SimulatedDriver } from '../testing/driver-sim.js';
import { RecordingIrqLine } from '../testing/recording-irq.js';
import { Block, type BlockOptions, SECTOR_SIZE, VIRTIO_BLK_S, VIRTIO_BLK_T } from './block.js';
import { VirtioMmioTransport } from './mmio.js';

const BASE = 0xd000_0000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-vmm-blk-merge-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** An image whose sector s is filled with the byte s & 0xff. */
function image(sectors: number): string {
  const p = path.join(tmp, `disk${n++}.img`);
  const buf = Buffer.alloc(sectors * SECTOR_SIZE);
  for (let s = 0; s < sectors; s++) buf.fill(s & 0xff, s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE);
  fs.writeFileSync(p, buf);
  return p;
}

interface Req {
  type: number;
  sector: number;
  /** Lengths of the data buffers (device-writable for IN, readable for OUT). */
  lens: number[];
  /** Byte that fills OUT data. */
  fill?: number;
}

function setup(
  opts: Partial<Omit<BlockOptions, 'backend'>> & {
    /** An image to open instead of a fresh one. */
    path?: string;
    sizeBytes?: number;
    sectors?: number;
    features?: bigint;
  } = {},
) {
  const file = opts.path ?? image(opts.sectors ?? 64);
  const backend = FileDiskBackend.open(file, { readOnly: opts.readOnly, sizeBytes: opts.sizeBytes });
  const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
  const blk = new Block({ mode: 'sync', queueSize: 128, id: 'disk', ...opts, backend });
  const irq = new RecordingIrqLine();
  const t = new VirtioMmioTransport(blk, { mem, irq });
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, t, 'virtio-blk');
  const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
  drv.init({ features: opts.features });
  /** Publishes all `reqs` without notifying, then notifies once. */
  const submitAll = (reqs: Req[]) => {
    const out = reqs.map((r) => {
      const hdr = drv.alloc(16);
      mem.write32(hdr, r.type);
      mem.write64(hdr + 8, BigInt(r.sector));
      const write = r.type !== VIRTIO_BLK_T.OUT;
      const bufs = r.lens.map((len) => {
        const addr = drv.alloc(Math.max(len, 1), 16);
        mem.writeBytes(addr, new Uint8Array(len).fill(write ? 0xcc : (r.fill ?? 0x77)));
        return { addr, len, write };
      });
      const status = drv.alloc(1);
      mem.write8(status, 0xee);
      const head = drv.submit(0, [{ addr: hdr, len: 16 }, ...bufs, { addr: status, len: 1, write: true }], {
        notify: false,
      });
      return { head, bufs, status: () => mem.read8(status) };
    });
    drv.notify(0);
    return out;
  };
  return { file, mem, blk, irq, t, drv, submitAll };
}

const IN = VIRTIO_BLK_T.IN;
const OUT = VIRTIO_BLK_T.OUT;

describe('Block request merging', () => {
  it('serves contiguous reads drained by one notification with one transfer, each request completed', () => {
    const s = setup();
    const reqs = s.submitAll([
      { type: IN, sector: 4, lens: [512] },
      { type: IN, sector: 5, lens: [1024] },
      { type: IN, sector: 7, lens: [512, 512] }, // two data buffers
      { type: IN, sector: 9, lens: [2048] },
    ]);
    expect(s.blk.stats.merged).toBe(3);
    expect(s.blk.stats.requests).toBe(4);
    expect(s.blk.stats.readBytes).toBe(512 + 1024 + 1024 + 2048);
    for (const r of reqs) expect(r.status()).toBe(VIRTIO_BLK_S.OK);
    const first = [4, 5, 7, 9];
    reqs.forEach((r, i) => {
      let sector = first[i];
      for (const b of r.bufs) {
        for (let off = 0; off < b.len; off += SECTOR_SIZE) {
          expect(s.mem.read8(b.addr + off)).toBe(sector & 0xff);
          expect(s.mem.read8(b.addr + off + SECTOR_SIZE - 1)).toBe(sector & 0xff);
          sector++;
        }
      }
    });
    expect(s.drv.takeUsed(0)).toEqual([
      { id: reqs[0].head, len: 513 },
      { id: reqs[1].head, len: 1025 },
      { id: reqs[2].head, len: 1025 },
      { id: reqs[3].head, len: 2049 },
    ]);
    expect(s.irq.triggers).toBe(1); // one interrupt for the batch
  });

  it('merges only contiguous runs of one direction, around gaps, writes, errors and other types', () => {
    const s = setup();
    const reqs = s.submitAll([
      { type: IN, sector: 0, lens: [512] },
      { type: IN, sector: 1, lens: [512] }, // merged with the previous one
      { type: IN, sector: 3, lens: [512] }, // gap: new run
      { type: OUT, sector: 4, lens: [512], fill: 0xa1 }, // other direction: new run
      { type: OUT, sector: 5, lens: [1024], fill: 0xa2 }, // merged write
      { type: IN, sector: 4, lens: [512] }, // reads what the writes before it left
      { type: IN, sector: 63, lens: [1024] }, // past the end: IOERR, breaks the run
      { type: IN, sector: 5, lens: [512] },
      { type: VIRTIO_BLK_T.GET_ID, sector: 0, lens: [20] },
      { type: IN, sector: 6, lens: [512] }, // not merged across GET_ID
    ]);
    const st = reqs.map((r) => r.status());
    expect(st).toEqual([0, 0, 0, 0, 0, 0, VIRTIO_BLK_S.IOERR, 0, 0, 0]);
    expect(s.blk.stats.merged).toBe(2);
    expect(s.mem.read8(reqs[1].bufs[0].addr)).toBe(1);
    expect(s.mem.read8(reqs[2].bufs[0].addr)).toBe(3);
    expect(s.mem.read8(reqs[5].bufs[0].addr)).toBe(0xa1);
    expect(s.mem.read8(reqs[6].bufs[0].addr)).toBe(0xcc); // untouched
    expect(s.mem.read8(reqs[7].bufs[0].addr)).toBe(0xa2);
    expect(s.mem.read8(reqs[9].bufs[0].addr)).toBe(0xa2);
    const disk = fs.readFileSync(s.file);
    expect(disk[4 * SECTOR_SIZE]).toBe(0xa1);
    expect(disk[7 * SECTOR_SIZE - 1]).toBe(0xa2);
    expect(disk[7 * SECTOR_SIZE]).toBe(7);
    const used = s.drv.takeUsed(0);
    expect(used.map((u) => u.id)).toEqual(reqs.map((r) => r.head));
    expect(used.map((u) => u.len)).toEqual([513, 513, 513, 1, 1, 513, 1, 513, 21, 513]);
  });

  it('marks every request of a failing merged read IOERR', () => {
    // A directory opens for reading, but every read of it fails (EISDIR).
    const dir = fs.mkdtempSync(path.join(tmp, 'dir-'));
    const s = setup({ path: dir, readOnly: true, sizeBytes: 64 * SECTOR_SIZE });
    const reqs = s.submitAll([
      { type: IN, sector: 0, lens: [512] },
      { type: IN, sector: 1, lens: [512, 512] },
      { type: IN, sector: 3, lens: [1024] },
    ]);
    for (const r of reqs) expect(r.status()).toBe(VIRTIO_BLK_S.IOERR);
    expect(s.blk.stats.errors).toBe(3);
    expect(s.blk.stats.readBytes).toBe(0);
    expect(s.drv.takeUsed(0).map((u) => u.len)).toEqual([1, 1, 1]); // nothing written on error
  });

  it('marks every request of a failing merged write IOERR (sync and async)', async () => {
    for (const mode of ['sync', 'async'] as const) {
      // /dev/full: writes fail with ENOSPC
      const s = setup({ path: '/dev/full', sizeBytes: 64 * SECTOR_SIZE, mode });
      const reqs = s.submitAll([
        { type: OUT, sector: 0, lens: [512] },
        { type: OUT, sector: 1, lens: [512] },
        { type: OUT, sector: 2, lens: [512, 512] },
      ]);
      await s.blk.drain();
      for (const r of reqs) expect(r.status()).toBe(VIRTIO_BLK_S.IOERR);
      expect(s.blk.stats.errors).toBe(3);
      expect(s.blk.stats.merged).toBe(2);
      s.blk.close();
    }
  });

  it('still refuses contiguous writes on a read-only disk, one IOERR each, file unchanged', () => {
    const s = setup({ readOnly: true });
    const before = fs.readFileSync(s.file);
    const reqs = s.submitAll([
      { type: OUT, sector: 0, lens: [512] },
      { type: OUT, sector: 1, lens: [512] },
      { type: IN, sector: 2, lens: [512] },
    ]);
    expect(reqs.map((r) => r.status())).toEqual([VIRTIO_BLK_S.IOERR, VIRTIO_BLK_S.IOERR, 0]);
    expect(s.blk.stats.errors).toBe(2);
    expect(fs.readFileSync(s.file).equals(before)).toBe(true);
  });

  it('merges in async mode, completing every request once with one interrupt per completed transfer', async () => {
    const s = setup({ mode: 'async', features: NO_RING_FEATURES });
    const reqs = s.submitAll(
      Array.from({ length: 8 }, (_, i) => ({ type: IN, sector: 2 * i, lens: [1024] })),
    );
    expect(s.blk.pendingRequests).toBe(8);
    await s.blk.drain();
    await Promise.resolve();
    expect(s.blk.stats.merged).toBe(7);
    reqs.forEach((r, i) => {
      expect(r.status()).toBe(VIRTIO_BLK_S.OK);
      expect(s.mem.read8(r.bufs[0].addr + 512)).toBe(2 * i + 1);
    });
    expect(s.drv.takeUsed(0)).toHaveLength(8);
    expect(s.irq.triggers).toBe(1);
  });

  const reqArb = fc.record({
    type: fc.constantFrom(IN, IN, IN, OUT, OUT, VIRTIO_BLK_T.FLUSH, VIRTIO_BLK_T.GET_ID),
    // sometimes past the end (capacity 128)
    sector: fc.nat(130),
    // data buffer lengths in sectors, with the odd misaligned one
    lens: fc.array(
      fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 0, max: 3 }).map((k) => k * SECTOR_SIZE) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 700 }) },
      ),
      { minLength: 1, maxLength: 3 },
    ),
    fill: fc.integer({ min: 0, max: 255 }),
  });
  /** Rewrites sectors to follow the previous request when `follow` is set, to make runs likely. */
  const batchArb = fc
    .array(
      fc.tuple(
        reqArb,
        fc.nat(3).map((k) => k > 0),
      ),
      { minLength: 1, maxLength: 12 },
    )
    .map((xs) => {
      const out: Req[] = [];
      let next = 0;
      for (const [r, follow] of xs) {
        const sector = follow ? next : r.sector;
        out.push({ ...r, sector });
        next = sector + Math.floor(r.lens.reduce((a, b) => a + b, 0) / SECTOR_SIZE);
      }
      return out;
    });

  it('gives byte-identical guest memory, statuses, used rings and files merged or not (sync, property)', () => {
    let mergedTotal = 0;
    fc.assert(
      fc.property(batchArb, fc.boolean(), (batch, eventIdx) => {
        const runs = [true, false].map((merge) => {
          const s = setup({ merge, sectors: 128, features: eventIdx ? undefined : NO_RING_FEATURES });
          const reqs = s.submitAll(batch);
          const result = {
            mem: s.mem.readBytes(0, 0x4_0000),
            statuses: reqs.map((r) => r.status()),
            used: s.drv.takeUsed(0),
            file: fs.readFileSync(s.file),
            irqs: s.irq.triggers,
            stats: { ...s.blk.stats, merged: 0 },
          };
          if (merge) mergedTotal += s.blk.stats.merged;
          s.blk.close();
          return result;
        });
        const [merged, plain] = runs;
        expect(merged.statuses).toEqual(plain.statuses);
        expect(merged.used).toEqual(plain.used);
        expect(Buffer.from(merged.mem).equals(Buffer.from(plain.mem))).toBe(true);
        expect(merged.file.equals(plain.file)).toBe(true);
        expect(merged.irqs).toBe(plain.irqs);
        expect(merged.stats).toEqual(plain.stats);
      }),
      { numRuns: 150 },
    );
    expect(mergedTotal).toBeGreaterThan(40); // the generator does produce runs to merge
  });

  it('gives the same guest memory, statuses and used entries merged or not (async reads, property)', async () => {
    let mergedTotal = 0;
    await fc.assert(
      fc.asyncProperty(
        batchArb.map((b) => b.map((r) => ({ ...r, type: r.type === OUT ? IN : r.type }))),
        async (batch) => {
          const runs: { mem: Uint8Array; statuses: number[]; used: { id: number; len: number }[] }[] = [];
          for (const merge of [true, false]) {
            const s = setup({ merge, sectors: 128, mode: 'async' });
            const reqs = s.submitAll(batch);
            await s.blk.drain();
            await Promise.resolve();
            if (merge) mergedTotal += s.blk.stats.merged;
            const q = s.drv.queues[0];
            const mem = s.mem.readBytes(0, 0x4_0000);
            mem.fill(0, q.used, q.used + 6 + 8 * q.size); // completion order may differ
            runs.push({
              mem,
              statuses: reqs.map((r) => r.status()),
              used: s.drv.takeUsed(0).sort((a, b) => a.id - b.id),
            });
            s.blk.close();
          }
          const [merged, plain] = runs;
          expect(merged.statuses).toEqual(plain.statuses);
          expect(merged.used).toEqual(plain.used);
          expect(Buffer.from(merged.mem).equals(Buffer.from(plain.mem))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
    expect(mergedTotal).toBeGreaterThan(30);
  });
});
