import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import type { BusDevice } from '../bus.js';
import { DeviceError } from '../errors.js';
import type { IrqLine } from '../irq.js';
import { type DeviceState, StateReader } from '../state.js';
import { featureBit, VIRTIO_F, VIRTIO_MMIO_INT, VIRTIO_STATUS } from './constants.js';
import type { VirtioContext, VirtioDevice } from './device.js';
import { Queue } from './queue.js';

/** virtio-mmio register offsets (virtio 1.2 §4.2.2). */
export const VIRTIO_MMIO = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  QUEUE_RESET: 0x0c0,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

/** "virt" in little-endian. */
export const VIRTIO_MMIO_MAGIC = 0x74726976;
/** Size of one virtio-mmio window. */
export const VIRTIO_MMIO_SIZE = 0x1000;

/** Where a virtio-mmio device sits, for the kernel command line and the ACPI generator. */
export interface VirtioMmioDeviceInfo {
  readonly base: number;
  readonly size: number;
  readonly irq: number;
  readonly deviceId: number;
}

/**
 * The `virtio_mmio.device=` argument for a device (needs CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
 * @example virtioMmioCmdline({ base: 0xd0000000, size: 0x1000, irq: 5 }) // 'virtio_mmio.device=4K@0xd0000000:5'
 */
export function virtioMmioCmdline(info: Pick<VirtioMmioDeviceInfo, 'base' | 'size' | 'irq'>): string {
  const size = info.size % 1024 === 0 ? `${info.size / 1024}K` : `${info.size}`;
  return `virtio_mmio.device=${size}@0x${info.base.toString(16)}:${info.irq}`;
}

/** Options for a {@link VirtioMmioTransport}. */
export interface VirtioMmioOptions {
  /** Guest memory the queues live in. */
  mem: GuestMemoryAccess;
  /** The device's interrupt line. */
  irq?: IrqLine;
  /**
   * `'edge'` (default): each interrupt is one `trigger()` (irqfd). `'level'`: the line is held with
   * `setLevel(true)` while InterruptStatus is non-zero and dropped when the driver acknowledges all.
   */
  irqMode?: 'edge' | 'level';
  /** VendorID register value. Default 0 (as Firecracker). */
  vendorId?: number;
  /** Called with every error that set DEVICE_NEEDS_RESET (for logging). */
  onError?: (error: unknown) => void;
}

/**
 * The virtio-mmio transport, version 2 (virtio 1.x, "modern" only): every register, the device
 * status state machine, feature negotiation (VIRTIO_F_VERSION_1 required), queue setup, reset,
 * used-buffer and configuration-change interrupts.
 *
 * Guest mistakes never throw out of the bus callbacks: malformed queues and device errors set
 * DEVICE_NEEDS_RESET (with a configuration-change interrupt once the driver is running) and the
 * device is quiet until the driver resets it.
 *
 * Notifications arrive either through a QueueNotify write on the bus, or out of band: a VMM that
 * binds QueueNotify to an ioeventfd calls {@link VirtioMmioTransport.notifyQueue} when it fires.
 *
 * @example
 * ```ts
 * import { Block, MemoryDiskBackend, VirtioMmioTransport, virtioMmioCmdline } from '@ts-vmm/devices';
 * const blk = new Block({ backend: new MemoryDiskBackend(16 << 20) });
 * const t = new VirtioMmioTransport(blk, { mem, irq: irq5 });
 * mmio.register(0xd000_0000, 0x1000, t, 'virtio-blk');
 * cmdline.push(virtioMmioCmdline(t.describe(0xd000_0000, 5)));
 * ```
 */
export class VirtioMmioTransport implements BusDevice {
  /** The device status register. */
  status = 0;
  /** InterruptStatus register. */
  interruptStatus = 0;
  /** ConfigGeneration register. */
  configGeneration = 0;
  /** The device's queues. */
  readonly queues: Queue[];
  /** Negotiated (driver) features. */
  driverFeatures = 0n;
  /** The last error that set DEVICE_NEEDS_RESET. */
  lastError: unknown;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private queueSel = 0;
  private shmSel = 0;
  private activated = false;
  private readonly mem: GuestMemoryAccess;
  private readonly irq?: IrqLine;
  private readonly level: boolean;
  private readonly vendorId: number;
  private readonly onError?: (e: unknown) => void;
  /** All feature bits offered to the driver. */
  readonly offeredFeatures: bigint;

