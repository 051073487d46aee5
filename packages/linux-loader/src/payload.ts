import { gunzipSync } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { DecompressError } from './decompress-error.js';
import { hex } from './hex.js';
import { decompressLz4Legacy } from './lz4.js';
import { parseSetupHeader } from './setup-header.js';

/** Compression formats a kernel payload can use, identified by magic. */
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
    throw new DecompressError(
      'no-payload',
      'bzImage: no payload_offset/payload_length (protocol before 2.08 or empty)',
    );
  }
  const start = hdr.kernelOffset + hdr.payloadOffset;
  return bzImage.subarray(start, start + hdr.payloadLength);
}

/** Options for {@link extractVmlinux}. */
export interface ExtractOptions {
  /** Refuse output larger than this. Default 1 GiB. */
  maxOutput?: number;
}

/**
 * Decompresses a bzImage's payload and returns the vmlinux ELF inside it, so a VMM can load the ELF
 * directly (PVH or 64-bit entry) and skip the kernel's self-decompression. LZ4 (legacy frames),
 * gzip and zstd (through the pure-JS `fzstd`) are decoded; other formats give a {@link DecompressError} of kind `'unsupported-compression'`
 * naming the magic.
 *
 * @example
 * ```ts
 * const vmlinux = extractVmlinux(fs.readFileSync('/boot/vmlinuz'));
 * const k = loadElf(vmlinux, mem);
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
      try {
        const out = gunzipSync(payload, { maxOutputLength: maxOutput });
        return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'ERR_BUFFER_TOO_LARGE')
          throw new DecompressError('too-large', `gzip: output exceeds ${maxOutput} bytes`);
        throw new DecompressError('corrupt', `gzip: ${(e as Error).message}`);
      }
    case 'zstd':
      return decompressZstd(payload, maxOutput);
    case 'none':
      return payload;
    default: {
      const magic = Array.from(payload.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new DecompressError(
        'unsupported-compression',
        `payload compression ${kind} (magic ${magic || 'none'}) is not supported; LZ4, gzip and zstd are${kind === 'unknown' ? '' : ` (${hex(payload.length)} bytes)`}`,
      );
    }
  }
}

/**
 * Decodes a zstd payload with the pure-JS `fzstd`, capping the output at `maxOutput`. The kernel build
 * appends the uncompressed size (4 bytes) after the frame: when the whole input does not decode,
 * it is retried without those 4 bytes.
 *
 * @example decompressPayload(zstdPayload) // via detectCompression() === 'zstd'
 */
function decompressZstd(payload: Uint8Array, maxOutput: number): Uint8Array {
  try {
    return zstdStream(payload, maxOutput);
  } catch (e) {
    if (e instanceof DecompressError && e.kind === 'too-large') throw e;
    if (payload.length <= 8) throw e;
    return zstdStream(payload.subarray(0, payload.length - 4), maxOutput);
  }
}

function zstdStream(input: Uint8Array, maxOutput: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  const d = new ZstdDecompress((chunk) => {
    total += chunk.length;
    if (total > maxOutput) throw new DecompressError('too-large', `zstd: output exceeds ${maxOutput} bytes`);
    parts.push(chunk.slice());
  });
  try {
    const step = 1 << 20;
    for (let o = 0; o < input.length; o += step) {
      const end = Math.min(o + step, input.length);
      d.push(input.subarray(o, end), end === input.length);
    }
  } catch (e) {
    if (e instanceof DecompressError) throw e;
    throw new DecompressError('corrupt', `zstd: ${(e as Error)?.message ?? String(e)}`);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
