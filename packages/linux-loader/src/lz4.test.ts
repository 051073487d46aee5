import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoaderError } from './errors.js';
import { decodeLz4Block, decompressLz4Legacy } from './lz4.js';
import { compressible, have, lz4Legacy, same } from './testing/index.js';

const hasLz4 = have('lz4');
if (!hasLz4) console.log('skipped: lz4 CLI round trips (lz4 not installed)');

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

  it.skipIf(!hasLz4)('property: truncated or corrupted streams give LoaderError, never a crash', () => {
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
            expect(e).toBeInstanceOf(LoaderError);
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
          expect(e).toBeInstanceOf(LoaderError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
