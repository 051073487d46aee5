/**
 * A guest cannot flood the host's log: a loop that drives a virtio device into DEVICE_NEEDS_RESET
 * over and over (each time one "device error" line) gets a burst of lines, then about one a
 * second, and a count of the rest.
 */
import { SimulatedDriver } from '@ts-vmm/devices/testing';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/resolve.js';
import { backendAvailable } from '../src/vmm/backend.js';
import { demoGuest } from '../src/vmm/demo-guest.js';
import { Vmm } from '../src/vmm/vmm.js';

const emulated = (await backendAvailable('emulated')).ok;
if (!emulated) console.log('skipped: device log limit test (emulated backend not available)');

describe.skipIf(!emulated)('guest-triggered log lines', () => {
  it('rate-limits device errors and reports how many were suppressed', async () => {
    const lines: string[] = [];
    const cfg = resolveConfig({ flags: { backend: 'emulated', memoryMib: 16, console: 'serial' } });
    const vmm = await Vmm.create(cfg, {
      raw: { image: demoGuest() },
      input: null,
      log: (l) => lines.push(l),
      output: { write: () => true },
    });
    const rng = vmm.machine.virtio.find((v) => v.name === 'virtio-rng')!;
    const ROUNDS = 20_000;
    for (let i = 0; i < ROUNDS; i++) {
      // The guest resets the device, sets it up again and hands it a buffer outside its memory.
      const drv = new SimulatedDriver(vmm.machine.mmio, rng.base, vmm.memory, 0x80_0000);
      drv.init({ queueSizes: [8] });
      drv.submit(0, [{ addr: 0xffff_0000_0000, len: 16, write: true }]);
      if (i === 0) expect(rng.transport.status & 64).toBe(64); // DEVICE_NEEDS_RESET
    }
    const during = lines.filter((l) => l.startsWith('virtio-rng: device error:'));
    expect(during.length).toBeGreaterThan(0);
    expect(during.length).toBeLessThan(60); // a burst of 10, then one a second
    const result = await vmm.run(); // the demo guest powers off; teardown reports the rest
    expect(result.reason).toBe('poweroff');
    const errors = lines.filter((l) => l.startsWith('virtio-rng: device error:'));
    const suppressed = lines
      .map((l) =>
        /^virtio-rng: device error \(guest-error\): \.\.\. (\d+) more like this suppressed$/.exec(l),
      )
      .reduce((n, m) => n + (m ? Number(m[1]) : 0), 0);
    expect(suppressed).toBeGreaterThan(0);
    expect(errors.length + suppressed).toBe(ROUNDS);
  });
});
