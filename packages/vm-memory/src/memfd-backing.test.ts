import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { GuestMemory } from './guest-memory.js';

let addonAvailable = false;
try {
  const sys = await import('@ts-vmm/kvm-sys');
  sys.loadAddon();
  addonAvailable = true;
} catch (e) {
  console.log(
    `memfd backing tests skipped: the @ts-vmm/kvm-sys native addon is not available (${(e as Error).message})`,
  );
}

describe.skipIf(!addonAvailable)('GuestMemory (memfd backing)', () => {
  it('maps regions from one memfd with host addresses and fd offsets', async () => {
    const mem = await GuestMemory.createMemfd([
      { start: 0, size: 0x10000 },
      { start: 0x1_0000_0000, size: 0x4000 },
    ]);
    try {
      const [lo, hi] = mem.regions;
      expect(lo.backing).toBe('memfd');
      expect(lo.fd).toBeGreaterThan(2);
      expect(hi.fd).toBe(lo.fd);
      expect(hi.fdOffset).toBe(0x10000);
      expect(typeof lo.hostAddress).toBe('bigint');
      expect(lo.hostAddress! % 4096n).toBe(0n);
      mem.write64(0x1_0000_0008, 0xfeedfacecafebeefn);
      expect(hi.view.getBigUint64(8, true)).toBe(0xfeedfacecafebeefn);
    } finally {
      mem.close();
    }
  });

  it('a second mapping of the same memfd sees the same bytes', async () => {
    const mem = await GuestMemory.createMemfd([{ start: 0x100000, size: 0x2000 }]);
    const again = await GuestMemory.fromShareable(structuredClone(mem.toShareable()));
    try {
      expect(again.regions[0].hostAddress).not.toBe(mem.regions[0].hostAddress);
      mem.write32(0x100ffc, 0x12345678);
      expect(again.read32(0x100ffc)).toBe(0x12345678);
      again.write8(0x101000, 0x5a);
      expect(mem.read8(0x101000)).toBe(0x5a);
    } finally {
      again.close();
      mem.close();
    }
  });

  it('close() unmaps and closes the memfd it created, once', async () => {
    const { readlinkSync } = await import('node:fs');
    const mem = await GuestMemory.createMemfd([{ start: 0, size: 0x1000 }], { name: 'ts-vmm-close-test' });
    const fd = mem.regions[0].fd!;
    expect(readlinkSync(`/proc/self/fd/${fd}`)).toContain('ts-vmm-close-test');
    mem.close();
    mem.close();
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      target = 'closed';
    }
    expect(target).not.toContain('ts-vmm-close-test');
  });

  it('a worker thread maps it again and writes bytes the main thread reads', async () => {
    const mem = await GuestMemory.createMemfd([{ start: 0, size: 0x1000 }]);
    const entry = new URL('../dist/index.js', import.meta.url).href;
    const w = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(${JSON.stringify(entry)}).then(async ({ GuestMemory }) => {
         const m = await GuestMemory.fromShareable(workerData);
         m.write32(0x40, m.read32(0x20) + 1);
         m.close();
         parentPort.postMessage('done');
       });`,
      { eval: true, workerData: mem.toShareable() },
    );
    mem.write32(0x20, 41);
    const msg = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    expect(msg).toBe('done');
    expect(mem.read32(0x40)).toBe(42);
    mem.close();
  });
});
