import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import type { Bus } from '../bus.js';
import { featureBit, VIRTIO_F, VIRTIO_STATUS, VIRTQ_DESC_F } from '../virtio/constants.js';
import { VIRTIO_MMIO } from '../virtio/mmio.js';

/** A buffer handed to the device. */
export interface SimBuffer {
  addr: number;
  len: number;
  /** Device-writable. */
  write?: boolean;
}

/** Driver-side state of one split queue. */
export interface SimQueue {
  size: number;
  desc: number;
  avail: number;
  used: number;
  nextDesc: number;
  availIdx: number;
  lastUsed: number;
}

/**
 * A minimal virtio-mmio driver, as a guest kernel would drive a device, for tests of device models
 * and VMM wiring: it negotiates features, lays out split queues in guest memory, submits buffers
 * (directly or through an indirect table), notifies, and collects used entries. Not part of a VMM.
 *
 * @example
 * ```ts
 * const drv = new SimulatedDriver(bus, 0xd000_0000, mem, 0x10_0000);
 * drv.init();
 * const buf = drv.alloc(512);
 * drv.submit(0, [{ addr: buf, len: 512, write: true }]);
 * drv.takeUsed(0); // [{ id, len }]
 * ```
 */
export class SimulatedDriver {
  readonly queues: SimQueue[] = [];
  private next: number;
  constructor(
    readonly bus: Bus,
    readonly base: number,
    readonly mem: GuestMemoryAccess,
    /** Where the driver allocates its rings and buffers. */
    heap: number,
  ) {
    this.next = heap;
  }

  r32(off: number): number {
    return this.bus.readValue(this.base + off, 4);
  }
  w32(off: number, v: number): void {
    this.bus.writeValue(this.base + off, 4, v >>> 0);
  }
  /** Device status register. */
  get status(): number {
    return this.r32(VIRTIO_MMIO.STATUS);
  }

  /** Allocates zeroed driver memory. */
  alloc(len: number, align = 16): number {
    const a = Math.ceil(this.next / align) * align;
    this.next = a + len;
    this.mem.fill(a, len, 0);
    return a;
  }

