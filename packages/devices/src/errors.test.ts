import { describe, expect, it } from 'vitest';
import { Bus } from './bus.js';
import { DeviceError } from './errors.js';
import { Rtc } from './rtc.js';
import { Serial } from './serial.js';

describe('DeviceError', () => {
  it('carries kind, device, detail and cause; the message starts with the device', () => {
    const cause = new Error('ENOENT');
    const e = new DeviceError('io', 'virtio-blk', 'cannot open disk image x.img', cause);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('DeviceError');
    expect(e.kind).toBe('io');
    expect(e.device).toBe('virtio-blk');
    expect(e.detail).toBe('cannot open disk image x.img');
    expect(e.message).toBe('virtio-blk: cannot open disk image x.img');
    expect(e.cause).toBe(cause);
    expect(new DeviceError('closed', 'bus', 'x').cause).toBeUndefined();
  });

  it('is what the devices throw for bad configuration, naming the bad value', () => {
    const bus = new Bus('pio');
    const dev = { read: (_o: number, d: Uint8Array) => d.fill(0), write: () => {} };
    const cases: [() => unknown, string, RegExp][] = [
      [() => bus.register(0, 0, dev), 'bus', /size 0/],
      [() => bus.readValue(0, 3 as 1), 'bus', /access size 3/],
      [() => new Serial({ outputBufferSize: 0 }), 'serial', /outputBufferSize 0/],
      [() => new Rtc({ ram: { 5: 1 } }), 'rtc', /CMOS RAM index 5/],
    ];
    for (const [f, device, msg] of cases) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DeviceError);
      expect(err).toMatchObject({ kind: 'invalid-config', device });
      expect((err as Error).message).toMatch(msg);
    }
  });
});
