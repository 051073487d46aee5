import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { AcpiPowerDevice } from './acpi-power.js';
import { BootTimer } from './boot-timer.js';
import { Bus } from './bus.js';
import { DebugExit } from './debug-exit.js';
import { DeviceError } from './errors.js';
import { I8042 } from './i8042.js';
import { Rtc } from './rtc.js';
import { Serial, UART_REG } from './serial.js';
import type { DeviceState } from './state.js';
import { SimulatedDriver } from './testing/driver-sim.js';
import { RecordingIrqLine } from './testing/recording-irq.js';
import { Block, VIRTIO_BLK_S, VIRTIO_BLK_T } from './virtio/block.js';
import { Console } from './virtio/console.js';
import type { VirtioDevice } from './virtio/device.js';
import { MemoryDiskBackend } from './virtio/disk.js';
import { VIRTIO_MMIO as M, VirtioMmioTransport } from './virtio/mmio.js';
import { Net } from './virtio/net.js';
import { MemoryNetBackend } from './virtio/net-backend.js';
import { Rng } from './virtio/rng.js';
import { Vsock } from './virtio/vsock.js';
import type { VsockBackend } from './virtio/vsock-backend.js';

/** A state through JSON, as a snapshot file carries it. */
const viaJson = (s: DeviceState): DeviceState => JSON.parse(JSON.stringify(s));

function expectInvalid(f: () => void, field: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DeviceError);
    expect((e as DeviceError).kind).toBe('invalid-state');
    expect((e as DeviceError).message).toMatch(field);
    return;
  }
  throw new Error('restore accepted a malformed state');
}

describe('Serial save/restore', () => {
  function configured(sink?: { write(b: Uint8Array): boolean }) {
    const s = new Serial({ sink, inputRate: 1e9, inputTimer: false });
    s.writeRegister(UART_REG.LCR, 0x83); // DLAB
    s.writeRegister(UART_REG.DATA, 1);
    s.writeRegister(UART_REG.LCR, 0x03);
    s.writeRegister(UART_REG.IIR_FCR, 0x01); // FIFO on, trigger 1
    s.writeRegister(UART_REG.IER, 0x01);
    s.writeRegister(UART_REG.SCR, 0x5a);
    return s;
  }

  it('carries registers, the receive FIFO and pending input to a fresh UART', () => {
    const a = configured();
    a.enqueueInput(new TextEncoder().encode('hello, world'));
    expect(String.fromCharCode(a.readRegister(UART_REG.DATA))).toBe('h');
    const b = new Serial({ inputRate: 1e9, inputTimer: false });
    b.restore(viaJson(a.save()));
    expect(b.readRegister(UART_REG.SCR)).toBe(0x5a);
    expect(b.readRegister(UART_REG.IER)).toBe(0x01);
    expect(b.readRegister(UART_REG.IIR_FCR) & 0xc0).toBe(0xc0); // FIFO enabled
    let got = '';
    for (let i = 0; i < 100 && b.readRegister(UART_REG.LSR) & 1; i++)
      got += String.fromCharCode(b.readRegister(UART_REG.DATA));
    expect(got).toBe('ello, world');
    b.writeRegister(UART_REG.LCR, 0x83);
    expect(b.readRegister(UART_REG.DATA)).toBe(1); // divisor latch
  });

  it('hands output the old sink had not taken to the new sink', () => {
    const a = configured(); // no sink: output buffered
    for (const c of 'out') a.writeRegister(UART_REG.DATA, c.charCodeAt(0));
    const seen: number[] = [];
    const b = new Serial({ sink: { write: (d) => seen.push(...d) > 0 } });
    b.restore(viaJson(a.save()));
    expect(String.fromCharCode(...seen)).toBe('out');
  });

  it('refuses malformed state, naming the field, and keeps its own', () => {
    const good = configured().save();
    const b = new Serial();
    expectInvalid(() => b.restore({ ...good, lcr: 300 }), /serial: state field lcr: 300/);
    expectInvalid(() => b.restore({ ...good, rx: '!!!' }), /field rx/);
    expectInvalid(() => b.restore({ ...good, version: 99 }), /field version/);
    expectInvalid(() => b.restore({ ...good, device: 'rtc' }), /field device/);
    const { ier: _drop, ...missing } = good;
    expectInvalid(() => b.restore(missing as DeviceState), /field ier: missing/);
    expect(b.readRegister(UART_REG.SCR)).toBe(0);
  });
});

