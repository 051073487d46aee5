import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/resolve.js';
import { backendAvailable } from '../src/vmm/backend.js';
import { demoGuest } from '../src/vmm/demo-guest.js';
import { ExitKind } from '../src/vmm/exit-channel.js';
import { Vmm } from '../src/vmm/vmm.js';

const emulated = (await backendAvailable('emulated')).ok;
if (!emulated) console.log('skipped: machine wiring tests (emulated backend not available)');

describe.skipIf(!emulated)('machine wiring', () => {
  it('places virtio-mmio devices at 0xd0000000 + n*0x1000 with GSIs from 5, vsock listens on its socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wiring-'));
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, Buffer.alloc(64 * 1024));
    const uds = join(dir, 'v.sock');
    const cfg = resolveConfig({
      flags: {
        backend: 'emulated',
        memoryMib: 16,
        disks: [{ path: disk, readOnly: true }],
        vsock: { cid: 3, uds },
        console: 'virtio',
      },
    });
    const vmm = await Vmm.create(cfg, {
      raw: { image: demoGuest() },
      input: null,
      log: () => {},
      output: { write: () => true },
    });
    expect(vmm.machine.virtio.map((v) => [v.name, v.base, v.irq])).toEqual([
      ['virtio-blk0', 0xd000_0000, 5],
      ['virtio-console', 0xd000_1000, 6],
      ['virtio-rng', 0xd000_2000, 7],
      ['virtio-vsock', 0xd000_3000, 8],
    ]);
    expect(existsSync(uds)).toBe(true);
    const data = new Uint8Array(4);
    vmm.machine.dispatch({ kind: ExitKind.MMIO_READ, address: 0xd000_0000, size: 4, count: 1, data });
    expect(Buffer.from(data).toString('latin1')).toBe('virt');
    vmm.machine.dispatch({ kind: ExitKind.MMIO_READ, address: 0xd000_0008, size: 4, count: 1, data });
    expect(new DataView(data.buffer).getUint32(0, true)).toBe(2); // device ID: block
    const result = await vmm.run();
    expect(result.reason).toBe('poweroff');
    await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(uds)).toBe(false);
  });
});
