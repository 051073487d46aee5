import * as fs from 'node:fs';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Block, Bus, SimulatedDriver, VIRTIO_BLK_T, VirtioMmioTransport } from '../src/index.js';
const file = '/tmp/sabtest.img';
const size = 4096, DEPTH = 32, BASE = 0xd0000000, FILE_SIZE = 64 << 20;
const mem = GuestMemory.createShared([{ start: 0, size: 16 << 20 }]);
const blk = new Block({ path: file, mode: 'sync', queueSize: 256, readOnly: true });
const t = new VirtioMmioTransport(blk, { mem });
const bus = new Bus('mmio'); bus.register(BASE, 0x1000, t, 'virtio-blk');
const drv = new SimulatedDriver(bus, BASE, mem, 0x1000); drv.init();
const q = drv.queues[0];
const reqs = Array.from({ length: DEPTH }, (_, i) => {
  const hdr = drv.alloc(16); const data = drv.alloc(size, 4096); const status = drv.alloc(1);
  mem.write32(hdr, VIRTIO_BLK_T.IN);
  drv.writeDesc(q.desc, 3 * i, hdr, 16, 1, 3 * i + 1); drv.writeDesc(q.desc, 3 * i + 1, data, size, 3, 3 * i + 2); drv.writeDesc(q.desc, 3 * i + 2, status, 1, 2, 0);
  return { head: 3 * i, hdr };
});
let pos = 0; const t0 = performance.now(); let n = 0;
const tp = { pub: 0, notify: 0, take: 0 };
while (performance.now() - t0 < 2000) {
  let a = performance.now();
  for (const r of reqs) { mem.write64(r.hdr + 8, BigInt(pos / 512)); pos = (pos + size) % FILE_SIZE; drv.publish(0, r.head); }
  let b = performance.now(); tp.pub += b - a;
  drv.notify(0);
  let c = performance.now(); tp.notify += c - b;
  drv.takeUsed(0); n += DEPTH;
  tp.take += performance.now() - c;
}
console.log('us/request', (performance.now() - t0) * 1000 / n, 'pub', tp.pub*1000/n, 'notify', tp.notify*1000/n, 'take', tp.take*1000/n);
