import { DeviceError } from '../errors.js';
import { type DeviceState, StateReader } from '../state.js';
import { featureBit, VIRTIO_ID } from './constants.js';
import { readConfigBytes, type VirtioContext, type VirtioDevice } from './device.js';
import type { NetBackend } from './net-backend.js';

/** virtio-net feature bits used here. */
export const VIRTIO_NET_F = { MTU: 3, MAC: 5, MRG_RXBUF: 15, STATUS: 16 } as const;
/** Size of `struct virtio_net_hdr_v1` (VERSION_1 always includes `num_buffers`). */
export const VIRTIO_NET_HDR_SIZE = 12;
/** Largest frame handled (64 KiB plus an Ethernet header). */
export const MAX_FRAME_SIZE = 65_550;
const VIRTIO_NET_S_LINK_UP = 1;

/** Options for a {@link Net} device. */
export interface NetOptions {
  /** Where frames go and come from. */
  backend: NetBackend;
  /** The guest's MAC address ("52:54:00:12:34:56" or 6 bytes). Default: a random locally administered one. */
  mac?: string | Uint8Array;
  /** MTU to advertise (VIRTIO_NET_F_MTU). */
  mtu?: number;
  /** Queue size offered for both queues. Default 256. */
  queueSize?: number;
}

/** Counters of a {@link Net} device. */
export interface NetStats {
  rxFrames: number;
  txFrames: number;
  rxDropped: number;
  txDropped: number;
}

/**
 * Parses "aa:bb:cc:dd:ee:ff" into 6 bytes; throws {@link DeviceError} naming a malformed string.
 * @example parseMac('52:54:00:12:34:56') // Uint8Array [0x52, 0x54, 0, 0x12, 0x34, 0x56]
 */
export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new DeviceError(
      'invalid-config',
      'virtio-net',
      `MAC address "${mac}" is not six colon-separated hex bytes`,
    );
  }
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

/**
 * virtio-net with one receive and one transmit queue, the MAC in the config space, link status, and
 * a pluggable {@link NetBackend} (a tap device, an in-memory pair, ...). No offloads: frames are
 * whole Ethernet frames; the virtio-net header is stripped on transmit and zeroed (with
 * `num_buffers = 1`) on receive.
 *
 * Receive takes a frame from the backend only when the guest has posted a buffer for it; with no
 * buffers it stops watching the backend until the guest refills the receive queue, so a flood
 * neither grows memory nor spins. Frames that do not fit the guest's buffer are dropped and counted.
 *
 * @example
 * ```ts
 * import { Net, VirtioMmioTransport } from '@ts-vmm/devices';
 * import { TapBackend } from '@ts-vmm/devices/node';
 * const tap = await TapBackend.open('tap0');
 * const net = new Net({ backend: tap, mac: '52:54:00:12:34:56' });
 * mmio.register(0xd000_4000, 0x1000, new VirtioMmioTransport(net, { mem, irq }), 'virtio-net');
 * ```
 */
export class Net implements VirtioDevice {
  readonly deviceType = VIRTIO_ID.NET;
  readonly queueMaxSizes: readonly number[];
  readonly deviceFeatures: bigint;
  readonly mac: Uint8Array;
  readonly stats: NetStats = { rxFrames: 0, txFrames: 0, rxDropped: 0, txDropped: 0 };
  private readonly config = new Uint8Array(12);
  private readonly backend: NetBackend;
  private ctx?: VirtioContext;
  private watching = false;
  private readonly frame = new Uint8Array(MAX_FRAME_SIZE);
  private readonly hdr = new Uint8Array(VIRTIO_NET_HDR_SIZE);