  /** The device's offered features (64 bits). */
  deviceFeatures(): bigint {
    this.w32(VIRTIO_MMIO.DEVICE_FEATURES_SEL, 0);
    const lo = this.r32(VIRTIO_MMIO.DEVICE_FEATURES);
    this.w32(VIRTIO_MMIO.DEVICE_FEATURES_SEL, 1);
    const hi = this.r32(VIRTIO_MMIO.DEVICE_FEATURES);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /**
   * Resets and initialises the device: accepts `features & offered` (default: everything offered),
   * sets up `queueSizes` (default: each queue's maximum) and sets DRIVER_OK. Returns the accepted
   * features, or throws when the device refuses FEATURES_OK.
   */
  init(options: { features?: bigint; queueSizes?: number[]; queueCount?: number } = {}): bigint {
    const S = VIRTIO_STATUS;
    this.w32(VIRTIO_MMIO.STATUS, 0);
    this.w32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE);
    this.w32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE | S.DRIVER);
    const offered = this.deviceFeatures();
    const accept = offered & (options.features ?? offered);
    this.w32(VIRTIO_MMIO.DRIVER_FEATURES_SEL, 0);
    this.w32(VIRTIO_MMIO.DRIVER_FEATURES, Number(accept & 0xffff_ffffn));
    this.w32(VIRTIO_MMIO.DRIVER_FEATURES_SEL, 1);
    this.w32(VIRTIO_MMIO.DRIVER_FEATURES, Number(accept >> 32n));
    this.w32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    if (!(this.status & S.FEATURES_OK)) throw new Error('device refused FEATURES_OK');
    this.queues.length = 0;
    for (let i = 0; i < (options.queueCount ?? 16); i++) {
      this.w32(VIRTIO_MMIO.QUEUE_SEL, i);
      const max = this.r32(VIRTIO_MMIO.QUEUE_NUM_MAX);
      if (max === 0) break;
      const size = options.queueSizes?.[i] ?? max;
      const q: SimQueue = {
        size,
        desc: this.alloc(16 * size, 16),
        avail: this.alloc(6 + 2 * size, 2),
        used: this.alloc(6 + 8 * size, 4),
        nextDesc: 0,
        availIdx: 0,
        lastUsed: 0,
      };
      this.w32(VIRTIO_MMIO.QUEUE_NUM, size);
      this.w32(VIRTIO_MMIO.QUEUE_DESC_LOW, q.desc % 2 ** 32);
      this.w32(VIRTIO_MMIO.QUEUE_DESC_HIGH, Math.floor(q.desc / 2 ** 32));
      this.w32(VIRTIO_MMIO.QUEUE_DRIVER_LOW, q.avail % 2 ** 32);
      this.w32(VIRTIO_MMIO.QUEUE_DRIVER_HIGH, Math.floor(q.avail / 2 ** 32));
      this.w32(VIRTIO_MMIO.QUEUE_DEVICE_LOW, q.used % 2 ** 32);
      this.w32(VIRTIO_MMIO.QUEUE_DEVICE_HIGH, Math.floor(q.used / 2 ** 32));
      this.w32(VIRTIO_MMIO.QUEUE_READY, 1);
      this.queues.push(q);
    }
    this.w32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    return accept;
  }

  /** Writes descriptor `i` of a table. */
  writeDesc(table: number, i: number, addr: number | bigint, len: number, flags: number, next: number): void {
    const d = table + 16 * i;
    this.mem.write64(d, BigInt(addr));
    this.mem.write32(d + 8, len);
    this.mem.write16(d + 12, flags);
    this.mem.write16(d + 14, next);
  }

  /** Makes descriptor `head` available (without notifying). */
  publish(qi: number, head: number): void {
    const q = this.queues[qi];
    this.mem.write16(q.avail + 4 + 2 * (q.availIdx % q.size), head);
    q.availIdx = (q.availIdx + 1) & 0xffff;
    this.mem.write16(q.avail + 2, q.availIdx);
  }

  /** Notifies queue `qi` through the QueueNotify register. */
  notify(qi: number): void {
    this.w32(VIRTIO_MMIO.QUEUE_NOTIFY, qi);
  }

  /**
   * Chains `bufs` into descriptors (or one indirect table), publishes and (by default) notifies.
   * Returns the head descriptor index.
   */
  submit(qi: number, bufs: SimBuffer[], opts: { indirect?: boolean; notify?: boolean } = {}): number {
    const q = this.queues[qi];
    const head = q.nextDesc;
    if (opts.indirect) {
      const table = this.alloc(16 * bufs.length, 16);
      bufs.forEach((b, i) => {
        const last = i === bufs.length - 1;
        this.writeDesc(
          table,
          i,
          b.addr,
          b.len,
          (b.write ? VIRTQ_DESC_F.WRITE : 0) | (last ? 0 : VIRTQ_DESC_F.NEXT),
          last ? 0 : i + 1,
        );
      });
      this.writeDesc(q.desc, head, table, 16 * bufs.length, VIRTQ_DESC_F.INDIRECT, 0);
      q.nextDesc = (head + 1) % q.size;
    } else {
      bufs.forEach((b, i) => {
        const idx = (head + i) % q.size;
        const last = i === bufs.length - 1;
        const nxt = (idx + 1) % q.size;
        this.writeDesc(
          q.desc,
          idx,
          b.addr,
          b.len,
          (b.write ? VIRTQ_DESC_F.WRITE : 0) | (last ? 0 : VIRTQ_DESC_F.NEXT),
          last ? 0 : nxt,
        );
      });
      q.nextDesc = (head + bufs.length) % q.size;
    }
    this.publish(qi, head);
    if (opts.notify ?? true) this.notify(qi);
    return head;
  }

  /** Used entries the device added since the last call. */
  takeUsed(qi: number): { id: number; len: number }[] {
    const q = this.queues[qi];
    const idx = this.mem.read16(q.used + 2);
    const out: { id: number; len: number }[] = [];
    while (q.lastUsed !== idx) {
      const e = q.used + 4 + 8 * (q.lastUsed % q.size);
      out.push({ id: this.mem.read32(e), len: this.mem.read32(e + 4) });
      q.lastUsed = (q.lastUsed + 1) & 0xffff;
    }
    return out;
  }

  /** Sets `used_event` (VIRTIO_F_EVENT_IDX): interrupt me when the used index passes `v`. */
  setUsedEvent(qi: number, v: number): void {
    const q = this.queues[qi];
    this.mem.write16(q.avail + 4 + 2 * q.size, v);
  }

  /** Acknowledges all pending interrupts; returns the status that was pending. */
  ackInterrupts(): number {
    const s = this.r32(VIRTIO_MMIO.INTERRUPT_STATUS);
    this.w32(VIRTIO_MMIO.INTERRUPT_ACK, s);
    return s;
  }
}

/** Feature mask without the ring features, to test the plain paths. */
export const NO_RING_FEATURES = ~(
  featureBit(VIRTIO_F.RING_EVENT_IDX) | featureBit(VIRTIO_F.RING_INDIRECT_DESC)
);
