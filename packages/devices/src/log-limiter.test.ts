import { describe, expect, it } from 'vitest';
import { LogLimiter } from './log-limiter.js';

function setup(opts: { burst?: number; perSecond?: number } = {}) {
  let now = 0;
  const lines: string[] = [];
  const limiter = new LogLimiter({ write: (l) => lines.push(l), clock: () => now, timer: false, ...opts });
  return { limiter, lines, advance: (ms: number) => (now += ms) };
}

const suppressedIn = (lines: string[]) =>
  lines.reduce((n, l) => n + Number(/\.\.\. (\d+) more like this suppressed$/.exec(l)?.[1] ?? 0), 0);

describe('LogLimiter', () => {
  it('lets a burst through, then about one line a second, and counts the rest in summaries', () => {
    const { limiter, lines, advance } = setup({ burst: 10, perSecond: 1 });
    // A guest loop: 200,000 device errors over 25 s.
    let written = 0;
    for (let i = 0; i < 200_000; i++) {
      if (limiter.log('virtio-rng: guest-error', `virtio-rng: device error: virtqueue: bad descriptor ${i}`))
        written++;
      advance(25_000 / 200_000);
    }
    limiter.flush();
    const errors = lines.filter((l) => l.includes('bad descriptor'));
    expect(errors.length).toBe(written);
    expect(errors.length).toBeLessThanOrEqual(10 + 25 + 1);
    expect(errors.slice(0, 10)).toEqual(
      [...Array(10).keys()].map((i) => `virtio-rng: device error: virtqueue: bad descriptor ${i}`),
    );
    expect(suppressedIn(lines)).toBe(200_000 - written); // every suppressed line is counted once
    expect(lines.length).toBeLessThanOrEqual(2 * (10 + 25 + 1));
    expect(lines.at(-1)).toMatch(/^virtio-rng: guest-error: \.\.\. \d+ more like this suppressed$/);
    expect(limiter.suppressed).toBe(200_000 - written);
  });

  it('limits each key on its own', () => {
    const { limiter, lines } = setup({ burst: 2, perSecond: 1 });
    for (let i = 0; i < 5; i++) limiter.log('a', `a${i}`);
    for (let i = 0; i < 5; i++) limiter.log('b', `b${i}`);
    expect(lines).toEqual(['a0', 'a1', 'b0', 'b1']);
    limiter.flush();
    expect(lines.slice(4)).toEqual([
      'a: ... 3 more like this suppressed',
      'b: ... 3 more like this suppressed',
    ]);
    limiter.flush();
    expect(lines).toHaveLength(6); // nothing more to report
  });

  it('reports what it suppressed before the next line that goes through', () => {
    const { limiter, lines, advance } = setup({ burst: 1, perSecond: 1 });
    limiter.log('k', 'one');
    limiter.log('k', 'two');
    limiter.log('k', 'three');
    advance(1000);
    limiter.log('k', 'four');
    expect(lines).toEqual(['one', 'k: ... 2 more like this suppressed', 'four']);
  });

  it('bounds the keys it remembers', () => {
    const { limiter, lines } = setup({ burst: 1 });
    for (let i = 0; i < 10_000; i++) {
      limiter.log(`key${i}`, `line ${i}`);
      limiter.log(`key${i}`, `again ${i}`);
    }
    expect(limiter.keyCount).toBeLessThanOrEqual(64);
    limiter.flush();
    expect(suppressedIn(lines)).toBe(10_000); // forgotten keys reported their count on the way out
  });

  it('writes the summary from its own timer when the flood stops', async () => {
    const lines: string[] = [];
    const limiter = new LogLimiter({ write: (l) => lines.push(l), burst: 1, perSecond: 100 });
    limiter.log('k', 'first');
    for (let i = 0; i < 50; i++) limiter.log('k', 'more');
    for (let i = 0; i < 200 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(lines).toEqual(['first', 'k: ... 50 more like this suppressed']);
    limiter.close();
  });
});