  constructor(options: NetOptions) {
    this.backend = options.backend;
    const qs = options.queueSize ?? 256;
    this.queueMaxSizes = [qs, qs];
    if (options.mac === undefined) {
      this.mac = crypto.getRandomValues(new Uint8Array(6));
      this.mac[0] = (this.mac[0] & 0xfe) | 0x02;
    } else if (typeof options.mac === 'string') this.mac = parseMac(options.mac);
    else {
      if (options.mac.length !== 6)
        throw new DeviceError(
          'invalid-config',
          'virtio-net',
          `MAC address has ${options.mac.length} bytes, not 6`,
        );
      this.mac = options.mac.slice();
    }
    this.config.set(this.mac, 0);
    const v = new DataView(this.config.buffer);
    v.setUint16(6, VIRTIO_NET_S_LINK_UP, true);
    v.setUint16(8, 1, true);
    let f = featureBit(VIRTIO_NET_F.MAC) | featureBit(VIRTIO_NET_F.STATUS);
    if (options.mtu !== undefined) {
      if (!Number.isInteger(options.mtu) || options.mtu < 68 || options.mtu > 65535)
        throw new DeviceError(
          'invalid-config',
          'virtio-net',
          `MTU ${options.mtu} must be an integer in [68, 65535]`,
        );
      v.setUint16(10, options.mtu, true);
      f |= featureBit(VIRTIO_NET_F.MTU);
    }
    this.deviceFeatures = f;
    this.hdr[10] = 1; // num_buffers
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.config, offset, data);
  }
  writeConfig(): void {
    // MAC writes need VIRTIO_NET_F_CTRL_MAC_ADDR / legacy; the config is read-only here.
  }
  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    this.startWatching();
  }
  reset(): void {
    this.ctx = undefined;
    this.stopWatching();
  }

  private startWatching(): void {
    if (this.watching || !this.ctx) return;
    this.watching = true;
    this.backend.watchReadable(() => this.onReadable());
  }
  private stopWatching(): void {
    if (!this.watching) return;
    this.watching = false;
    this.backend.watchReadable(null);
  }

  private onReadable(): void {
    try {
      this.processRx();
    } catch (e) {
      this.stopWatching();
      this.ctx?.fail(e);
    }
  }

  queueNotify(index: number): void {
    if (index === 0) {
      this.startWatching();
      this.processRx();
    } else if (index === 1) this.processTx();
  }

  /** Moves waiting frames into the guest's receive buffers. */
  processRx(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const q = ctx.queues[0];
    let used = 0;
    for (;;) {
      const chain = q.pop(ctx.mem);
      if (!chain) {
        // No guest buffers: stop reading until the driver posts some (queue notify restarts us).
        this.stopWatching();
        break;
      }
      if (chain.writableLength < VIRTIO_NET_HDR_SIZE + 14) {
        // Cannot hold any frame (too small, or no writable buffer): give it back unused.
        this.stats.rxDropped++;
        q.addUsed(ctx.mem, chain.head, 0);
        used++;
        continue;
      }
      const n = this.backend.recv(this.frame);
      if (n < 0) {
        q.undoPop();
        break;
      }
      if (chain.writableLength < VIRTIO_NET_HDR_SIZE + n) {
        this.stats.rxDropped++;
        q.undoPop(); // keep the buffer for a frame that fits
        continue;
      }
      const w = chain.writer(ctx.mem);
      w.write(this.hdr);
      w.write(this.frame.subarray(0, n));
      q.addUsed(ctx.mem, chain.head, w.written);
      this.stats.rxFrames++;
      used++;
    }
    if (used && q.needsNotification(ctx.mem)) ctx.signalUsed(0);
  }

  /** Sends every frame the guest queued. */
  processTx(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const q = ctx.queues[1];
    let used = 0;
    for (let chain = q.pop(ctx.mem); chain; chain = q.pop(ctx.mem)) {
      const len = chain.readableLength;
      if (len < VIRTIO_NET_HDR_SIZE || len > VIRTIO_NET_HDR_SIZE + MAX_FRAME_SIZE) {
        this.stats.txDropped++;
      } else {
        const r = chain.reader(ctx.mem);
        r.skip(VIRTIO_NET_HDR_SIZE);
        const frame = this.frame.subarray(0, len - VIRTIO_NET_HDR_SIZE);
        r.readInto(frame);
        if (this.backend.send(frame)) this.stats.txFrames++;
        else this.stats.txDropped++;
      }
      q.addUsed(ctx.mem, chain.head, 0);
      used++;
    }
    if (used && q.needsNotification(ctx.mem)) ctx.signalUsed(1);
  }

  /**
   * The device's state for a snapshot: its MAC (the frames in flight are not kept: a network
   * loses packets, and the tap is opened again on restore).
   * @example fresh.restore(net.save());
   */
  save(): DeviceState {
    return {
      device: 'virtio-net',
      version: 1,
      mac: [...this.mac].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    };
  }

  /**
   * Checks a state from {@link Net.save}: the MAC must be this device's (the guest knows it).
   * @example fresh.restore(saved);
   */
  restore(state: DeviceState): void {
    const r = new StateReader('virtio-net', state, 1);
    const mac = r.string('mac');
    const mine = [...this.mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
    if (mac.toLowerCase() !== mine) throw r.bad('mac', `${mac} is not this device's MAC ${mine}`);
  }
}
