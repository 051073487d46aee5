import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limbs, mul64 } from './muldiv.js';

const u32 = fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), fc.nat({ max: 0xffffffff }));

describe('mul64', () => {
  it('matches the BigInt 128-bit product, unsigned and signed', () => {
    fc.assert(
      fc.property(u32, u32, u32, u32, fc.boolean(), (al, ah, bl, bh, signed) => {
        mul64(al | 0, ah | 0, bl | 0, bh | 0, signed);
        let a = (BigInt(ah) << 32n) | BigInt(al);
        let b = (BigInt(bh) << 32n) | BigInt(bl);
        if (signed) {
          a = BigInt.asIntN(64, a);
          b = BigInt.asIntN(64, b);
        }
        const got =
          (BigInt(limbs[3]) << 96n) |
          (BigInt(limbs[2]) << 64n) |
          (BigInt(limbs[1]) << 32n) |
          BigInt(limbs[0]);
        expect(got.toString(16)).toBe(BigInt.asUintN(128, a * b).toString(16));
      }),
      { numRuns: 20000 },
    );
  });
});
