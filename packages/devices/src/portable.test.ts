/**
 * The root entry is portable: esbuild bundles src/index.ts (and the testing entry) for
 * `platform: 'browser'`, which refuses any `node:` import; the bundle names none of Node's globals
 * and runs in a fresh V8 context that has only what a browser worker has (no `process`, `Buffer`,
 * `require`, `setImmediate`, `__dirname`): a serial port, virtio-blk over a memory disk (sync and
 * async), virtio-rng, the boot timer's default clock and the ACPI power device, driven by the
 * simulated driver.
 */
import { NODE_ONLY_GLOBALS, runInBrowserWorker } from '@ts-vmm/hypervisor/testing';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const PROGRAM = `
import { GuestMemory } from '@ts-vmm/vm-memory';
import {
  AcpiPowerDevice, Block, BootTimer, Bus, MemoryDiskBackend, Rng, Serial, VIRTIO_BLK_T, VirtioMmioTransport,
} from './src/index.ts';
import { SimulatedDriver } from './src/testing/index.ts';

export async function main() {
  const out = [];
  let text = '';
  const pio = new Bus('pio');
  pio.register(0x3f8, 8, new Serial({ sink: { write: (b) => { text += String.fromCharCode(...b); return true; } } }), 'com1');
  for (const c of 'ok') pio.writeValue(0x3f8, 1, c.charCodeAt(0));
  out.push(text);
  const power = [];
  pio.register(0x600, 3, new AcpiPowerDevice({ onEvent: (e) => power.push(e) }), 'acpi-power');
  pio.writeValue(0x600, 1, 0x34);
  out.push(power.join());

  const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
  const mmio = new Bus('mmio');
  const image = new Uint8Array(64 * 512).map((_, i) => i >> 9);
  const blocks = [];
  for (const [i, mode] of ['sync', 'async'].entries()) {
    const blk = new Block({ backend: new MemoryDiskBackend(image), mode });
    const base = 0xd000_0000 + i * 0x1000;
    mmio.register(base, 0x1000, new VirtioMmioTransport(blk, { mem }), 'blk' + i);
    const drv = new SimulatedDriver(mmio, base, mem, 0x10000 + i * 0x20000);
    drv.init();
    const hdr = drv.alloc(16);
    mem.write32(hdr, VIRTIO_BLK_T.IN);
    mem.write64(hdr + 8, 7n);
    const data = drv.alloc(512);
    const status = drv.alloc(1);
    mem.write8(status, 0xee);
    drv.submit(0, [{ addr: hdr, len: 16 }, { addr: data, len: 512, write: true }, { addr: status, len: 1, write: true }]);
    await blk.drain();
    blocks.push([mem.read8(status), mem.read8(data), drv.takeUsed(0).length]);
  }
  out.push(blocks);

  mmio.register(0xd001_0000, 0x1000, new VirtioMmioTransport(new Rng(), { mem }), 'rng');
  const rdrv = new SimulatedDriver(mmio, 0xd001_0000, mem, 0x80000);
  rdrv.init();
  const rbuf = rdrv.alloc(32);
  rdrv.submit(0, [{ addr: rbuf, len: 32, write: true }]);
  out.push(rdrv.takeUsed(0)[0].len);

  const timer = new BootTimer();
  await new Promise((r) => setTimeout(r, 2));
  timer.write(0, Uint8Array.of(123));
  out.push(typeof timer.elapsedNs === 'bigint' && timer.elapsedNs > 0n);
  return out;
}
`;

describe('portable root entry', () => {
  it('bundles for the browser with no node: import and runs without Node globals', async () => {
    const result = await build({
      stdin: { contents: PROGRAM, resolveDir: new URL('..', import.meta.url).pathname, loader: 'ts' },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'portable',
      write: false,
      metafile: true,
      logLevel: 'silent',
      conditions: ['browser', 'import'],
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((p) => p.endsWith('src/virtio/block.ts'))).toBe(true);
    expect(inputs.filter((p) => p.startsWith('node:') || p.includes('/src/node/'))).toEqual([]);
    const code = result.outputFiles[0].text;
    // Node's globals, as identifiers (not inside longer names such as processQueue)
    for (const g of NODE_ONLY_GLOBALS.filter((n) => n !== 'module' && n !== 'global')) {
      expect(code, g).not.toMatch(new RegExp(`(?<![\\w$.])${g}(?![\\w$])(?!:)`));
    }

    const { main } = runInBrowserWorker<{ main(): Promise<unknown[]> }>(
      code,
      'portable',
      'devices-portable.js',
    );
    const out = await main();
    expect(out).toEqual([
      'ok',
      'poweroff',
      [
        [0, 7, 1],
        [0, 7, 1],
      ],
      32,
      true,
    ]);
  }, 60_000);
});
