import { LoaderError } from './errors.js';
import { hex } from './hex.js';

/**
 * Bounds-checked little-endian reads from an image held in host memory. Every read names what it was
 * reading when it fails, so truncated images give a {@link LoaderError} of kind `'bad-image'`.
 *
 * @example
 * ```ts
 * const r = new ImageReader(new Uint8Array(2), 'ELF image');
 * r.u32(0, 'e_ident'); // throws LoaderError('bad-image'): the image is shorter than 4 bytes
 * ```
 */
export class ImageReader {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Throws unless `[offset, offset+len)` lies inside the image. */
  need(offset: number, len: number, field: string): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(len) ||
      offset < 0 ||
      len < 0 ||
      offset + len > this.bytes.length
    ) {
      throw new LoaderError(
        'bad-image',
        `${this.what}: ${field} at offset ${hex(offset)} (${len} bytes) lies outside the ${this.bytes.length}-byte image`,
      );
    }
  }
  u8(offset: number, field: string): number {
    this.need(offset, 1, field);
    return this.view.getUint8(offset);
  }
  u16(offset: number, field: string): number {
    this.need(offset, 2, field);
    return this.view.getUint16(offset, true);
  }
  u32(offset: number, field: string): number {
    this.need(offset, 4, field);
    return this.view.getUint32(offset, true);
  }
  /** A u64 as a number; throws `bad-header` above 2^53. */
  u64(offset: number, field: string): number {
    this.need(offset, 8, field);
    const v = this.view.getBigUint64(offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new LoaderError('bad-image', `${this.what}: ${field} = ${hex(v)} is too large`);
    }
    return Number(v);
  }
  /** A sub-array (no copy). */
  sub(offset: number, len: number, field: string): Uint8Array {
    this.need(offset, len, field);
    return this.bytes.subarray(offset, offset + len);
  }
}