describe('I8042 save/restore', () => {
  it('keeps a command waiting for its parameter and the output buffer', () => {
    const irq = new RecordingIrqLine();
    const a = new I8042({ irq });
    expect(a.sendCtrlAltDel()).toBe(true);
    const first = a.readData();
    a.writeCommand(0x60); // write command byte: the parameter comes next
    const b = new I8042({ irq });
    b.restore(viaJson(a.save()));
    const rest: number[] = [];
    const c: number[] = [];
    while ((b.save().out as number[]).length) rest.push(b.readData());
    while ((a.save().out as number[]).length) c.push(a.readData());
    expect(rest).toEqual(c);
    expect(rest.length).toBeGreaterThan(0);
    expect(first).not.toBe(0);
    b.writeData(0x00); // the pending 0x60's parameter: command byte 0 (keyboard interrupt off)
    expect(b.save().ctr).toBe(0);
    expect(b.save().pendingCommand).toBe(0);
  });

  it('refuses a mismatched output buffer', () => {
    const s = new I8042().save();
    expectInvalid(() => new I8042().restore({ ...s, out: [1, 2], fromKbd: [true] }), /field fromKbd/);
    expectInvalid(() => new I8042().restore({ ...s, out: [256], fromKbd: [true] }), /field out\[0\]/);
  });
});

describe('Rtc, ACPI power, boot timer and debug-exit save/restore', () => {
  it('Rtc keeps CMOS RAM, the index and the guest-set time', () => {
    const clock = () => Date.UTC(2024, 0, 2, 3, 4, 5);
    const a = new Rtc({ clock });
    a.writeRegister(0x40, 0x99);
    a.writeRegister(0x04, 0x07); // hours (BCD) 07
    a.write(0, Uint8Array.of(0x40));
    const b = new Rtc({ clock });
    b.restore(viaJson(a.save()));
    expect(b.readRegister(0x40)).toBe(0x99);
    expect(b.readRegister(0x04)).toBe(0x07);
    const d = new Uint8Array(1);
    b.read(0, d);
    expect(d[0]).toBe(0x40);
    expect(b.guestTime()).toBe(a.guestTime());
    expectInvalid(() => b.restore({ ...a.save(), ram: btoa('short') }), /field ram: 5 bytes; expected 128/);
  });

  it('ACPI power, debug-exit and the boot timer', () => {
    const p = new AcpiPowerDevice({ onEvent: () => {} });
    p.write(1, Uint8Array.of(0));
    const p2 = new AcpiPowerDevice({ onEvent: () => {} });
    p2.restore(viaJson(p.save()));
    expect(p2.writes).toBe(1);
    expectInvalid(() => p2.restore({ device: 'acpi-power', version: 1, writes: -1 }), /field writes/);

    const codes: number[] = [];
    const d = new DebugExit({ onExit: (c) => codes.push(c) });
    d.write(0, Uint8Array.of(0x10));
    const d2 = new DebugExit({ onExit: () => {} });
    d2.restore(viaJson(d.save()));
    expect(d2.exitCode).toBe(0x21);

    let now = 1000n;
    const booted: bigint[] = [];
    const t = new BootTimer({ clock: () => now, onBoot: (ns) => booted.push(ns) });
    now = 5000n;
    t.write(0, Uint8Array.of(123));
    const t2 = new BootTimer({ clock: () => now, onBoot: (ns) => booted.push(ns) });
    t2.restore(viaJson(t.save()));
    expect(t2.elapsedNs).toBe(4000n);
    t2.write(0, Uint8Array.of(123)); // already marked: not reported again
    expect(booted).toEqual([4000n]);
    expectInvalid(() => t2.restore({ device: 'boot-timer', version: 1, elapsedNs: 12 }), /field elapsedNs/);
  });
});

