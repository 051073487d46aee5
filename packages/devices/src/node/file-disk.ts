import * as fs from 'node:fs';
import { DeviceError } from '../errors.js';
import type { DiskBackend, DiskTransferCallback } from '../virtio/disk.js';

/**
 * Options for {@link FileDiskBackend.open}.
 * @example const backend = FileDiskBackend.open('/dev/loop0', { readOnly: true, sizeBytes: 64 << 20 });
 */
export interface FileDiskOptions {
  /** Open the image read-only (the device then offers VIRTIO_BLK_F_RO). Default false. */
  readOnly?: boolean;
  /**
   * Disk size in bytes. Default: the file's size. Needed for block devices (`/dev/loop0`), whose
   * `fstat` size is 0; a size larger than a regular file is refused.
   */
  sizeBytes?: number;
}

/**
 * A {@link DiskBackend} over a raw image file or block device (node:fs). Transfers go straight
 * between the file and guest memory: one `pread`/`pwrite` for a single buffer, `preadv`/`pwritev`
 * for several; the asynchronous forms run on libuv's thread pool. Node only
 * (`@ts-vmm/devices/node`).
 *
 * @example
 * ```ts
 * import { Block } from '@ts-vmm/devices';
 * import { FileDiskBackend } from '@ts-vmm/devices/node';
 *
 * const disk = new Block({ backend: FileDiskBackend.open('/var/lib/vm/rootfs.ext4'), id: 'rootfs' });
 * // ... disk.close() closes the file
 * ```
 */
export class FileDiskBackend implements DiskBackend {
  readonly size: number;
  readonly readOnly: boolean;
  /** The file name (the default GET_ID answer). */
  readonly name: string;
  private open = true;

  private constructor(
    /** The image's path. */
    readonly path: string,
    private readonly fd: number,
    size: number,
    readOnly: boolean,
  ) {
    this.size = size;
    this.readOnly = readOnly;
    this.name = path.split('/').pop() ?? '';
  }

  /**
   * Opens `path` (`r+`, or `r` when read-only). Throws a `DeviceError`: `'io'` when the file cannot be
   * opened, `'invalid-config'` for a bad `sizeBytes` or a non-regular file without one.
   * @example const backend = FileDiskBackend.open('/dev/loop0', { sizeBytes: 64 << 20 });
   */
  static open(path: string, options: FileDiskOptions = {}): FileDiskBackend {
    const readOnly = options.readOnly ?? false;
    let fd: number;
    try {
      fd = fs.openSync(path, readOnly ? 'r' : 'r+');
    } catch (e) {
      throw new DeviceError('io', 'virtio-blk', `cannot open disk image ${path}: ${(e as Error).message}`, e);
    }
    try {
      const st = fs.fstatSync(fd);
      let size = st.size;
      if (options.sizeBytes !== undefined) {
        const s = options.sizeBytes;
        if (!Number.isSafeInteger(s) || s < 0 || (st.isFile() && s > st.size)) {
          throw new DeviceError(
            'invalid-config',
            'virtio-blk',
            `sizeBytes ${s} is invalid for ${path} (file size ${st.size})`,
          );
        }
        size = s;
      } else if (!st.isFile()) {
        throw new DeviceError(
          'invalid-config',
          'virtio-blk',
          `${path} is not a regular file: give its size with sizeBytes`,
        );
      }
      return new FileDiskBackend(path, fd, size, readOnly);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Refuses use after close (the fd number may belong to another file by then). */
  private refuse(): never {
    throw new DeviceError('closed', 'virtio-blk', `disk image ${this.path} is closed`);
  }

  readSync(buffers: readonly Uint8Array[], offset: number): number {
    if (!this.open) this.refuse();
    if (buffers.length === 1) {
      const b = buffers[0];
      return fs.readSync(this.fd, b, 0, b.length, offset);
    }
    return fs.readvSync(this.fd, buffers as Uint8Array[], offset);
  }

  writeSync(buffers: readonly Uint8Array[], offset: number): number {
    if (!this.open) this.refuse();
    if (buffers.length === 1) {
      const b = buffers[0];
      return fs.writeSync(this.fd, b, 0, b.length, offset);
    }
    return fs.writevSync(this.fd, buffers as Uint8Array[], offset);
  }

  flushSync(): void {
    if (!this.open) this.refuse();
    fs.fsyncSync(this.fd);
  }

  read(buffers: readonly Uint8Array[], offset: number, done: DiskTransferCallback): void {
    const fd = this.fdOrFail(done);
    if (fd < 0) return;
    if (buffers.length === 1) fs.read(fd, buffers[0], 0, buffers[0].length, offset, done);
    else fs.readv(fd, buffers as Uint8Array[], offset, done);
  }

  write(buffers: readonly Uint8Array[], offset: number, done: DiskTransferCallback): void {
    const fd = this.fdOrFail(done);
    if (fd < 0) return;
    if (buffers.length === 1) fs.write(fd, buffers[0], 0, buffers[0].length, offset, done);
    else fs.writev(fd, buffers as Uint8Array[], offset, done);
  }

  flush(done: (error: Error | null) => void): void {
    const fd = this.fdOrFail(done);
    if (fd >= 0) fs.fsync(fd, done);
  }

  /** Closes the file (once). */
  close(): void {
    if (!this.open) return;
    this.open = false;
    fs.closeSync(this.fd);
  }

  private fdOrFail(done: (error: Error | null, bytes: number) => void): number {
    if (this.open) return this.fd;
    const e = new DeviceError('closed', 'virtio-blk', `disk image ${this.path} is closed`);
    queueMicrotask(() => done(e, 0));
    return -1;
  }
}
