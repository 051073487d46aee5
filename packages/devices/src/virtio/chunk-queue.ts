/**
 * A byte FIFO in fixed-size chunks, allocated as bytes arrive and released as they leave: what a
 * vsock connection holds for the host or the guest costs its bytes plus at most two partly used
 * chunks, however small the packets that brought them (no per-packet object is kept).
 *
 * {@link ChunkQueue.front} hands out a view of the oldest bytes; appending never touches bytes
 * that have not been consumed, so a view given to an asynchronous writer stays valid until it is
 * consumed.
 */
export class ChunkQueue {
  private chunks: Uint8Array[] = [];
  /** Read offset in `chunks[0]`. */
  private head = 0;
  /** Fill of the last chunk. */
  private tail = 0;
  /** Bytes held. */
  length = 0;

  constructor(readonly chunkSize: number) {}

  /** Bytes of memory the chunks take. */
  get capacity(): number {
    return this.chunks.length * this.chunkSize;
  }

  /** Appends a copy of `bytes`. */
  push(bytes: Uint8Array): void {
    let off = 0;
    this.append(bytes.length, (dst) => {
      dst.set(bytes.subarray(off, off + dst.length));
      off += dst.length;
      return dst.length;
    });
  }

  /**
   * Appends up to `n` bytes that `fill` writes into the views it is given (returning how many it
   * wrote; fewer ends the append). Returns the count appended.
   */
  append(n: number, fill: (dst: Uint8Array) => number): number {
    let done = 0;
    while (done < n) {
      if (this.chunks.length === 0 || this.tail === this.chunkSize) {
        this.chunks.push(new Uint8Array(this.chunkSize));
        this.tail = 0;
      }
      const last = this.chunks[this.chunks.length - 1];
      const k = Math.min(n - done, this.chunkSize - this.tail);
      const got = fill(last.subarray(this.tail, this.tail + k));
      this.tail += got;
      this.length += got;
      done += got;
      if (got < k) break;
    }
    return done;
  }

  /** The oldest held bytes that are contiguous in memory, at most `max` (a view, valid until consumed). */
  front(max = Number.POSITIVE_INFINITY): Uint8Array {
    if (this.length === 0) return this.chunks[0]?.subarray(0, 0) ?? new Uint8Array(0);
    const end = this.chunks.length === 1 ? this.tail : this.chunkSize;
    return this.chunks[0].subarray(this.head, Math.min(end, this.head + max));
  }

  /** Drops the oldest `n` bytes (at most {@link ChunkQueue.length}), releasing emptied chunks. */
  consume(n: number): void {
    n = Math.min(n, this.length);
    this.length -= n;
    while (n > 0) {
      const end = this.chunks.length === 1 ? this.tail : this.chunkSize;
      const k = Math.min(n, end - this.head);
      this.head += k;
      n -= k;
      if (this.head === end) {
        this.chunks.shift();
        this.head = 0;
        if (this.chunks.length === 0) this.tail = 0;
      }
    }
  }

  /** Copies out and consumes up to `dst.length` bytes; returns the count. */
  takeInto(dst: Uint8Array): number {
    let done = 0;
    while (done < dst.length && this.length > 0) {
      const f = this.front(dst.length - done);
      dst.set(f, done);
      done += f.length;
      this.consume(f.length);
    }
    return done;
  }

  /** Drops everything and releases the chunks. */
  clear(): void {
    this.chunks = [];
    this.head = this.tail = this.length = 0;
  }
}
