import { describe, expect, it } from 'vitest';
import { BOOT_TIMER_MMIO_BASE, BootTimer, performanceClockNs } from './boot-timer.js';
import { Bus } from './bus.js';
import { DebugExit } from './debug-exit.js';

describe('DebugExit', () => {
  it('turns a write of v into exit code (v << 1) | 1', () => {
    const codes: number[] = [];
    const bus = new Bus('pio');
    bus.register(0xf4, 4, new DebugExit({ onExit: (c) => codes.push(c) }), 'debug-exit');
    bus.writeValue(0xf4, 1, 0x10);
    bus.writeValue(0xf4, 1, 0);
    bus.writeValue(0xf4, 4, 0x100);
    expect(codes).toEqual([0x21, 1, 0x201]);
  });
});

describe('BootTimer', () => {
  it('stamps the first magic write and ignores others', () => {
    let now = 1000n;
    const seen: bigint[] = [];
    const timer = new BootTimer({ clock: () => now, onBoot: (ns) => seen.push(ns) });
    const bus = new Bus('mmio');
    bus.register(BOOT_TIMER_MMIO_BASE, 0x1000, timer, 'boot-timer');
    now = 5000n;
    bus.writeValue(BOOT_TIMER_MMIO_BASE, 1, 7);
    expect(timer.elapsedNs).toBeUndefined();
    bus.writeValue(BOOT_TIMER_MMIO_BASE, 1, 123);
    now = 9000n;
    bus.writeValue(BOOT_TIMER_MMIO_BASE, 1, 123);
    expect(seen).toEqual([4000n]);
    expect(timer.elapsedNs).toBe(4000n);
  });
  it('defaults to performance.now() in nanoseconds', async () => {
    const t0 = performanceClockNs();
    const timer = new BootTimer();
    await new Promise((r) => setTimeout(r, 5));
    timer.write(0, Uint8Array.of(123));
    const ns = timer.elapsedNs!;
    expect(ns).toBeGreaterThanOrEqual(4_000_000n);
    expect(ns).toBeLessThan(10_000_000_000n);
    expect(timer.bootedAt! - t0).toBeGreaterThanOrEqual(ns);
  });
  it('accepts any value with magic null', () => {
    const timer = new BootTimer({ magic: null, clock: () => 5n, start: 1n });
    timer.write(0, Uint8Array.of(9));
    expect(timer.elapsedNs).toBe(4n);
  });
});
