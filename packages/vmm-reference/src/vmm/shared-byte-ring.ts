/**
 * A single-producer, single-consumer byte ring in a SharedArrayBuffer: console bytes between a vCPU
 * thread that owns the serial port and the main thread that owns the terminal. Neither side blocks:
 * a full ring takes what fits, an empty one gives nothing.
 *
 * @module
 */

const HEAD = 0; // bytes consumed (reader)
const TAIL = 1; // bytes produced (writer)
const DATA = 16;

/**
 * @example
 * ```ts
 * const ring = SharedByteRing.create(4096);
 * ring.write(Uint8Array.of(1, 2, 3)); // 3
 * ring.read(); // Uint8Array [1, 2, 3]
 * ```
 */
export class SharedByteRing {
  readonly sab: SharedArrayBuffer;
  private readonly idx: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly mask: number;

  /** A ring of `capacity` bytes (rounded up to a power of two). */
  static create(capacity: number): SharedByteRing {
    let size = 16;
    while (size < capacity) size *= 2;
    return new SharedByteRing(new SharedArrayBuffer(DATA + size));
  }

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.idx = new Int32Array(sab, 0, 4);
    this.bytes = new Uint8Array(sab, DATA);
    this.mask = this.bytes.length - 1;
    if ((this.bytes.length & this.mask) !== 0) throw new RangeError('ring size must be a power of two');
  }

  get capacity(): number {
    return this.bytes.length;
  }

  /** Bytes waiting to be read. */
  get available(): number {
    return (Atomics.load(this.idx, TAIL) - Atomics.load(this.idx, HEAD)) | 0;
  }

  /** Writer: appends what fits; returns the count written. */
  write(data: Uint8Array): number {
    const head = Atomics.load(this.idx, HEAD);
    const tail = Atomics.load(this.idx, TAIL);
    const free = this.bytes.length - ((tail - head) | 0);
    const n = Math.min(free, data.length);
    for (let i = 0; i < n; i++) this.bytes[(tail + i) & this.mask] = data[i];
    if (n > 0) {
      Atomics.store(this.idx, TAIL, (tail + n) | 0);
      Atomics.notify(this.idx, TAIL);
    }
    return n;
  }

  /** Reader: copies up to `max` waiting bytes without consuming them. */
  peek(max = this.bytes.length): Uint8Array {
    const head = Atomics.load(this.idx, HEAD);
    const n = Math.min(max, (Atomics.load(this.idx, TAIL) - head) | 0);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.bytes[(head + i) & this.mask];
    return out;
  }

  /** Reader: drops `n` bytes (after a {@link SharedByteRing.peek}). */
  consume(n: number): void {
    Atomics.store(this.idx, HEAD, (Atomics.load(this.idx, HEAD) + n) | 0);
  }

  /** Reader: takes up to `max` bytes. */
  read(max?: number): Uint8Array {
    const out = this.peek(max);
    this.consume(out.length);
    return out;
  }

  /** Reader: resolves when bytes are (or become) available, or after `timeoutMs`. */
  async whenReadable(timeoutMs?: number): Promise<void> {
    const tail = Atomics.load(this.idx, TAIL);
    if (((tail - Atomics.load(this.idx, HEAD)) | 0) > 0) return;
    const r = (
      Atomics as unknown as {
        waitAsync(a: Int32Array, i: number, v: number, t?: number): { async: boolean; value: unknown };
      }
    ).waitAsync(this.idx, TAIL, tail, timeoutMs);
    if (r.async) await r.value;
  }
}
