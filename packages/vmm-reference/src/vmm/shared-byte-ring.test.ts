import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SharedByteRing } from './shared-byte-ring.js';

describe('SharedByteRing', () => {
  it('keeps bytes in order across wrap-around and never takes more than fits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.nat(40)), { maxLength: 60 }),
        (ops) => {
          const ring = SharedByteRing.create(32);
          const model: number[] = [];
          for (const op of ops) {
            if (typeof op === 'number') {
              const got = ring.read(op);
              expect([...got]).toEqual(model.splice(0, op));
            } else {
              const n = ring.write(op);
              expect(n).toBe(Math.min(op.length, 32 - model.length));
              model.push(...op.subarray(0, n));
            }
            expect(ring.available).toBe(model.length);
          }
        },
      ),
    );
  });

  it('is shared through its SharedArrayBuffer and wakes a waiting reader', async () => {
    const a = SharedByteRing.create(16);
    const b = new SharedByteRing(a.sab);
    const waiting = b.whenReadable(5000);
    a.write(Uint8Array.of(7, 8));
    await waiting;
    expect([...b.read()]).toEqual([7, 8]);
    const t = Date.now();
    await b.whenReadable(20);
    expect(Date.now() - t).toBeLessThan(2000);
  });
});
