import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecompressError } from './decompress-error.js';
import { decodeLz4Block, decompressLz4Legacy } from './lz4.js';
import { decompressPayload, detectCompression, extractVmlinux } from './payload.js';
import { makeBzImage, pseudoRandom } from './test-images.js';

/** Byte equality without vitest's per-index diffing (which exhausts the heap on megabytes). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

const hasZstd = spawnSync('sh', ['-c', 'command -v zstd']).status === 0;
if (!hasZstd) console.log('skipped: zstd payload round trip (zstd not installed)');
const hasLz4 = spawnSync('sh', ['-c', 'command -v lz4']).status === 0;
if (!hasLz4) console.log('skipped: lz4 CLI round trips (lz4 not installed)');

function lz4Legacy(data: Uint8Array): Uint8Array {
  const r = spawnSync('lz4', ['-l', '-c', '-9'], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`lz4 failed: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

/** Text-like data that compresses well, with long runs and overlapping matches. */
function compressible(n: number): Uint8Array {
  const words = ['kernel ', 'virtio ', 'aaaaaaaaaaaaaaaaaaaa', '\0\0\0\0\0\0\0\0', 'ts-vmm '];
  const out = new Uint8Array(n);
  const r = pseudoRandom(n, 11);
  let i = 0;
  while (i < n) {
    const w = words[r[i] % words.length];
    for (let j = 0; j < w.length && i < n; j++) out[i++] = w.charCodeAt(j);
  }
  return out;
}

describe('LZ4 legacy', () => {
  it('decodes a hand-made block with literals and an overlapping match', () => {
    // token 0x15: 1 literal 'a', match length 5+4=9 at offset 1 -> 'a' * 10; then a last literal 'b'.
    const block = Uint8Array.of(0x15, 0x61, 0x01, 0x00, 0x10, 0x62);
    const out = new Uint8Array(64);
    const n = decodeLz4Block(block, 0, block.length, out);
    expect(Buffer.from(out.subarray(0, n)).toString()).toBe(`${'a'.repeat(10)}b`);
  });

  it.skipIf(!hasLz4)(
    'matches the lz4 CLI on data spanning several 8 MiB blocks, with the size trailer',
    () => {
      const data = compressible(9 * (1 << 20) + 123);
      const c = lz4Legacy(data);
      expect(same(decompressLz4Legacy(c), data)).toBe(true);
      const withSize = new Uint8Array(c.length + 4);
      withSize.set(c);
      new DataView(withSize.buffer).setUint32(c.length, data.length, true);
      expect(same(decompressLz4Legacy(withSize), data)).toBe(true);
      new DataView(withSize.buffer).setUint32(c.length, data.length + 1, true);
      expect(() => decompressLz4Legacy(withSize)).toThrow(/trailing size/);
    },
  );

  it.skipIf(!hasLz4)('property: truncated or corrupted streams give DecompressError, never a crash', () => {
    const data = compressible(300_000);
    const c = lz4Legacy(data);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: c.length }),
        fc.array(fc.tuple(fc.nat(c.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        (cut, flips) => {
          const bad = c.slice(0, cut);
          for (const [at, b] of flips) if (at < bad.length) bad[at] = b;
          try {
            const out = decompressLz4Legacy(bad, { maxOutput: 64 << 20 });
            expect(out.length).toBeLessThanOrEqual(64 << 20);
          } catch (e) {
            expect(e).toBeInstanceOf(DecompressError);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('property: random bytes after the magic never crash the decoder', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (tail) => {
        const s = new Uint8Array(4 + tail.length);
        s.set([0x02, 0x21, 0x4c, 0x18]);
        s.set(tail, 4);
        try {
          decompressLz4Legacy(s, { maxOutput: 1 << 20 });
        } catch (e) {
          expect(e).toBeInstanceOf(DecompressError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('payload extraction', () => {
  it('extracts a gzip payload from a bzImage', () => {
    const elf = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, ...pseudoRandom(5000)]);
    const img = makeBzImage(pseudoRandom(0x1000), { payload: new Uint8Array(gzipSync(elf)) });
    expect(same(extractVmlinux(img), elf)).toBe(true);
  });

  it.skipIf(!hasLz4)('extracts an LZ4 payload from a bzImage', () => {
    const elf = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, ...compressible(100_000)]);
    const img = makeBzImage(pseudoRandom(0x1000), { payload: lz4Legacy(elf) });
    expect(same(extractVmlinux(img), elf)).toBe(true);
  });

  it('names unsupported compressions by magic', () => {
    const xz = Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2);
    expect(detectCompression(xz)).toBe('xz');
    expect(() => decompressPayload(xz)).toThrow(/xz \(magic fd 37 7a 58 5a 00\) is not supported/);
    expect(() => decompressPayload(Uint8Array.of(0x42, 0x5a, 0x68, 0x39))).toThrow(
      /bzip2 \(magic 42 5a 68 39\)/,
    );
    expect(() => decompressPayload(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0, 0))).toThrow(DecompressError);
    expect(() => decompressPayload(Uint8Array.of(1, 2, 3))).toThrow(DecompressError);
  });

  it.skipIf(!hasZstd)("extracts a zstd payload with the kernel's size trailer, and bounds its output", () => {
    const elf = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, ...compressible(1 << 20)]);
    const z = spawnSync('zstd', ['-9', '-c'], { input: elf, maxBuffer: 1 << 28 });
    expect(z.status).toBe(0);
    const payload = new Uint8Array(z.stdout.length + 4);
    payload.set(z.stdout);
    new DataView(payload.buffer).setUint32(z.stdout.length, elf.length, true);
    const img = makeBzImage(pseudoRandom(0x1000), { payload });
    expect(same(extractVmlinux(img), elf)).toBe(true);
    expect(() => extractVmlinux(img, { maxOutput: 1 << 19 })).toThrow(/exceeds/);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: payload.length }),
        fc.nat(payload.length - 1),
        fc.integer({ min: 0, max: 255 }),
        (cut, at, b) => {
          const bad = payload.slice(0, cut);
          if (at < bad.length) bad[at] = b;
          try {
            decompressPayload(bad, { maxOutput: 8 << 20 });
          } catch (e) {
            expect(e).toBeInstanceOf(DecompressError);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('bounds gzip output', () => {
    const big = new Uint8Array(gzipSync(new Uint8Array(1 << 20)));
    expect(() => decompressPayload(big, { maxOutput: 1000 })).toThrow(/exceeds/);
  });
});
