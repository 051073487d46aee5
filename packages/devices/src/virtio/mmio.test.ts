import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { SimulatedDriver } from '../testing/driver-sim.js';
import { RecordingIrqLine } from '../testing/recording-irq.js';
import { featureBit, VIRTIO_STATUS as S, VIRTIO_F } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';
import { VIRTIO_MMIO as M, VIRTIO_MMIO_MAGIC, VirtioMmioTransport, virtioMmioCmdline } from './mmio.js';

const BASE = 0xd000_0000;

class EchoDevice implements VirtioDevice {
  deviceType = 42;
  queueMaxSizes = [8, 4];
  deviceFeatures = featureBit(3);
  config = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  ctx?: VirtioContext;
  notified: number[] = [];
  resets = 0;
  throwOnNotify = false;
  readConfig(o: number, d: Uint8Array) {
    for (let i = 0; i < d.length; i++) d[i] = this.config[o + i] ?? 0;
  }
  writeConfig(o: number, d: Uint8Array) {
    this.config.set(d, o);
  }
  activate(ctx: VirtioContext) {
    this.ctx = ctx;
  }
  queueNotify(i: number) {
    if (this.throwOnNotify) throw new Error('boom');
    this.notified.push(i);
  }
  reset() {
    this.resets++;
  }
}

function setup(irqMode: 'edge' | 'level' = 'edge') {
  const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
  const dev = new EchoDevice();
  const irq = new RecordingIrqLine();
  const errors: unknown[] = [];
  const t = new VirtioMmioTransport(dev, { mem, irq, irqMode, onError: (e) => errors.push(e) });
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, t, 'virtio');
  const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
  return { mem, dev, irq, t, bus, drv, errors };
}

