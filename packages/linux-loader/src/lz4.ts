import { LoaderError } from './errors.js';
import { hex } from './hex.js';

/** Magic of the legacy LZ4 frame format (`lz4 -l`), as the kernel uses it. */
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Each legacy block decompresses to at most 8 MiB. */
export const LZ4_LEGACY_BLOCK_SIZE = 8 << 20;

/** One block's output buffer, reused across calls (blocks are copied out before the next decode). */
let scratch: Uint8Array | undefined;

/** Options for {@link decompressLz4Legacy}. */
export interface Lz4Options {
  /** Refuse output larger than this many bytes. Default 1 GiB. */
  maxOutput?: number;
}

/**
 * Decodes an LZ4 legacy stream: magic 0x184C2102, then blocks of `u32 compressedSize` + LZ4 block
 * data, each decoding to at most 8 MiB; a repeated magic starts a new frame. A trailing 4-byte value
 * (the kernel build appends the uncompressed size) ends the stream and is checked when present.
 * Every length and match offset is bounds-checked: malformed input gives a {@link LoaderError}.
 *
 * @example
 * ```ts
 * const vmlinux = decompressLz4Legacy(payload);
 * ```
 */
export function decompressLz4Legacy(input: Uint8Array, options: Lz4Options = {}): Uint8Array {
  const maxOutput = options.maxOutput ?? 1 << 30;
  const v = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (input.length < 4 || v.getUint32(0, true) !== LZ4_LEGACY_MAGIC) {
    throw new LoaderError('decompress', 'lz4: stream does not start with the legacy magic 0x184c2102');
  }
  // The kernel appends the uncompressed size: when it is plausible, decode straight into the output.
  const hinted = input.length >= 8 ? v.getUint32(input.length - 4, true) : 0;
  const plausible = hinted > 0 && hinted <= maxOutput && hinted <= input.length * 255;
  const direct = plausible ? new Uint8Array(hinted) : undefined;
  let inDirect = 0; // bytes of output held in `direct` (a prefix); the rest is in `chunks`
  scratch ??= new Uint8Array(LZ4_LEGACY_BLOCK_SIZE);
  const chunks: Uint8Array[] = [];
  let total = 0;
  let p = 4;
  let trailer: number | undefined;
  while (p < input.length) {
    if (input.length - p < 4) {
      throw new LoaderError('decompress', `lz4: ${input.length - p} stray byte(s) at offset ${hex(p)}`);
    }
    const size = v.getUint32(p, true);
    if (size === LZ4_LEGACY_MAGIC) {
      p += 4;
      continue;
    }
    if (p + 4 === input.length) {
      trailer = size; // appended uncompressed size, or a zero-length end marker
      p += 4;
      break;
    }
    p += 4;
    if (size > input.length - p) {
      throw new LoaderError(
        'decompress',
        `lz4: block at ${hex(p - 4)} claims ${size} bytes but only ${input.length - p} remain`,
      );
    }
    if (direct && inDirect === total && total + LZ4_LEGACY_BLOCK_SIZE <= direct.length) {
      total += decodeLz4Block(input, p, p + size, direct.subarray(total, total + LZ4_LEGACY_BLOCK_SIZE));
      inDirect = total;
    } else {
      const n = decodeLz4Block(input, p, p + size, scratch);
      if (total + n > maxOutput)
        throw new LoaderError('decompress', `lz4: output exceeds ${maxOutput} bytes`);
      if (direct && inDirect === total && total + n <= direct.length) {
        direct.set(scratch.subarray(0, n), total);
        inDirect = total + n;
      } else chunks.push(scratch.slice(0, n));
      total += n;
    }
    if (total > maxOutput) throw new LoaderError('decompress', `lz4: output exceeds ${maxOutput} bytes`);
    p += size;
  }
  if (trailer !== undefined && trailer !== 0 && trailer !== total) {
    throw new LoaderError(
      'decompress',
      `lz4: trailing size field says ${trailer} bytes but the stream decoded to ${total}`,
    );
  }
  if (direct && inDirect === total && total === direct.length) return direct;
  const out = new Uint8Array(total);
  if (direct) out.set(direct.subarray(0, inDirect));
  let o = inDirect;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Decodes one raw LZ4 block `src[start, end)` into `dst` (from index 0), returning the byte count.
 * Bounds-checked: a literal or match that would overrun `dst`, a zero or too-far offset, or a
 * sequence cut short by the end of the block throws {@link LoaderError}.
 *
 * @example
 * ```ts
 * const out = new Uint8Array(64);
 * const n = decodeLz4Block(Uint8Array.of(0x50, 104, 101, 108, 108, 111), 0, 6, out); // "hello"
 * ```
 */
export function decodeLz4Block(src: Uint8Array, start: number, end: number, dst: Uint8Array): number {
  let ip = start;
  let op = 0;
  const cap = dst.length;
  const corrupt = (why: string): never => {
    throw new LoaderError('decompress', `lz4: block at ${hex(start)}: ${why} (input offset ${hex(ip)})`);
  };
  while (true) {
    if (ip >= end) corrupt('block ends before its last sequence');
    const token = src[ip++];
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= end) corrupt('literal length runs past the block');
        b = src[ip++];
        lit += b;
      } while (b === 255);
    }
    if (lit > end - ip) corrupt(`literal run of ${lit} bytes runs past the block`);
    if (lit > cap - op) corrupt(`literal run of ${lit} bytes overflows the ${cap}-byte block output`);
    if (lit <= 32) {
      for (let i = 0; i < lit; i++) dst[op + i] = src[ip + i];
    } else {
      dst.set(src.subarray(ip, ip + lit), op);
    }
    ip += lit;
    op += lit;
    if (ip === end) return op; // last sequence: literals only
    if (end - ip < 2) corrupt('match offset cut short');
    const offset = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    if (offset === 0 || offset > op)
      corrupt(`match offset ${offset} reaches before the block start (at ${op})`);
    let len = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (ip >= end) corrupt('match length runs past the block');
        b = src[ip++];
        len += b;
      } while (b === 255);
    }
    if (len > cap - op) corrupt(`match of ${len} bytes overflows the ${cap}-byte block output`);
    let from = op - offset;
    if (len <= 32 || (offset < 8 && offset !== 1)) {
      for (let i = 0; i < len; i++) dst[op++] = dst[from++]; // byte order makes overlaps repeat the pattern
    } else if (offset === 1) {
      dst.fill(dst[from], op, op + len);
      op += len;
    } else if (offset >= len) {
      dst.copyWithin(op, from, from + len);
      op += len;
    } else {
      // Overlapping: copy whole periods of the pattern; each copy doubles what is available.
      let done = 0;
      let period = offset;
      while (done < len) {
        const n = Math.min(period, len - done);
        dst.copyWithin(op + done, from, from + n);
        done += n;
        period += n;
      }
      op += len;
    }
  }
}