  constructor(
    readonly device: VirtioDevice,
    options: VirtioMmioOptions,
  ) {
    if (device.queueMaxSizes.length === 0)
      throw new DeviceError(
        'invalid-config',
        'virtio-mmio',
        `device type ${device.deviceType} has no queues`,
      );
    this.queues = device.queueMaxSizes.map((n) => new Queue(n));
    this.mem = options.mem;
    this.irq = options.irq;
    this.level = options.irqMode === 'level';
    this.vendorId = options.vendorId ?? 0;
    this.onError = options.onError;
    this.offeredFeatures =
      device.deviceFeatures |
      featureBit(VIRTIO_F.VERSION_1) |
      featureBit(VIRTIO_F.RING_EVENT_IDX) |
      featureBit(VIRTIO_F.RING_INDIRECT_DESC);
  }

  /**
   * A plain description for the ACPI generator and the command line.
   * @example t.describe(0xd000_0000, 5) // { base: 0xd0000000, size: 4096, irq: 5, deviceId: 2 }
   */
  describe(base: number, irq: number): VirtioMmioDeviceInfo {
    return { base, size: VIRTIO_MMIO_SIZE, irq, deviceId: this.device.deviceType };
  }

  /** True when the driver has set DRIVER_OK and the device has not failed. */
  get isActive(): boolean {
    return this.activated && !(this.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET);
  }

  /** Marks the device as needing a reset (and tells a running driver through a config interrupt). */
  needsReset(error: unknown): void {
    this.lastError = error;
    this.onError?.(error);
    if (this.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET) return;
    this.status |= VIRTIO_STATUS.DEVICE_NEEDS_RESET;
    if (this.status & VIRTIO_STATUS.DRIVER_OK) this.interrupt(VIRTIO_MMIO_INT.CONFIG);
  }

  private interrupt(bit: number): void {
    this.interruptStatus |= bit;
    if (!this.irq) return;
    if (this.level) this.irq.setLevel(true);
    else this.irq.trigger();
  }

  /**
   * Delivers a driver notification for queue `index` (the QueueNotify write, or an ioeventfd the VMM
   * bound to it). Ignored unless the device is active; never throws.
   * @example efdWatcher.on('readable', () => transport.notifyQueue(0));
   */
  notifyQueue(index: number): void {
    if (!this.isActive || index < 0 || index >= this.queues.length || !this.queues[index].ready) return;
    try {
      this.device.queueNotify(index);
    } catch (e) {
      this.needsReset(e);
    }
  }

  private context(): VirtioContext {
    return {
      mem: this.mem,
      queues: this.queues,
      features: this.driverFeatures,
      signalUsed: () => {
        if (this.isActive) this.interrupt(VIRTIO_MMIO_INT.VRING);
      },
      signalConfig: () => {
        this.configGeneration = (this.configGeneration + 1) >>> 0;
        if (this.status & VIRTIO_STATUS.DRIVER_OK) this.interrupt(VIRTIO_MMIO_INT.CONFIG);
      },
      fail: (e) => this.needsReset(e),
    };
  }

  private resetDevice(): void {
    if (this.activated) {
      try {
        this.device.reset();
      } catch (e) {
        this.onError?.(e);
      }
    }
    this.activated = false;
    this.status = 0;
    this.driverFeatures = 0n;
    this.deviceFeaturesSel = this.driverFeaturesSel = this.queueSel = this.shmSel = 0;
    for (const q of this.queues) q.reset();
    if (this.interruptStatus && this.level) this.irq?.setLevel(false);
    this.interruptStatus = 0;
  }

  private setStatus(v: number): void {
    if (v === 0) {
      this.resetDevice();
      return;
    }
    const S = VIRTIO_STATUS;
    const cur = this.status;
    // Bits may only be added (a reset is the only way back), and DEVICE_NEEDS_RESET is the device's.
    if ((cur & ~S.DEVICE_NEEDS_RESET & ~v) !== 0) return;
    let add = v & ~cur & ~S.DEVICE_NEEDS_RESET;
    if (add & S.FAILED) {
      this.status |= S.FAILED;
      add &= ~S.FAILED;
    }
    const has = (bit: number) => ((cur | add) & bit) !== 0;
    if (add & S.DRIVER && !has(S.ACKNOWLEDGE)) return;
    if (add & S.FEATURES_OK) {
      if (!has(S.DRIVER)) return;
      const f = this.driverFeatures;
      if ((f & ~this.offeredFeatures) !== 0n || (f & featureBit(VIRTIO_F.VERSION_1)) === 0n) {
        add &= ~S.FEATURES_OK; // the driver sees FEATURES_OK missing and gives up
      }
    }
    if (add & S.DRIVER_OK && !has(S.FEATURES_OK)) return;
    this.status |= add;
    if (add & S.DRIVER_OK) this.activate();
  }

