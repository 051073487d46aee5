import { Gunzip } from 'fflate';
import { Decompress as ZstdDecompress } from 'fzstd';
import { LoaderError } from './errors.js';
import { hex } from './hex.js';
import { decompressLz4Legacy } from './lz4.js';
import { parseSetupHeader } from './setup-header.js';

/**
 * Compression formats a kernel payload can use, identified by magic.
 * @example const c: PayloadCompression = detectCompression(bzImagePayload(image)); // 'lz4' for Debian's kernel
 */
export type PayloadCompression =
  | 'gzip'
  | 'bzip2'
  | 'lzma'
  | 'xz'
  | 'lzo'
  | 'lz4'
  | 'zstd'
  | 'none'
  | 'unknown';

const MAGICS: [PayloadCompression, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['none', [0x7f, 0x45, 0x4c, 0x46]],
];

/** Identifies a payload's compression by its magic bytes. @example detectCompression(Uint8Array.of(0x1f, 0x8b, 8)) // 'gzip' */
export function detectCompression(payload: Uint8Array): PayloadCompression {
  for (const [name, magic] of MAGICS) {
    if (payload.length >= magic.length && magic.every((b, i) => payload[i] === b)) return name;
  }
  return 'unknown';
}

/** The compressed payload of a bzImage (`payload_offset`/`payload_length`, protocol 2.08+). @example bzImagePayload(img).length */
export function bzImagePayload(bzImage: Uint8Array): Uint8Array {
  const hdr = parseSetupHeader(bzImage);
  if (hdr.version < 0x208 || hdr.payloadLength === 0) {
    throw new LoaderError(
      'unsupported',
      'bzImage: no payload_offset/payload_length (protocol before 2.08 or empty)',
    );
  }
  const start = hdr.kernelOffset + hdr.payloadOffset;
  return bzImage.subarray(start, start + hdr.payloadLength);
}

/**
 * Options for {@link extractVmlinux}.
 * @example extractVmlinux(image, { maxOutput: 256 << 20 } satisfies ExtractOptions);
 */
export interface ExtractOptions {
  /** Refuse output larger than this. Default 1 GiB. */
  maxOutput?: number;
}

/**
 * Decompresses a bzImage's payload and returns the vmlinux ELF inside it, so a VMM can load the ELF
 * directly (PVH or 64-bit entry) and skip the kernel's self-decompression. LZ4 (legacy frames, a
 * decoder of this package), gzip (through the pure-JS `fflate`) and zstd (through the pure-JS
 * `fzstd`) are decoded; other formats give a {@link LoaderError} of kind `'unsupported'` naming the
 * magic, a corrupt payload or one past `maxOutput` one of kind `'decompress'`.
 *
 * @example
 * ```ts
 * const vmlinux = extractVmlinux(new Uint8Array(fs.readFileSync(kernelPath)));
 * const k = loadElf(vmlinux, mem); // k.pvhEntry: the PVH entry, when the kernel has one
 * ```
 */
export function extractVmlinux(bzImage: Uint8Array, options: ExtractOptions = {}): Uint8Array {
  const payload = bzImagePayload(bzImage);
  return decompressPayload(payload, options);
}

/** Decompresses a kernel payload by its magic (see {@link extractVmlinux}). @example decompressPayload(bzImagePayload(img)) */
export function decompressPayload(payload: Uint8Array, options: ExtractOptions = {}): Uint8Array {
  const maxOutput = options.maxOutput ?? 1 << 30;
  const kind = detectCompression(payload);
  switch (kind) {
    case 'lz4':
      return decompressLz4Legacy(payload, { maxOutput });
    case 'gzip':
      return decompressGzip(payload, maxOutput);
    case 'zstd':
      return decompressZstd(payload, maxOutput);
    case 'none':
      return payload;
    default: {
      const magic = Array.from(payload.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new LoaderError(
        'unsupported',
        `payload compression ${kind} (magic ${magic || 'none'}) is not supported; LZ4, gzip and zstd are${kind === 'unknown' ? '' : ` (${hex(payload.length)} bytes)`}`,
      );
    }
  }
}

/**
 * Decodes a gzip payload (one or more members) with the pure-JS `fflate`, capping the output at
 * `maxOutput`. A single-member stream's ISIZE trailer (the length modulo 2^32) is checked, since
 * `fflate` does not check the CRC.
 */
function decompressGzip(payload: Uint8Array, maxOutput: number): Uint8Array {
  const out = new Chunks('gzip', maxOutput);
  let more = 0; // members after the first (fflate reports only those)
  const g = new Gunzip((chunk) => out.push(chunk));
  g.onmember = () => {
    more++;
  };
  feed('gzip', payload, (part, final) => g.push(part, final));
  if (more === 0 && payload.length >= 18) {
    const isize = new DataView(payload.buffer, payload.byteOffset + payload.length - 4, 4).getUint32(0, true);
    if (isize !== out.total >>> 0) {
      throw new LoaderError(
        'decompress',
        `gzip: the trailer says ${isize} bytes (mod 2^32) but the stream decoded to ${out.total}`,
      );
    }
  }
  return out.join();
}

/**
 * Decodes a zstd payload with the pure-JS `fzstd`, capping the output at `maxOutput`. The kernel build
 * appends the uncompressed size (4 bytes) after the frame: when the whole input does not decode,
 * it is retried without those 4 bytes.
 */
function decompressZstd(payload: Uint8Array, maxOutput: number): Uint8Array {
  const whole = new Chunks('zstd', maxOutput);
  try {
    return zstdStream(payload, whole);
  } catch (e) {
    if (whole.overflow || payload.length <= 8) throw e;
    return zstdStream(payload.subarray(0, payload.length - 4), new Chunks('zstd', maxOutput));
  }
}

function zstdStream(input: Uint8Array, out: Chunks): Uint8Array {
  const d = new ZstdDecompress((chunk) => out.push(chunk));
  feed('zstd', input, (part, final) => d.push(part, final));
  return out.join();
}

/** Pushes `input` to a streaming decoder in 1 MiB parts, turning its errors into {@link LoaderError}s. */
function feed(what: string, input: Uint8Array, push: (part: Uint8Array, final: boolean) => void): void {
  try {
    const step = 1 << 20;
    if (input.length === 0) push(input, true);
    for (let o = 0; o < input.length; o += step) {
      const end = Math.min(o + step, input.length);
      push(input.subarray(o, end), end === input.length);
    }
  } catch (e) {
    if (e instanceof LoaderError) throw e;
    throw new LoaderError('decompress', `${what}: ${(e as Error)?.message ?? String(e)}`, e);
  }
}

/** Output collected from a streaming decoder, refused past `max` bytes. */
class Chunks {
  private readonly parts: Uint8Array[] = [];
  total = 0;
  overflow = false;
  constructor(
    private readonly what: string,
    private readonly max: number,
  ) {}

  push(chunk: Uint8Array): void {
    this.total += chunk.length;
    if (this.total > this.max) {
      this.overflow = true;
      throw new LoaderError('decompress', `${this.what}: output exceeds maxOutput (${this.max} bytes)`);
    }
    this.parts.push(chunk.slice());
  }

  join(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.total);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
