import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoaderError } from './errors.js';
import { decompressPayload, detectCompression, extractVmlinux } from './payload.js';
import { compressible, have, lz4Legacy, makeBzImage, pseudoRandom, same } from './testing/index.js';

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
    expect(() => decompressPayload(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0, 0))).toThrow(LoaderError);
    expect(() => decompressPayload(Uint8Array.of(1, 2, 3))).toThrow(LoaderError);
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
            expect(e).toBeInstanceOf(LoaderError);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('bounds gzip output', () => {
    const big = new Uint8Array(gzipSync(new Uint8Array(1 << 20)));
    expect(() => decompressPayload(big, { maxOutput: 1000 })).toThrow(/exceeds/);
    expect(decompressPayload(big, { maxOutput: 1 << 20 }).length).toBe(1 << 20);
  });

  it.skipIf(!have('gzip'))('decodes what gzip -9 -n makes, as the kernel build compresses vmlinux', () => {
    const elf = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, ...compressible(3 << 20)]);
    const z = spawnSync('gzip', ['-9', '-n', '-c'], { input: elf, maxBuffer: 1 << 28 });
    expect(z.status).toBe(0);
    const img = makeBzImage(pseudoRandom(0x1000), { payload: new Uint8Array(z.stdout) });
    expect(same(extractVmlinux(img), elf)).toBe(true);
  });

  it('decodes multi-member gzip and checks the ISIZE trailer', () => {
    const a = pseudoRandom(70_000, 5);
    const b = compressible(90_000);
    const two = new Uint8Array([...gzipSync(a), ...gzipSync(b)]);
    expect(same(decompressPayload(two), new Uint8Array([...a, ...b]))).toBe(true);
    const one = new Uint8Array(gzipSync(b));
    new DataView(one.buffer).setUint32(one.length - 4, 12345, true);
    expect(() => decompressPayload(one)).toThrow(
      expect.objectContaining({ kind: 'decompress', message: expect.stringMatching(/12345/) }),
    );
  });

  it('property: truncated or corrupted gzip gives LoaderError, never a crash', () => {
    const good = new Uint8Array(gzipSync(compressible(200_000)));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: good.length }),
        fc.nat(good.length - 1),
        fc.integer({ min: 0, max: 255 }),
        (cut, at, b) => {
          const bad = good.slice(0, cut);
          if (at < bad.length) bad[at] = b;
          try {
            decompressPayload(bad, { maxOutput: 4 << 20 });
          } catch (e) {
            expect(e).toBeInstanceOf(LoaderError);
            expect((e as LoaderError).kind).toMatch(/^(decompress|unsupported)$/);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