  private activate(): void {
    const evt = (this.driverFeatures & featureBit(VIRTIO_F.RING_EVENT_IDX)) !== 0n;
    const ind = (this.driverFeatures & featureBit(VIRTIO_F.RING_INDIRECT_DESC)) !== 0n;
    try {
      for (const q of this.queues) {
        q.eventIdx = evt;
        q.indirect = ind;
        if (q.ready) q.validate(this.mem);
      }
      this.activated = true;
      this.device.activate(this.context());
    } catch (e) {
      this.needsReset(e);
    }
  }

  private get queue(): Queue | undefined {
    return this.queues[this.queueSel];
  }

  private readRegister(offset: number): number {
    const M = VIRTIO_MMIO;
    const q = this.queue;
    switch (offset) {
      case M.MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
      case M.VERSION:
        return 2;
      case M.DEVICE_ID:
        return this.device.deviceType;
      case M.VENDOR_ID:
        return this.vendorId;
      case M.DEVICE_FEATURES:
        return this.deviceFeaturesSel > 1
          ? 0
          : Number((this.offeredFeatures >> BigInt(32 * this.deviceFeaturesSel)) & 0xffff_ffffn);
      case M.QUEUE_NUM_MAX:
        return q ? q.maxSize : 0;
      case M.QUEUE_READY:
        return q?.ready ? 1 : 0;
      case M.INTERRUPT_STATUS:
        return this.interruptStatus;
      case M.STATUS:
        return this.status;
      case M.SHM_LEN_LOW:
      case M.SHM_LEN_HIGH:
      case M.SHM_BASE_LOW:
      case M.SHM_BASE_HIGH:
        return 0xffff_ffff; // no shared memory regions
      case M.QUEUE_RESET:
        return 0;
      case M.CONFIG_GENERATION:
        return this.configGeneration;
      default:
        return 0; // write-only and reserved registers read as 0
    }
  }

  private writeRegister(offset: number, v: number): void {
    const M = VIRTIO_MMIO;
    const S = VIRTIO_STATUS;
    const q = this.queue;
    const featuresWritable = (this.status & (S.DRIVER | S.FEATURES_OK)) === S.DRIVER;
    const queueWritable = q !== undefined && !q.ready && !(this.status & S.DRIVER_OK);
    const setHalf = (old: number, high: boolean) =>
      high ? (old % 2 ** 32) + v * 2 ** 32 : Math.floor(old / 2 ** 32) * 2 ** 32 + v;
    switch (offset) {
      case M.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = v;
        break;
      case M.DRIVER_FEATURES:
        if (featuresWritable && this.driverFeaturesSel <= 1) {
          const shift = BigInt(32 * this.driverFeaturesSel);
          this.driverFeatures = (this.driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(v) << shift);
        }
        break;
      case M.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = v;
        break;
      case M.QUEUE_SEL:
        this.queueSel = v;
        break;
      case M.QUEUE_NUM:
        if (queueWritable) q.size = v;
        break;
      case M.QUEUE_READY:
        if (q && !(this.status & S.DRIVER_OK)) q.ready = (v & 1) === 1;
        break;
      case M.QUEUE_NOTIFY:
        this.notifyQueue(v & 0xffff);
        break;
      case M.INTERRUPT_ACK:
        this.interruptStatus &= ~v;
        if (this.level && this.interruptStatus === 0) this.irq?.setLevel(false);
        break;
      case M.STATUS:
        this.setStatus(v & 0xff);
        break;
      case M.QUEUE_DESC_LOW:
      case M.QUEUE_DESC_HIGH:
        if (queueWritable) q.descTable = setHalf(q.descTable, offset === M.QUEUE_DESC_HIGH);
        break;
      case M.QUEUE_DRIVER_LOW:
      case M.QUEUE_DRIVER_HIGH:
        if (queueWritable) q.availRing = setHalf(q.availRing, offset === M.QUEUE_DRIVER_HIGH);
        break;
      case M.QUEUE_DEVICE_LOW:
      case M.QUEUE_DEVICE_HIGH:
        if (queueWritable) q.usedRing = setHalf(q.usedRing, offset === M.QUEUE_DEVICE_HIGH);
        break;
      case M.SHM_SEL:
        this.shmSel = v;
        break;
      default:
        break; // read-only and reserved registers ignore writes
    }
  }

  /** {@link BusDevice.read}: 32-bit registers below 0x100, any width in the config space. */
  read(offset: number, data: Uint8Array): void {
    if (offset >= VIRTIO_MMIO.CONFIG) {
      try {
        this.device.readConfig(offset - VIRTIO_MMIO.CONFIG, data);
      } catch (e) {
        data.fill(0);
        this.needsReset(e);
      }
      return;
    }
    if (data.length !== 4 || offset % 4 !== 0) {
      data.fill(0xff); // registers are 32-bit only
      return;
    }
    const v = this.readRegister(offset);
    data[0] = v;
    data[1] = v >>> 8;
    data[2] = v >>> 16;
    data[3] = v >>> 24;
  }