const BASE = 0xd000_0000;

/** A device behind a transport on its own bus, driven by a simulated driver. */
function wire(device: VirtioDevice, mem: GuestMemory) {
  const irq = new RecordingIrqLine();
  const t = new VirtioMmioTransport(device, { mem, irq });
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, t, 'virtio');
  return { t, bus, irq };
}

/** Saves `a`'s transport, restores it into `fresh` on a new bus, and points `drv` at it. */
function move(a: VirtioMmioTransport, fresh: VirtioDevice, mem: GuestMemory, drv: SimulatedDriver) {
  const saved = viaJson(a.save());
  const b = wire(fresh, mem);
  b.t.restore(saved);
  (drv as { bus: Bus }).bus = b.bus;
  return b;
}

describe('VirtioMmioTransport save/restore', () => {
  it('rng: the queue continues where it was (indices, features, status)', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
    const a = wire(new Rng({ queueSize: 8 }), mem);
    const drv = new SimulatedDriver(a.bus, BASE, mem, 0x1000);
    const features = drv.init();
    for (let i = 0; i < 3; i++) drv.submit(0, [{ addr: drv.alloc(16), len: 16, write: true }]);
    expect(drv.takeUsed(0)).toHaveLength(3);
    const b = move(a.t, new Rng({ queueSize: 8 }), mem, drv);
    expect(b.t.isActive).toBe(true);
    expect(b.t.driverFeatures).toBe(features);
    expect(drv.status).toBe(a.t.status);
    // event-idx state carried over: used_event 0 was passed before the save, so no interrupt...
    drv.submit(0, [{ addr: drv.alloc(32), len: 32, write: true }]);
    expect(drv.takeUsed(0)).toEqual([{ id: 3, len: 32 }]);
    expect(mem.read16(drv.queues[0].used + 2)).toBe(4);
    expect(b.irq.triggers).toBe(0);
    // ...and one once the driver asks for it
    drv.setUsedEvent(0, 4);
    drv.submit(0, [{ addr: drv.alloc(32), len: 32, write: true }]);
    expect(drv.takeUsed(0)).toEqual([{ id: 4, len: 32 }]);
    expect(b.irq.triggers).toBe(1);
  });

  it('refuses a state of another device type, a bad queue or unoffered features', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
    const a = wire(new Rng({ queueSize: 8 }), mem);
    new SimulatedDriver(a.bus, BASE, mem, 0x1000).init();
    const s = viaJson(a.t.save());
    const fresh = () => wire(new Rng({ queueSize: 8 }), mem).t;
    expectInvalid(() => fresh().restore({ ...s, deviceType: 2 }), /field deviceType/);
    const q = (s.queues as Record<string, unknown>[])[0];
    expectInvalid(
      () => fresh().restore({ ...s, queues: [{ ...q, size: 3 }] } as DeviceState),
      /queues\[0\]\.size/,
    );
    expectInvalid(
      () => fresh().restore({ ...s, queues: [{ ...q, nextUsed: 70000 }] } as DeviceState),
      /nextUsed/,
    );
    expectInvalid(() => fresh().restore({ ...s, driverFeatures: '0xffffffffffffffff' }), /driverFeatures/);
    expectInvalid(() => fresh().restore({ ...s, queues: [] }), /field queues/);
    const t = fresh();
    expectInvalid(() => t.restore({ ...s, status: 0x1ff }), /field status/);
    expect(t.status).toBe(0);
    expect(t.queues[0].ready).toBe(false);
  });

  it('block: a sector written before the save reads back after it; in-flight requests refuse the save', async () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
    const disk = new MemoryDiskBackend(new Uint8Array(64 * 512));
    const a = wire(new Block({ backend: disk, queueSize: 16 }), mem);
    const drv = new SimulatedDriver(a.bus, BASE, mem, 0x1000);
    drv.init();
    const request = (type: number, sector: number, data: number, write: boolean) => {
      const hdr = drv.alloc(16);
      mem.write32(hdr, type);
      mem.write64(hdr + 8, BigInt(sector));
      const status = drv.alloc(1);
      mem.write8(status, 0xee);
      drv.submit(0, [
        { addr: hdr, len: 16 },
        { addr: data, len: 512, write },
        { addr: status, len: 1, write: true },
      ]);
      return () => mem.read8(status);
    };
    const out = drv.alloc(512);
    mem.fill(out, 512, 0xab);
    const wrote = request(VIRTIO_BLK_T.OUT, 5, out, false);
    expectInvalid(() => a.t.save(), /virtio-blk: 1 requests are in flight/);
    await (a.t.device as Block).drain();
    expect(wrote()).toBe(VIRTIO_BLK_S.OK);
    drv.takeUsed(0);
    const b = move(a.t, new Block({ backend: disk, queueSize: 16 }), mem, drv);
    const into = drv.alloc(512);
    const read = request(VIRTIO_BLK_T.IN, 5, into, true);
    await (b.t.device as Block).drain();
    expect(read()).toBe(VIRTIO_BLK_S.OK);
    expect(mem.read8(into + 511)).toBe(0xab);
    expect(drv.takeUsed(0)).toHaveLength(1);
  });

  it('console: host input queued before the save reaches the guest after the restore', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
    const a = wire(new Console({ queueSize: 8 }), mem);
    const drv = new SimulatedDriver(a.bus, BASE, mem, 0x1000);
    drv.init();
    (a.t.device as Console).enqueueInput(new TextEncoder().encode('ls\n'));
    move(a.t, new Console({ queueSize: 8 }), mem, drv);
    const buf = drv.alloc(64);
    drv.submit(0, [{ addr: buf, len: 64, write: true }]);
    const used = drv.takeUsed(0);
    expect(used).toHaveLength(1);
    expect(new TextDecoder().decode(mem.slice(buf, used[0].len))).toBe('ls\n');
  });

  it('net: the MAC must match; the queues continue', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
    const mac = '02:00:00:00:00:01';
    const a = wire(new Net({ backend: new MemoryNetBackend(), mac, queueSize: 8 }), mem);
    const drv = new SimulatedDriver(a.bus, BASE, mem, 0x1000);
    drv.init();
    const s = viaJson(a.t.save());
    const other = wire(
      new Net({ backend: new MemoryNetBackend(), mac: '02:00:00:00:00:02', queueSize: 8 }),
      mem,
    );
    expectInvalid(() => other.t.restore(s), /deviceState: .*field mac/);
    const backend = new MemoryNetBackend();
    const b = move(a.t, new Net({ backend, mac, queueSize: 8 }), mem, drv);
    expect(b.t.isActive).toBe(true);
    const frame = drv.alloc(64);
    drv.submit(1, [{ addr: frame, len: 12 + 42 }]);
    expect(drv.takeUsed(1)).toHaveLength(1);
  });

  it('vsock: a restore sends the guest a transport-reset event; a different CID is refused', () => {
    const backend: VsockBackend = {
      listen: async () => {},
      connect: () => {
        throw new Error('no host');
      },
      close: async () => {},
    };
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
    const a = wire(new Vsock({ guestCid: 3, backend, queueSize: 8 }), mem);
    const drv = new SimulatedDriver(a.bus, BASE, mem, 0x1000);
    drv.init();
    const ev = drv.alloc(8);
    mem.fill(ev, 8, 0xff);
    drv.submit(2, [{ addr: ev, len: 8, write: true }]);
    expect(drv.takeUsed(2)).toEqual([]); // no event before a restore
    const s = viaJson(a.t.save());
    expectInvalid(
      () => wire(new Vsock({ guestCid: 4, backend, queueSize: 8 }), mem).t.restore(s),
      /field guestCid/,
    );
    const fresh = new Vsock({ guestCid: 3, backend, queueSize: 8 });
    const b = move(a.t, fresh, mem, drv);
    expect(drv.takeUsed(2)).toEqual([{ id: 0, len: 4 }]);
    expect(mem.read32(ev)).toBe(0); // VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
    expect(fresh.transportResets).toBe(1);
    expect(b.irq.triggers).toBe(1);
    expect(drv.r32(M.STATUS)).toBe(a.t.status);
  });
});
