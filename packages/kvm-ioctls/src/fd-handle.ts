/**
 * Ownership of one file descriptor: ioctls through it, and a `close()` after which every use throws a
 * {@link KvmError} of kind `'closed'` (never a raw EBADF, nor an ioctl on a reused fd number).
 *
 * @module
 */
import { KvmError } from './errors.js';
import type { NativeAddon } from './sys.js';

/** Base of the fd wrappers (`Kvm`, `VmFd`, `VcpuFd`, `DeviceFd`). */
export abstract class FdHandle {
  #fd: number;
  #owned: boolean;
  /** The native addon. */
  protected readonly sys: NativeAddon;
  /** Name used in error messages (`'VmFd'`). */
  protected abstract readonly what: string;

  protected constructor(sys: NativeAddon, fd: number, owned = true) {
    this.sys = sys;
    this.#fd = fd;
    this.#owned = owned;
  }

  /** The raw fd (throws once closed). */
  get fd(): number {
    if (this.#fd < 0) throw KvmError.closed(this.what, `${this.what}.fd`);
    return this.#fd;
  }

  /** Whether {@link FdHandle.close} was called. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** The fd for `operation`, or a 'closed' error. */
  protected fdFor(operation: string): number {
    const fd = this.#fd;
    if (fd < 0) throw KvmError.closed(this.what, operation);
    return fd;
  }

  /** ioctl with errors mapped to {@link KvmError} naming `operation`. */
  protected ioctl(operation: string, request: number, arg?: number | bigint | ArrayBufferView): number {
    const fd = this.fdFor(operation);
    try {
      return this.sys.ioctl(fd, request, arg);
    } catch (e) {
      throw KvmError.fromSyscall(operation, e);
    }
  }

  /** Releases resources tied to the fd, before it is closed. */
  protected onClose(): void {}

  /** Closes the fd (idempotent). */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.onClose();
    this.#fd = -1;
    if (this.#owned) {
      try {
        this.sys.close(fd);
      } catch (e) {
        throw KvmError.fromSyscall(`close ${this.what}`, e);
      }
    }
  }
}
