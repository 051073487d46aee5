import { DeviceError } from '../errors.js';

/**
 * Completion of an asynchronous {@link DiskBackend} transfer: an error, or the bytes moved.
 * @example const done: DiskTransferCallback = (error, bytes) => console.log(error ?? `${bytes} bytes`);
 */
export type DiskTransferCallback = (error: Error | null, bytes: number) => void;

/**
 * Where a virtio-blk device's sectors live: positioned, vectored reads and writes of byte ranges,
 * in a synchronous form (the device's `'sync'` mode) and an asynchronous one (`'async'` mode).
 *
 * The buffers a backend gets are views of guest memory (zero-copy: a file backend reads straight
 * into the guest), valid only until the call returns (sync) or until it calls `done` (async); a
 * backend must not keep them. `readSync`/`read` may transfer fewer bytes than asked (the device
 * asks again for the rest) and transfer 0 at or past the end of the disk (the device fills the rest
 * with zeroes). A write of 0 bytes is an error. Errors are thrown (sync) or passed to `done`
 * (async); the device answers the guest's request with IOERR. `done` must be called exactly once
 * and never before the call returns.
 *
 * Implementations here: {@link MemoryDiskBackend} (portable) and `FileDiskBackend` (raw image file,
 * from `@ts-vmm/devices/node`).
 *
 * @example
 * ```ts
 * import type { DiskBackend, DiskTransferCallback } from '@ts-vmm/devices';
 *
 * // A disk of zeroes that refuses writes.
 * const zeroes: DiskBackend = {
 *   size: 1 << 20,
 *   readOnly: true,
 *   readSync(buffers, offset) {
 *     let n = 0;
 *     for (const b of buffers) {
 *       const k = Math.max(0, Math.min(b.length, (1 << 20) - offset - n));
 *       b.fill(0, 0, k);
 *       n += k;
 *       if (k < b.length) break;
 *     }
 *     return n;
 *   },
 *   writeSync() {
 *     throw new Error('read-only');
 *   },
 *   flushSync() {},
 *   read(buffers, offset, done: DiskTransferCallback) {
 *     queueMicrotask(() => done(null, zeroes.readSync(buffers, offset)));
 *   },
 *   write(_buffers, _offset, done) {
 *     queueMicrotask(() => done(new Error('read-only'), 0));
 *   },
 *   flush(done) {
 *     queueMicrotask(() => done(null));
 *   },
 *   close() {},
 * };
 * ```
 */
export interface DiskBackend {
  /** Disk size in bytes; the device exposes `Math.floor(size / 512)` sectors. */
  readonly size: number;
  /** The backend cannot write: the device offers VIRTIO_BLK_F_RO (and refuses `readOnly: false`). */
  readonly readOnly?: boolean;
  /** A name, the default GET_ID answer (the device keeps its first 20 bytes): a file name, say. */
  readonly name?: string;
  /** Reads into `buffers`, in order, from byte `offset`; returns the bytes read. */
  readSync(buffers: readonly Uint8Array[], offset: number): number;
  /** Writes `buffers`, in order, at byte `offset`; returns the bytes written. */
  writeSync(buffers: readonly Uint8Array[], offset: number): number;
  /** Makes earlier writes durable. */
  flushSync(): void;
  /** {@link DiskBackend.readSync}, completing through `done`. */
  read(buffers: readonly Uint8Array[], offset: number, done: DiskTransferCallback): void;
  /** {@link DiskBackend.writeSync}, completing through `done`. */
  write(buffers: readonly Uint8Array[], offset: number, done: DiskTransferCallback): void;
  /** {@link DiskBackend.flushSync}, completing through `done`. */
  flush(done: (error: Error | null) => void): void;
  /** Releases the backing (the device calls it from its own `close()`). */
  close(): void;
}

/**
 * Options for a {@link MemoryDiskBackend}.
 * @example const disk = new MemoryDiskBackend(4 << 20, { readOnly: true, name: 'seed' });
 */
