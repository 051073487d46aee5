import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkQueue } from './chunk-queue.js';

describe('ChunkQueue', () => {
  it('is a FIFO whose memory is its bytes plus at most two partial chunks (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(
          fc.oneof(
            fc.record({ push: fc.uint8Array({ maxLength: 200 }) }),
            fc.record({ take: fc.integer({ min: 0, max: 300 }) }),
            fc.record({ consumeFront: fc.integer({ min: 1, max: 100 }) }),
          ),
          { maxLength: 60 },
        ),
        (chunk, ops) => {
          const q = new ChunkQueue(chunk);
          let model: number[] = [];
          for (const op of ops) {
            if ('push' in op) {
              q.push(op.push);
              model.push(...op.push);
            } else if ('take' in op) {
              const out = new Uint8Array(op.take);
              const n = q.takeInto(out);
              expect([...out.subarray(0, n)]).toEqual(model.slice(0, n));
              expect(n).toBe(Math.min(op.take, model.length));
              model = model.slice(n);
            } else {
              const f = q.front(op.consumeFront);
              expect([...f]).toEqual(model.slice(0, f.length));
              expect(f.length).toBeLessThanOrEqual(chunk);
              if (model.length) expect(f.length).toBeGreaterThan(0);
              q.consume(f.length);
              model = model.slice(f.length);
            }
            expect(q.length).toBe(model.length);
            expect(q.capacity).toBeLessThanOrEqual(Math.ceil(model.length / chunk) * chunk + chunk);
            if (model.length === 0) expect(q.capacity).toBe(0);
          }
        },
      ),
    );
  });

  it('leaves a view it handed out intact while more bytes are appended behind it', () => {
    const q = new ChunkQueue(8);
    q.push(Uint8Array.of(1, 2, 3));
    const inFlight = q.front();
    q.push(Uint8Array.of(4, 5, 6, 7, 8, 9, 10));
    expect([...inFlight]).toEqual([1, 2, 3]);
    q.consume(inFlight.length);
    expect([...q.front()]).toEqual([4, 5, 6, 7, 8]);
    const n = q.append(10, (dst) => {
      dst.fill(0xee);
      return Math.min(dst.length, 2); // a short fill ends the append
    });
    expect(n).toBe(2);
    expect(q.length).toBe(9);
  });
});
