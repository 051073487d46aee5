/**
 * Property tests: truncated, corrupted and hostile kernel images give a clear error (a LoaderError),
 * never a crash or a hang, and never a write outside what the loader reports.
 * Guest memory is sentinel-filled, with a guard region after the main one; after each load every
 * byte outside the reported `written` ranges must still hold the sentinel, and a failed load must
 * leave all of memory untouched.
 */
import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { e820ForMemory } from './e820.js';
import { LoaderError } from './errors.js';
import type { KernelLoad } from './kernel-load.js';
import { load } from './load.js';
import { extractVmlinux } from './payload.js';
import { concat, makeBzImage, makeElf, multibootHeader, pseudoRandom } from './testing/index.js';

const SENTINEL = 0xa5;
const MAIN = 4 << 20;
const GUARD = 64 << 10;
const memory = GuestMemory.createShared([
  { start: 0, size: MAIN },
  { start: MAIN, size: GUARD },
]);
const e820 = e820ForMemory([{ start: 0, size: MAIN }]);

function resetMemory(): void {
  for (const r of memory.regions) r.bytes.fill(SENTINEL);
}

const sentinelBytes = Buffer.alloc(MAIN + GUARD, SENTINEL);

/** Every byte outside `written` still holds the sentinel (native compares of the gaps, no copies). */
function untouchedOutside(written: readonly { start: number; end: number }[]): boolean {
  const ranges = [...written].sort((a, b) => a.start - b.start);
  for (const r of memory.regions) {
    const bytes = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.size);
    let at = r.start;
    const end = r.start + r.size;
    for (const w of [...ranges, { start: end, end }]) {
      const gapEnd = Math.min(Math.max(w.start, at), end);
      if (
        gapEnd > at &&
        !bytes.subarray(at - r.start, gapEnd - r.start).equals(sentinelBytes.subarray(0, gapEnd - at))
      ) {
        return false;
      }
      at = Math.max(at, Math.min(w.end, end));
    }
  }
  return true;
}

function tryLoad(image: Uint8Array): KernelLoad | Error {
  resetMemory();
  try {
    return load(image, memory, { multiboot: { e820 } });
  } catch (e) {
    if (e instanceof LoaderError) return e;
    throw e; // anything else (TypeError, RangeError, GuestMemoryError...) fails the property
  }
}

const seeds: Record<string, Uint8Array> = {
  bzImage: makeBzImage(pseudoRandom(0x3000, 1), { prefAddress: 0x200000, initSize: 0x10000 }),
  elf64: makeElf(
    [
      { paddr: 0x100000, vaddr: 0xffffffff81000000n, data: pseudoRandom(0x1800, 2), memsz: 0x2000 },
      { paddr: 0x180000, data: pseudoRandom(0x200, 3) },
    ],
    { entry: 0x100000, pvhEntry: 0x100040 },
  ),
  multibootElf: makeElf([{ paddr: 0x100000, data: pseudoRandom(0x800, 4), memsz: 0x1000 }], {
    entry: 0x100000,
    elf32: true,
    prefix: multibootHeader(0x3),
  }),
  multibootAout: concat(
    multibootHeader(0x10000, [0x200000, 0x200000, 0, 0x203000, 0x200010]),
    pseudoRandom(0x1000, 5),
  ),
};

for (const [name, image] of Object.entries(seeds)) {
  const ok = tryLoad(image);
  if (ok instanceof Error) throw new Error(`seed ${name} does not load: ${ok.message}`);
}

