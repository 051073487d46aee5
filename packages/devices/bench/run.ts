// virtio-blk request throughput through the split queue and the virtio-mmio transport, against
// plain node:fs reads of the same file at the same offsets, measured in the same run.
// Run: pnpm bench (from packages/devices). Prints MB/s for both and the ratio (target >= 0.8).
// Three workloads: sequential 4 KiB (contiguous requests, which the device merges into one preadv
// per notification), random-offset 4 KiB (no two requests of a notification are contiguous, so no
// merging: the per-request cost), and sequential 64 KiB. The baseline is always one plain
// `fs.readSync` per request, at the same offsets in the same order, into the same guest buffers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Block, Bus, VIRTIO_BLK_T, VirtioMmioTransport } from '../src/index.js';
import { FileDiskBackend } from '../src/node/index.js';
import { SimulatedDriver } from '../src/testing/index.js';

const FILE_SIZE = 64 << 20;
const BASE = 0xd000_0000;
const DEPTH = 32; // requests per notification, as a guest with a deep queue submits them
const MIN_MS = 1500;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-vmm-blk-bench-'));
const file = path.join(dir, 'disk.img');
const chunk = Buffer.alloc(1 << 20);
const fdw = fs.openSync(file, 'w');
for (let i = 0; i < FILE_SIZE / chunk.length; i++) {
  chunk.fill(i & 0xff);
  fs.writeSync(fdw, chunk);
}
fs.closeSync(fdw);
fs.readFileSync(file); // into the page cache, for both sides alike

type Pattern = 'seq' | 'rand';
const OFFSETS = 1 << 16;
/** The byte offsets requests read, in order (cycled): sequential, or random `size`-aligned ones. */
function offsets(size: number, pattern: Pattern): Float64Array {
  const out = new Float64Array(OFFSETS);
  let x = 0x9e3779b9; // xorshift32, fixed seed: the same sequence for the baseline and the device
  for (let i = 0; i < OFFSETS; i++) {
    if (pattern === 'seq') out[i] = (i * size) % FILE_SIZE;
    else {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = ((x >>> 0) % (FILE_SIZE / size)) * size;
    }
  }
  return out;
}

/**
 * Plain `fs.readSync` of the same offsets. `into: 'buffer'` reads into one small Buffer (malloc'd
 * heap memory); `into: 'guest'` reads into the same guest-memory addresses the device fills, so the
 * two differ only by the device's own work (on this host, reads into large mmap'd buffers are
 * several times slower than into small heap buffers, whoever issues them).
 */
function baseline(size: number, pattern: Pattern, into: 'buffer' | 'guest'): number {
  const offs = offsets(size, pattern);
  const fd = fs.openSync(file, 'r');
  const guest = GuestMemory.createShared([{ start: 0, size: 16 << 20 }]);
  const dests =
    into === 'buffer'
      ? [Buffer.alloc(size)]
      : Array.from({ length: DEPTH }, (_, i) => guest.slice(0x10_0000 + i * Math.max(size, 4096), size));
  let bytes = 0;
  let o = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MIN_MS) {
    for (let i = 0; i < DEPTH; i++) {
      fs.readSync(fd, dests[i % dests.length], 0, size, offs[o]);
      o = (o + 1) & (OFFSETS - 1);
      bytes += size;
    }
    t = performance.now();
  }
  fs.closeSync(fd);
  return bytes / 1e6 / ((t - t0) / 1000);
}

async function device(size: number, pattern: Pattern, mode: 'sync' | 'async'): Promise<number> {
  const offs = offsets(size, pattern);
  const mem = GuestMemory.createShared([{ start: 0, size: 16 << 20 }]);
  const blk = new Block({ backend: FileDiskBackend.open(file, { readOnly: true }), mode, queueSize: 256 });
  const t = new VirtioMmioTransport(blk, { mem });
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, t, 'virtio-blk');
  const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
  drv.init();
  const q = drv.queues[0];
  // data buffers contiguous, as the baseline's destinations; headers and status bytes elsewhere
  const datas = Array.from({ length: DEPTH }, () => drv.alloc(size, 4096));
  const reqs = Array.from({ length: DEPTH }, (_, i) => {
    const hdr = drv.alloc(16);
    const data = datas[i];
    const status = drv.alloc(1);
    mem.write32(hdr, VIRTIO_BLK_T.IN);
    drv.writeDesc(q.desc, 3 * i, hdr, 16, 1, 3 * i + 1);
    drv.writeDesc(q.desc, 3 * i + 1, data, size, 3, 3 * i + 2);
    drv.writeDesc(q.desc, 3 * i + 2, status, 1, 2, 0);
    return { head: 3 * i, hdr };
  });
  let bytes = 0;
  let o = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < MIN_MS) {
    for (const r of reqs) {
      mem.write32(r.hdr + 8, offs[o] / 512); // sector (the file is far below 2^32 sectors)
      o = (o + 1) & (OFFSETS - 1);
      drv.publish(0, r.head);
    }
    drv.notify(0);
    if (mode === 'async') await blk.drain();
    const used = drv.takeUsed(0);
    if (used.length !== DEPTH) throw new Error(`expected ${DEPTH} completions, got ${used.length}`);
    bytes += DEPTH * size;
    now = performance.now();
  }
  blk.close();
  if (blk.stats.errors) throw new Error('device reported I/O errors');
  return bytes / 1e6 / ((now - t0) / 1000);
}

console.log(
  `virtio-blk read throughput (file ${FILE_SIZE >> 20} MiB in page cache, ${DEPTH} requests per notify)`,
);
const workloads: [number, Pattern][] = [
  [4096, 'seq'],
  [4096, 'rand'],
  [65536, 'seq'],
];
for (const [size, pattern] of workloads) {
  // warm the JIT on both paths first (a VMM runs for long), then interleave runs and keep the best
  // of three, so both sides see the same machine state
  baseline(size, pattern, 'guest');
  await device(size, pattern, 'sync');
  let heap = 0;
  let base = 0;
  let sync = 0;
  let asyn = 0;
  for (let i = 0; i < 3; i++) {
    heap = Math.max(heap, baseline(size, pattern, 'buffer'));
    base = Math.max(base, baseline(size, pattern, 'guest'));
    sync = Math.max(sync, await device(size, pattern, 'sync'));
    asyn = Math.max(asyn, await device(size, pattern, 'async'));
  }
  const label = `${(size / 1024).toString().padStart(2)} KiB ${pattern === 'seq' ? 'sequential' : 'random    '}`;
  console.log(
    `${label}: node:fs readSync into guest memory ${base.toFixed(0)} MB/s` +
      ` (into a small heap Buffer ${heap.toFixed(0)} MB/s)\n` +
      `          virtio-blk sync  ${sync.toFixed(0)} MB/s: ratio ${(sync / base).toFixed(2)} (vs heap Buffer ${(sync / heap).toFixed(2)})\n` +
      `          virtio-blk async ${asyn.toFixed(0)} MB/s: ratio ${(asyn / base).toFixed(2)} (vs heap Buffer ${(asyn / heap).toFixed(2)})`,
  );
}
fs.rmSync(dir, { recursive: true, force: true });