describe('VirtioMmioTransport registers', () => {
  it('identifies itself: magic, version 2, device and vendor ID, queue maxima', () => {
    const { drv } = setup();
    expect(drv.r32(M.MAGIC_VALUE)).toBe(VIRTIO_MMIO_MAGIC);
    expect(drv.r32(M.VERSION)).toBe(2);
    expect(drv.r32(M.DEVICE_ID)).toBe(42);
    expect(drv.r32(M.VENDOR_ID)).toBe(0);
    drv.w32(M.QUEUE_SEL, 1);
    expect(drv.r32(M.QUEUE_NUM_MAX)).toBe(4);
    drv.w32(M.QUEUE_SEL, 2);
    expect(drv.r32(M.QUEUE_NUM_MAX)).toBe(0);
    expect(drv.r32(M.SHM_LEN_LOW)).toBe(0xffff_ffff);
    expect(drv.r32(M.SHM_LEN_HIGH)).toBe(0xffff_ffff);
  });

  it('offers device features plus VERSION_1, EVENT_IDX and INDIRECT_DESC, by 32-bit window', () => {
    const { drv } = setup();
    const f = drv.deviceFeatures();
    expect(f & featureBit(3)).not.toBe(0n);
    expect(f & featureBit(VIRTIO_F.VERSION_1)).not.toBe(0n);
    expect(f & featureBit(VIRTIO_F.RING_EVENT_IDX)).not.toBe(0n);
    drv.w32(M.DEVICE_FEATURES_SEL, 2);
    expect(drv.r32(M.DEVICE_FEATURES)).toBe(0);
  });

  it('refuses FEATURES_OK without VERSION_1 or with unoffered bits', () => {
    const { drv } = setup();
    expect(() => drv.init({ features: featureBit(3) })).toThrow(/FEATURES_OK/);
    drv.w32(M.STATUS, 0);
    drv.w32(M.STATUS, S.ACKNOWLEDGE);
    drv.w32(M.STATUS, S.ACKNOWLEDGE | S.DRIVER);
    drv.w32(M.DRIVER_FEATURES_SEL, 1);
    drv.w32(M.DRIVER_FEATURES, 1 | (1 << 20));
    drv.w32(M.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    expect(drv.status & S.FEATURES_OK).toBe(0);
  });

  it('walks the status state machine in order only', () => {
    const { drv, dev } = setup();
    drv.w32(M.STATUS, S.DRIVER); // DRIVER before ACKNOWLEDGE
    expect(drv.status).toBe(0);
    drv.w32(M.STATUS, S.ACKNOWLEDGE);
    drv.w32(M.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.DRIVER_OK); // DRIVER_OK before FEATURES_OK
    expect(drv.status).toBe(S.ACKNOWLEDGE);
    drv.w32(M.STATUS, S.ACKNOWLEDGE | S.DRIVER);
    drv.w32(M.STATUS, S.DRIVER); // clearing a bit is refused
    expect(drv.status).toBe(S.ACKNOWLEDGE | S.DRIVER);
    drv.init();
    expect(drv.status).toBe(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    expect(dev.ctx).toBeDefined();
    drv.w32(M.STATUS, 0);
    expect(drv.status).toBe(0);
    expect(dev.resets).toBe(1);
    drv.w32(M.QUEUE_SEL, 0);
    expect(drv.r32(M.QUEUE_READY)).toBe(0);
  });

  it('sets up queues and delivers notifications by register and out of band', () => {
    const { drv, dev, t } = setup();
    drv.init();
    expect(t.queues[0].ready).toBe(true);
    expect(t.queues[0].descTable).toBe(drv.queues[0].desc);
    expect(t.queues[1].size).toBe(4);
    drv.notify(1);
    t.notifyQueue(0);
    t.notifyQueue(7); // no such queue: ignored
    expect(dev.notified).toEqual([1, 0]);
    // queue registers are frozen once ready
    drv.w32(M.QUEUE_SEL, 0);
    drv.w32(M.QUEUE_NUM, 2);
    expect(t.queues[0].size).toBe(8);
  });

  it('raises used-buffer and config interrupts, acknowledged through InterruptACK (edge)', () => {
    const { drv, dev, irq } = setup();
    drv.init();
    dev.ctx!.signalUsed(0);
    expect(irq.triggers).toBe(1);
    expect(drv.r32(M.INTERRUPT_STATUS)).toBe(1);
    const gen = drv.r32(M.CONFIG_GENERATION);
    dev.ctx!.signalConfig();
    expect(drv.r32(M.CONFIG_GENERATION)).toBe(gen + 1);
    expect(drv.ackInterrupts()).toBe(3);
    expect(drv.r32(M.INTERRUPT_STATUS)).toBe(0);
  });

  it('holds a level interrupt until all causes are acknowledged', () => {
    const { drv, dev, irq } = setup('level');
    drv.init();
    dev.ctx!.signalUsed(0);
    dev.ctx!.signalConfig();
    expect(irq.level).toBe(true);
    drv.w32(M.INTERRUPT_ACK, 1);
    expect(irq.level).toBe(true);
    drv.w32(M.INTERRUPT_ACK, 2);
    expect(irq.level).toBe(false);
  });

  it('reads and writes the config space at 0x100 at any width', () => {
    const { bus } = setup();
    expect(bus.readValue(BASE + 0x100, 4)).toBe(0x04030201);
    expect(bus.readValue(BASE + 0x106, 2)).toBe(0x0807);
    bus.writeValue(BASE + 0x101, 1, 0xaa);
    expect(bus.readValue(BASE + 0x100, 2)).toBe(0xaa01);
  });

  it('ignores non-32-bit register accesses', () => {
    const { bus } = setup();
    expect(bus.readValue(BASE, 2)).toBe(0xffff);
    bus.writeValue(BASE + M.STATUS, 1, 1);
    expect(bus.readValue(BASE + M.STATUS, 4)).toBe(0);
  });

  it('turns device exceptions and bad queues into DEVICE_NEEDS_RESET, never throwing', () => {
    const { drv, dev, irq, errors } = setup();
    drv.init();
    dev.throwOnNotify = true;
    const before = irq.triggers;
    expect(() => drv.notify(0)).not.toThrow();
    expect(drv.status & S.DEVICE_NEEDS_RESET).toBe(S.DEVICE_NEEDS_RESET);
    expect(irq.triggers).toBe(before + 1);
    expect(drv.r32(M.INTERRUPT_STATUS) & 2).toBe(2);
    expect(errors).toHaveLength(1);
    dev.throwOnNotify = false;
    drv.notify(0); // quiet until reset
    expect(dev.notified).toEqual([]);
    drv.init();
    expect(drv.status & S.DEVICE_NEEDS_RESET).toBe(0);

    // a queue outside guest memory
    const s2 = setup();
    s2.drv.w32(M.STATUS, 0);
    s2.drv.w32(M.STATUS, S.ACKNOWLEDGE);
    s2.drv.w32(M.STATUS, S.ACKNOWLEDGE | S.DRIVER);
    s2.drv.w32(M.DRIVER_FEATURES_SEL, 1);
    s2.drv.w32(M.DRIVER_FEATURES, 1);
    s2.drv.w32(M.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    s2.drv.w32(M.QUEUE_SEL, 0);
    s2.drv.w32(M.QUEUE_DESC_HIGH, 0x10);
    s2.drv.w32(M.QUEUE_READY, 1);
    s2.drv.w32(M.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    expect(s2.drv.status & S.DEVICE_NEEDS_RESET).toBe(S.DEVICE_NEEDS_RESET);
    expect(String(s2.t.lastError)).toMatch(/descriptor table \[0x1000000000/);
  });

  it('describes itself for the command line and ACPI', () => {
    const { t } = setup();
    const info = t.describe(BASE, 5);
    expect(info).toEqual({ base: BASE, size: 0x1000, irq: 5, deviceId: 42 });
    expect(virtioMmioCmdline(info)).toBe('virtio_mmio.device=4K@0xd0000000:5');
  });
});
