import { DeviceError } from '../errors.js';
import type { FuseFileSystem } from '../fuse/file-system.js';
import {
  FUSE_MAX_REQUEST,
  FuseServer,
  type FuseServerOptions,
  type FuseServerStats,
} from '../fuse/server.js';
import { readConfigBytes, type VirtioContext, type VirtioDevice } from './device.js';

/** virtio device ID of a file-system device (virtio 1.2 §5.11). */
export const VIRTIO_ID_FS = 26;
/** Bytes of a virtio-fs tag (UTF-8, NUL-padded, not NUL-terminated). */
export const VIRTIO_FS_TAG_BYTES = 36;

/**
 * Options for a {@link VirtioFs} device.
 * @example const opts: VirtioFsOptions = { tag: 'share', fileSystem: new MemoryFileSystem(), queueSize: 128 };
 */
export interface VirtioFsOptions extends FuseServerOptions {
  /** The name the guest mounts (`mount -t virtiofs TAG /mnt`): 1 to 36 bytes of UTF-8, no NUL. */
  tag: string;
  /** What the device serves. */
  fileSystem: FuseFileSystem;
  /** Size of each queue offered. Default 128. */
  queueSize?: number;
}

/**
 * virtio-fs (virtio 1.2 §5.11): a FUSE file system served to the guest over a hiprio queue (FORGET)
 * and one request queue, by a {@link FuseServer} over a {@link FuseFileSystem}. Requests are served
 * synchronously inside the queue notification; each is read whole (at most `maxWrite` plus 4 KiB)
 * and answered in its writable buffers. Malformed requests get an errno reply; a malformed ring sets
 * DEVICE_NEEDS_RESET, as for the other devices.
 *
 * @example
 * ```ts
 * import { MemoryFileSystem, VirtioFs, VirtioMmioTransport } from '@ts-vmm/devices';
 *
 * const share = new VirtioFs({ tag: 'data', fileSystem: new MemoryFileSystem() });
 * mmio.register(0xd000_3000, 0x1000, new VirtioMmioTransport(share, { mem, irq }), 'virtio-fs');
 * // in the guest: mount -t virtiofs data /mnt/data
 * ```
 */
export class VirtioFs implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_FS;
  readonly queueMaxSizes: readonly number[];
  readonly deviceFeatures = 0n;
  readonly tag: string;
  /** The FUSE server (its counters, node and handle counts). */
  readonly server: FuseServer;
  private readonly config = new Uint8Array(VIRTIO_FS_TAG_BYTES + 4);
  private ctx?: VirtioContext;
  private readonly request = new Uint8Array(FUSE_MAX_REQUEST);

  constructor(options: VirtioFsOptions) {
    const tag = options.tag;
    const bytes = new TextEncoder().encode(typeof tag === 'string' ? tag : '');
    if (
      typeof tag !== 'string' ||
      bytes.length === 0 ||
      bytes.length > VIRTIO_FS_TAG_BYTES ||
      bytes.includes(0)
    )
      throw new DeviceError(
        'invalid-config',
        'virtio-fs',
        `tag ${JSON.stringify(tag)} is not 1 to ${VIRTIO_FS_TAG_BYTES} bytes of UTF-8 without NUL`,
      );
    const qs = options.queueSize ?? 128;
    if (!Number.isInteger(qs) || qs < 1 || qs > 32768 || (qs & (qs - 1)) !== 0)
      throw new DeviceError(
        'invalid-config',
        'virtio-fs',
        `queueSize ${qs} is not a power of two in [1, 32768]`,
      );
    this.tag = tag;
    this.config.set(bytes);
    new DataView(this.config.buffer).setUint32(VIRTIO_FS_TAG_BYTES, 1, true);
    this.queueMaxSizes = [qs, qs];
    this.server = new FuseServer(options.fileSystem, options);
  }

  /** The server's counters. */
  get stats(): FuseServerStats {
    return this.server.stats;
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.config, offset, data);
  }
  writeConfig(): void {}
  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
  }
  reset(): void {
    this.ctx = undefined;
    this.server.resetState();
  }

  queueNotify(index: number): void {
    const ctx = this.ctx;
    if (!ctx || index < 0 || index >= ctx.queues.length) return;
    const q = ctx.queues[index];
    let used = 0;
    try {
      for (let chain = q.pop(ctx.mem); chain; chain = q.pop(ctx.mem)) {
        const n = Math.min(chain.readableLength, this.request.length);
        const req = this.request.subarray(0, n);
        chain.reader(ctx.mem).readInto(req);
        const reply = this.server.handle(req, chain.writableLength);
        const written = reply ? chain.writer(ctx.mem).write(reply) : 0;
        q.addUsed(ctx.mem, chain.head, written);
        used++;
      }
    } catch (e) {
      ctx.fail(e);
      return;
    } finally {
      if (used && q.needsNotification(ctx.mem)) ctx.signalUsed(index);
    }
  }
}