  /** {@link BusDevice.write}. */
  write(offset: number, data: Uint8Array): void {
    if (offset >= VIRTIO_MMIO.CONFIG) {
      // Config writes are allowed before FEATURES_OK too (virtio-net MAC, for example).
      try {
        this.device.writeConfig(offset - VIRTIO_MMIO.CONFIG, data);
      } catch (e) {
        this.needsReset(e);
      }
      return;
    }
    if (data.length !== 4 || offset % 4 !== 0) return;
    const v = (data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)) >>> 0;
    this.writeRegister(offset, v);
  }

  /**
   * The transport's state for a snapshot: status, negotiated features, the selector registers,
   * interrupt status, config generation, every queue ({@link Queue.save}) and the device's own
   * state (`device.save()`). Save only while the device is quiet (no request of the device in
   * flight: `Block.drain()` first).
   * @example const saved = transport.save();
   */
  save(): DeviceState {
    return {
      device: 'virtio-mmio',
      version: 1,
      deviceType: this.device.deviceType,
      status: this.status,
      interruptStatus: this.interruptStatus,
      configGeneration: this.configGeneration,
      driverFeatures: `0x${this.driverFeatures.toString(16)}`,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      queueSel: this.queueSel,
      shmSel: this.shmSel,
      activated: this.activated,
      queues: this.queues.map((q) => q.save()),
      deviceState: this.device.save?.() ?? null,
    };
  }

  /**
   * Loads a state from {@link VirtioMmioTransport.save} into a fresh transport (of a device of the
   * same type, built with the same configuration) after guest memory has been restored: checks
   * everything first (an `invalid-state` DeviceError names the bad field; nothing changes), then
   * loads the device's state, the registers and queues, and activates the device again if the
   * driver had (a queue whose rings are no longer inside guest memory sets DEVICE_NEEDS_RESET).
   * @example fresh.restore(transport.save());
   */
  restore(state: DeviceState): void {
    const r = new StateReader('virtio-mmio', state, 1);
    const type = r.u32('deviceType');
    if (type !== this.device.deviceType)
      throw r.bad('deviceType', `${type} is not this device's type ${this.device.deviceType}`);
    const queues = r.array('queues', this.queues.length);
    if (queues.length !== this.queues.length)
      throw r.bad('queues', `${queues.length} queues; the device has ${this.queues.length}`);
    const loads = queues.map((q, i) => this.queues[i].checkState(r, `queues[${i}]`, q));
    const driverFeatures = r.hex('driverFeatures', 2n ** 64n - 1n);
    if ((driverFeatures & ~this.offeredFeatures) !== 0n)
      throw r.bad(
        'driverFeatures',
        `0x${driverFeatures.toString(16)} has bits the device does not offer (0x${this.offeredFeatures.toString(16)})`,
      );
    const v = {
      status: r.u8('status'),
      interruptStatus: r.int('interruptStatus', 0, 3),
      configGeneration: r.u32('configGeneration'),
      deviceFeaturesSel: r.u32('deviceFeaturesSel'),
      driverFeaturesSel: r.u32('driverFeaturesSel'),
      queueSel: r.u32('queueSel'),
      shmSel: r.u32('shmSel'),
      activated: r.bool('activated'),
    };
    if (v.activated && !(v.status & VIRTIO_STATUS.DRIVER_OK))
      throw r.bad('activated', 'true without DRIVER_OK in status');
    const ds = r.state.deviceState;
    if (ds !== null) {
      if (!this.device.restore) throw r.bad('deviceState', 'given for a device that keeps no state');
      try {
        this.device.restore(r.object('deviceState', ds) as DeviceState);
      } catch (e) {
        if (e instanceof DeviceError)
          throw new DeviceError(e.kind, 'virtio-mmio', `deviceState: ${e.message}`);
        throw e;
      }
    }
    if (this.activated) {
      try {
        this.device.reset();
      } catch (e) {
        this.onError?.(e);
      }
    }
    for (const load of loads) load();
    this.status = v.status;
    this.interruptStatus = v.interruptStatus;
    this.configGeneration = v.configGeneration;
    this.driverFeatures = driverFeatures;
    this.deviceFeaturesSel = v.deviceFeaturesSel;
    this.driverFeaturesSel = v.driverFeaturesSel;
    this.queueSel = v.queueSel;
    this.shmSel = v.shmSel;
    this.activated = false;
    if (this.interruptStatus && this.level) this.irq?.setLevel(true);
    if (!v.activated || this.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET) return;
    try {
      for (const q of this.queues) if (q.ready) q.validate(this.mem);
      this.activated = true;
      this.device.activate(this.context());
    } catch (e) {
      this.needsReset(e);
    }
  }
}