/** A mutation: cut, overwrite bytes (biased to headers), or overwrite 32/64-bit fields with hostile values. */
const mutation = (len: number) =>
  fc.record({
    cut: fc.option(fc.integer({ min: 0, max: len }), { nil: undefined }),
    bytes: fc.array(
      fc.tuple(fc.oneof(fc.nat(Math.min(len, 0x300) - 1), fc.nat(len - 1)), fc.integer({ min: 0, max: 255 })),
      {
        maxLength: 8,
      },
    ),
    words: fc.array(
      fc.tuple(
        fc.nat(Math.min(len, 0x300) - 8),
        fc.constantFrom(0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 0x1000, 0x400000, 0x3fffff, 0xfffffff0),
        fc.boolean(),
      ),
      { maxLength: 4 },
    ),
  });

function mutate(
  image: Uint8Array,
  m: { cut?: number; bytes: [number, number][]; words: [number, number, boolean][] },
) {
  const out = image.slice();
  const v = new DataView(out.buffer);
  for (const [at, b] of m.bytes) out[at] = b;
  for (const [at, w, wide] of m.words) {
    if (wide) v.setBigUint64(at, BigInt(w) * (w & 1 ? 0x100000001n : 1n), true);
    else v.setUint32(at, w, true);
  }
  return m.cut === undefined ? out : out.subarray(0, m.cut);
}

describe('hostile kernel images', () => {
  it('the guard check itself sees a stray byte, in the main region and in the guard region', () => {
    resetMemory();
    expect(untouchedOutside([])).toBe(true);
    memory.write8(0x123456, 0);
    expect(untouchedOutside([])).toBe(false);
    expect(untouchedOutside([{ start: 0x123456, end: 0x123457 }])).toBe(true);
    resetMemory();
    memory.write8(MAIN + GUARD - 1, 0);
    expect(untouchedOutside([{ start: 0, end: MAIN }])).toBe(false);
  });

  for (const [name, seed] of Object.entries(seeds)) {
    it(`${name}: mutated images load within what they report, or fail cleanly writing nothing`, () => {
      fc.assert(
        fc.property(mutation(seed.length), (m) => {
          const r = tryLoad(mutate(seed, m));
          if (r instanceof Error) {
            expect(r.message.length).toBeGreaterThan(10);
            expect(untouchedOutside([])).toBe(true);
          } else {
            for (const w of r.written) {
              expect(w.start).toBeGreaterThanOrEqual(0);
              expect(w.end).toBeLessThanOrEqual(MAIN + GUARD);
            }
            expect(untouchedOutside(r.written)).toBe(true);
          }
        }),
        { numRuns: 250 },
      );
    });
  }

  it('random bytes (with the magic of each format sometimes planted) fail cleanly', () => {
    const magics = [
      [0x202, [0x48, 0x64, 0x72, 0x53]],
      [0, [0x7f, 0x45, 0x4c, 0x46, 2, 1]],
      [0, [0x7f, 0x45, 0x4c, 0x46, 1, 1]],
      [8, [0x02, 0xb0, 0xad, 0x1b]],
    ] as const;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 0x1000 }),
        fc.nat(magics.length),
        (bytes, which) => {
          const img = bytes.slice();
          const mg = magics[which];
          if (mg && img.length >= mg[0] + mg[1].length) img.set(mg[1], mg[0]);
          const r = tryLoad(img);
          if (r instanceof Error) expect(untouchedOutside([])).toBe(true);
          else expect(untouchedOutside(r.written)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('payload extraction from mutated bzImages fails with LoaderError only', () => {
    const payload = concat(
      Uint8Array.of(0x02, 0x21, 0x4c, 0x18, 6, 0, 0, 0),
      Uint8Array.of(0x50, 1, 2, 3, 4, 5),
    );
    const img = makeBzImage(pseudoRandom(0x400, 8), { payload });
    expect(extractVmlinux(img)).toEqual(Uint8Array.of(1, 2, 3, 4, 5));
    fc.assert(
      fc.property(mutation(img.length), (m) => {
        try {
          extractVmlinux(mutate(img, m), { maxOutput: 1 << 20 });
        } catch (e) {
          if (!(e instanceof LoaderError)) throw e;
        }
      }),
      { numRuns: 300 },
    );
  });
});