export interface MemoryDiskBackendOptions {
  /** Refuse writes (the device offers VIRTIO_BLK_F_RO). Default false. */
  readOnly?: boolean;
  /** The default GET_ID answer. Default `'memdisk'`. */
  name?: string;
}

/**
 * A {@link DiskBackend} over bytes in memory: a fresh zeroed disk of a given size, or an existing
 * `Uint8Array` (a downloaded image, an OPFS file read into memory, a `SharedArrayBuffer` view
 * shared with another worker) that the guest's writes then change in place. Asynchronous calls
 * complete in a microtask. Works anywhere (no Node modules).
 *
 * @example
 * ```ts
 * import { Block, MemoryDiskBackend } from '@ts-vmm/devices';
 *
 * const image = new Uint8Array(8 << 20); // 8 MiB, e.g. from fetch(): new Uint8Array(await res.arrayBuffer())
 * const disk = new Block({ backend: new MemoryDiskBackend(image, { name: 'scratch' }) });
 * disk.capacity; // 16384 sectors
 * ```
 */
export class MemoryDiskBackend implements DiskBackend {
  /** The disk's bytes (the guest's writes land here). */
  readonly bytes: Uint8Array;
  readonly size: number;
  readonly readOnly: boolean;
  readonly name: string;
  /** Flushes requested (there is nothing to flush; counted for tests). */
  flushes = 0;
  private closed = false;

  /** `disk`: the size in bytes of a new zeroed disk, or the bytes to serve. */
  constructor(disk: number | Uint8Array, options: MemoryDiskBackendOptions = {}) {
    if (typeof disk === 'number') {
      if (!Number.isSafeInteger(disk) || disk < 0)
        throw new DeviceError('invalid-config', 'virtio-blk', `memory disk size ${disk} is not a byte count`);
      this.bytes = new Uint8Array(disk);
    } else this.bytes = disk;
    this.size = this.bytes.length;
    this.readOnly = options.readOnly ?? false;
    this.name = options.name ?? 'memdisk';
  }

  private check(offset: number): void {
    if (this.closed) throw new DeviceError('closed', 'virtio-blk', `memory disk ${this.name} is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new DeviceError('io', 'virtio-blk', `disk offset ${offset} is invalid`);
  }

  readSync(buffers: readonly Uint8Array[], offset: number): number {
    this.check(offset);
    let pos = offset;
    for (const b of buffers) {
      const n = Math.max(0, Math.min(b.length, this.size - pos));
      b.set(this.bytes.subarray(pos, pos + n));
      pos += n;
      if (n < b.length) break;
    }
    return pos - offset;
  }

  writeSync(buffers: readonly Uint8Array[], offset: number): number {
    this.check(offset);
    if (this.readOnly) throw new DeviceError('io', 'virtio-blk', `memory disk ${this.name} is read-only`);
    let pos = offset;
    for (const b of buffers) {
      const n = Math.max(0, Math.min(b.length, this.size - pos));
      this.bytes.set(n === b.length ? b : b.subarray(0, n), pos);
      pos += n;
      if (n < b.length) break;
    }
    return pos - offset;
  }

  flushSync(): void {
    this.check(0);
    this.flushes++;
  }

  read(buffers: readonly Uint8Array[], offset: number, done: DiskTransferCallback): void {
    later(() => this.readSync(buffers, offset), done);
  }

  write(buffers: readonly Uint8Array[], offset: number, done: DiskTransferCallback): void {
    later(() => this.writeSync(buffers, offset), done);
  }

  flush(done: (error: Error | null) => void): void {
    later(
      () => {
        this.flushSync();
        return 0;
      },
      (e) => done(e),
    );
  }

  close(): void {
    this.closed = true;
  }
}

/** Runs `f` in a microtask and reports its result or error to `done`. */
function later(f: () => number, done: DiskTransferCallback): void {
  queueMicrotask(() => {
    let n: number;
    try {
      n = f();
    } catch (e) {
      done(e instanceof Error ? e : new Error(String(e)), 0);
      return;
    }
    done(null, n);
  });
}
