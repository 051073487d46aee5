/**
 * Where a virtio-net device's frames come from and go to. Frames are plain Ethernet frames (no
 * virtio-net header): the device adds and strips the header.
 *
 * Receive is pull-based so that the device only takes a frame when the guest has a buffer for it:
 * the backend calls the `watchReadable` callback when frames may be waiting, and the device calls
 * `recv` until it returns -1 (or it runs out of guest buffers, in which case it stops watching until
 * the guest posts more).
 *
 * @example
 * ```ts
 * const backend = new MemoryNetBackend();
 * backend.inject(frame);       // host -> guest
 * backend.sent;                // guest -> host frames
 * ```
 */
export interface NetBackend {
  /** Sends one frame; returns false when it was dropped (the host side is full or gone). */
  send(frame: Uint8Array): boolean;
  /** Copies the next waiting frame into `buf` and returns its length, or -1 when none waits. Longer frames are truncated. */
  recv(buf: Uint8Array): number;
  /** Starts (callback) or stops (null) readiness notifications. */
  watchReadable(callback: (() => void) | null): void;
  /** Releases host resources. */
  close(): void;
}

/**
 * An in-memory {@link NetBackend}: frames sent by the guest collect in {@link MemoryNetBackend.sent};
 * {@link MemoryNetBackend.inject} queues frames for the guest (bounded; excess is dropped).
 *
 * @example
 * ```ts
 * const backend = new MemoryNetBackend();
 * const net = new Net({ backend });
 * backend.inject(arpRequest); // reaches the guest's next receive buffer
 * ```
 */
export class MemoryNetBackend implements NetBackend {
  /** Frames the guest sent. */
  readonly sent: Uint8Array[] = [];
  private readonly queue: Uint8Array[] = [];
  private cb: (() => void) | null = null;
  /** Frames dropped because the receive queue was full. */
  dropped = 0;
  constructor(readonly maxQueued = 256) {}
  send(frame: Uint8Array): boolean {
    this.sent.push(frame.slice());
    return true;
  }
  recv(buf: Uint8Array): number {
    const f = this.queue.shift();
    if (!f) return -1;
    const n = Math.min(f.length, buf.length);
    buf.set(f.subarray(0, n));
    return n;
  }
  watchReadable(callback: (() => void) | null): void {
    this.cb = callback;
    if (callback && this.queue.length) queueMicrotask(() => this.cb?.());
  }
  /** Queues a frame for the guest; returns false when the queue was full. */
  inject(frame: Uint8Array): boolean {
    if (this.queue.length >= this.maxQueued) {
      this.dropped++;
      return false;
    }
    this.queue.push(frame.slice());
    this.cb?.();
    return true;
  }
  /** Frames waiting for the guest. */
  get queued(): number {
    return this.queue.length;
  }
  close(): void {
    this.cb = null;
  }
}
