import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecompressError } from './decompress-error.js';
import { decompressPayload, detectCompression, extractVmlinux } from './payload.js';
import { compressible, have, lz4Legacy, makeBzImage, pseudoRandom, same } from './test-images.js';

const hasLz4 = have('lz4');
const hasZstd = have('zstd');
if (!hasLz4) console.log('skipped: LZ4 payload extraction (lz4 not installed)');
if (!hasZstd) console.log('skipped: zstd payload round trip (zstd not installed)');

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
