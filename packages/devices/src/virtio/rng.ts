import { VIRTIO_ID } from './constants.js';
import { readConfigBytes, type VirtioContext, type VirtioDevice } from './device.js';

/** Most bytes handed out per request (a guest asking for more gets this many). */
export const RNG_MAX_BYTES_PER_REQUEST = 64 * 1024;

/** Options for an {@link Rng} device. */
export interface RngOptions {
  /** Queue size offered. Default 256. */
  queueSize?: number;
  /** Randomness source. Default `crypto.getRandomValues`. */
  fill?: (buf: Uint8Array) => void;
}

/**
 * virtio-rng (entropy device): fills each device-writable buffer the guest offers with host
 * randomness from `crypto.getRandomValues`, at most {@link RNG_MAX_BYTES_PER_REQUEST} per request.
 *
 * @example
 * ```ts
 * import { Rng, VirtioMmioTransport } from '@ts-vmm/devices';
 * mmio.register(0xd000_2000, 0x1000, new VirtioMmioTransport(new Rng(), { mem, irq }), 'virtio-rng');
 * ```
 */
export class Rng implements VirtioDevice {
  readonly deviceType = VIRTIO_ID.RNG;
  readonly queueMaxSizes: readonly number[];
  readonly deviceFeatures = 0n;
  /** Bytes of randomness handed to the guest. */
  bytesServed = 0;
  private ctx?: VirtioContext;
  private readonly fill: (buf: Uint8Array) => void;
  private readonly scratch = new Uint8Array(RNG_MAX_BYTES_PER_REQUEST);

  constructor(options: RngOptions = {}) {
    this.queueMaxSizes = [options.queueSize ?? 256];
    this.fill =
      options.fill ??
      ((buf) => {
        for (let o = 0; o < buf.length; o += 65536) crypto.getRandomValues(buf.subarray(o, o + 65536));
      });
  }
  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(new Uint8Array(0), offset, data);
  }
  writeConfig(): void {}
  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
  }
  reset(): void {
    this.ctx = undefined;
  }
  queueNotify(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const q = ctx.queues[0];
    let used = 0;
    for (let chain = q.pop(ctx.mem); chain; chain = q.pop(ctx.mem)) {
      const n = Math.min(chain.writableLength, RNG_MAX_BYTES_PER_REQUEST);
      const buf = this.scratch.subarray(0, n);
      this.fill(buf);
      const written = chain.writer(ctx.mem).write(buf);
      this.bytesServed += written;
      q.addUsed(ctx.mem, chain.head, written);
      used++;
    }
    if (used && q.needsNotification(ctx.mem)) ctx.signalUsed(0);
  }
}
