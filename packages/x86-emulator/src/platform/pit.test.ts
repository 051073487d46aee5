import { describe, expect, it } from 'vitest';
import { X86EmulatorError } from '../errors.js';
import { PIT_HZ, Pit } from './pit.js';
import { VirtualClock } from './virtual-clock.js';

const TICK_NS = 1e9 / PIT_HZ;

function setup() {
  const clock = new VirtualClock({ tscHz: 2_000_000_000 });
  const irqs: number[] = [];
  let level = false;
  const pit = new Pit({
    clock,
    irq0: (l) => {
      if (l && !level) irqs.push(clock.now());
      level = l;
    },
  });
  const latch = (channel: number) => {
    pit.pioWrite(0x43, 1, channel << 6);
    const lo = pit.pioRead(0x40 + channel);
    return lo | (pit.pioRead(0x40 + channel) << 8);
  };
  return { clock, pit, irqs, latch };
}

describe('Pit as Linux calibrates the TSC', () => {
  it('pit_calibrate_tsc: channel 2 mode 0, 50 ms, polled through OUT2 in port 0x61', () => {
    const { clock, pit } = setup();
    const latch = Math.floor(PIT_HZ / (1000 / 50));
    pit.pioWrite(0x61, 1, (pit.pioRead(0x61) & ~0x02) | 0x01); // gate high, speaker off
    pit.pioWrite(0x43, 1, 0xb0); // channel 2, LSB/MSB, mode 0, binary
    pit.pioWrite(0x42, 1, latch & 0xff);
    pit.pioWrite(0x42, 1, latch >> 8);
    const t1 = clock.tsc();
    let loops = 0;
    while ((pit.pioRead(0x61) & 0x20) === 0) {
      clock.advanceInstructions(200); // the loop body: get_cycles, inb
      loops++;
      if (loops > 10_000_000) throw new Error('OUT2 never rose');
    }
    const t2 = clock.tsc();
    const khz = (t2 - t1) / 50; // what the kernel computes: delta / ms
    expect(Math.abs(khz - 2_000_000) / 2_000_000).toBeLessThan(1e-4);
    expect(pit.pioRead(0x61) & 0x01).toBe(1);
  });

  it('quick_pit_calibrate: MSB of channel 2 steps down every 256 counts', () => {
    const { clock, pit } = setup();
    pit.pioWrite(0x61, 1, (pit.pioRead(0x61) & ~0x02) | 0x01);
    pit.pioWrite(0x43, 1, 0xb0);
    pit.pioWrite(0x42, 1, 0xff);
    pit.pioWrite(0x42, 1, 0xff);
    const readMsb = () => {
      pit.pioRead(0x42); // LSB first, then MSB (pit_verify_msb / pit_expect_msb)
      return pit.pioRead(0x42);
    };
    expect(readMsb()).toBe(0xff);
    const changes: number[] = [];
    let last = 0xff;
    for (let i = 0; i < 20_000; i++) {
      clock.advance(50);
      const msb = readMsb();
      if (msb !== last) {
        expect(msb).toBe(last - 1);
        changes.push(clock.now());
        last = msb;
      }
    }
    expect(changes.length).toBeGreaterThan(3);
    const step = changes[2] - changes[1];
    expect(Math.abs(step - 256 * TICK_NS)).toBeLessThan(60);
  });
});

describe('Pit modes', () => {
  it('mode 2 on channel 0 raises IRQ 0 at 100 Hz and counts down', () => {
    const { clock, pit, irqs, latch } = setup();
    pit.pioWrite(0x43, 1, 0x34);
    pit.pioWrite(0x40, 1, 11932 & 0xff);
    pit.pioWrite(0x40, 1, 11932 >> 8);
    clock.advance(TICK_NS * 1000 + 1);
    expect(latch(0)).toBe(11932 - 1000);
    clock.advance(1e9 - clock.now());
    // 11932 counts are 10.00015 ms: 99 whole periods in one second, each edge at its own time
    expect(irqs).toHaveLength(99);
    expect(irqs[98]).toBeCloseTo(99 * 11932 * TICK_NS, 3);
    expect(Math.abs(irqs[1] - irqs[0] - 11932 * TICK_NS)).toBeLessThan(1);
    // an idle machine warps from interrupt to interrupt
    for (let i = 0; i < 5; i++) clock.idle();
    expect(irqs).toHaveLength(104);
  });

  it('limits IRQ 0 of a tiny mode 2 period to one per 200 µs', () => {
    const { clock, pit, irqs, latch } = setup();
    pit.pioWrite(0x43, 1, 0x34);
    pit.pioWrite(0x40, 1, 2);
    pit.pioWrite(0x40, 1, 0);
    clock.advance(10_000_000);
    expect(irqs.length).toBeGreaterThanOrEqual(49);
    expect(irqs.length).toBeLessThanOrEqual(51); // the first edge comes after 2 counts
    expect([1, 2]).toContain(latch(0));
  });

  it('mode 0 on channel 0 raises IRQ 0 once; reprogramming stops it', () => {
    const { clock, pit, irqs, latch } = setup();
    pit.pioWrite(0x43, 1, 0x30);
    pit.pioWrite(0x40, 1, 100);
    pit.pioWrite(0x40, 1, 0);
    expect(pit.output(0)).toBe(false);
    clock.advance(TICK_NS * 99);
    expect(irqs).toHaveLength(0);
    clock.advance(TICK_NS * 2);
    expect(irqs).toHaveLength(1);
    expect(pit.output(0)).toBe(true);
    clock.advance(1e8);
    expect(irqs).toHaveLength(1);
    expect(latch(0)).toBe((100 - Math.floor(clock.now() / TICK_NS) + 0x10000 * 2) % 0x10000); // wraps on
    pit.pioWrite(0x43, 1, 0x30);
    expect(pit.output(0)).toBe(false);
    expect(clock.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it('mode 3 (square wave) on channel 2: counts by two, OUT2 half high, half low', () => {
    const { clock, pit, latch } = setup();
    pit.pioWrite(0x61, 1, 0x01);
    pit.pioWrite(0x43, 1, 0xb6);
    pit.pioWrite(0x42, 1, 100);
    pit.pioWrite(0x42, 1, 0);
    clock.advance(TICK_NS * 10 + 1);
    expect(latch(2)).toBe(80);
    let high = 0;
    for (let i = 0; i < 1000; i++) {
      clock.advance(TICK_NS);
      if (pit.pioRead(0x61) & 0x20) high++;
    }
    expect(high).toBeGreaterThanOrEqual(490);
    expect(high).toBeLessThanOrEqual(510);
  });

  it('gate low pauses mode 0 and stops mode 2 (which reloads on the rising edge)', () => {
    const { clock, pit, latch } = setup();
    pit.pioWrite(0x61, 1, 0x01);
    pit.pioWrite(0x43, 1, 0xb0);
    pit.pioWrite(0x42, 1, 0x00);
    pit.pioWrite(0x42, 1, 0x10); // 0x1000
    clock.advance(TICK_NS * 16 + 1);
    expect(latch(2)).toBe(0x1000 - 16);
    pit.pioWrite(0x61, 1, 0x00);
    clock.advance(TICK_NS * 100);
    expect(latch(2)).toBe(0x1000 - 16);
    pit.pioWrite(0x61, 1, 0x01);
    clock.advance(TICK_NS * 4);
    expect(latch(2)).toBe(0x1000 - 20);

    pit.pioWrite(0x43, 1, 0xb4); // mode 2
    pit.pioWrite(0x42, 1, 50);
    pit.pioWrite(0x42, 1, 0);
    clock.advance(TICK_NS * 30 + 1);
    expect(latch(2)).toBe(20);
    pit.pioWrite(0x61, 1, 0x00);
    expect(pit.output(2)).toBe(true);
    clock.advance(TICK_NS * 7);
    expect(latch(2)).toBe(20);
    pit.pioWrite(0x61, 1, 0x01); // reload
    clock.advance(TICK_NS * 5 + 1);
    expect(latch(2)).toBe(45);
  });

  it('mode 1 (gate-triggered one-shot) and mode 4 (software strobe)', () => {
    const { clock, pit } = setup();
    pit.pioWrite(0x61, 1, 0x01);
    pit.pioWrite(0x43, 1, 0xb2); // channel 2 mode 1
    pit.pioWrite(0x42, 1, 10);
    pit.pioWrite(0x42, 1, 0);
    clock.advance(TICK_NS * 20);
    expect(pit.output(2)).toBe(true); // not triggered: the gate was already high
    pit.pioWrite(0x61, 1, 0x00);
    pit.pioWrite(0x61, 1, 0x01);
    clock.advance(TICK_NS * 5);
    expect(pit.output(2)).toBe(false);
    clock.advance(TICK_NS * 6);
    expect(pit.output(2)).toBe(true);

    pit.pioWrite(0x43, 1, 0xb8); // mode 4
    pit.pioWrite(0x42, 1, 10);
    pit.pioWrite(0x42, 1, 0);
    const start = clock.now();
    const outs: boolean[] = [];
    for (let i = 1; i <= 12; i++) {
      clock.warpTo(start + TICK_NS * i + 1);
      outs.push(pit.output(2));
    }
    expect(outs.filter((o) => !o)).toHaveLength(1);
    expect(outs[9]).toBe(false);
  });
});

describe('Pit registers', () => {
  it('read-back command latches status and count, once each', () => {
    const { clock, pit } = setup();
    pit.pioWrite(0x43, 1, 0x34);
    expect(pit.pioWrite(0x43, 1, 0xe2)).toBeUndefined(); // status of channel 0 before a count
    expect(pit.pioRead(0x40)).toBe(0x80 | 0x40 | 0x30 | (2 << 1)); // OUT high, null count, LSB/MSB, mode 2
    pit.pioWrite(0x40, 1, 0x00);
    pit.pioWrite(0x40, 1, 0x01); // 256
    clock.advance(TICK_NS * 6 + 1);
    pit.pioWrite(0x43, 1, 0xc2); // status and count of channel 0
    expect(pit.pioRead(0x40)).toBe(0x80 | 0x30 | (2 << 1));
    clock.advance(TICK_NS * 50);
    expect(pit.pioRead(0x40)).toBe(250);
    expect(pit.pioRead(0x40)).toBe(0);
    // unlatched: live value
    expect(pit.pioRead(0x40) | (pit.pioRead(0x40) << 8)).toBe(200);
  });

  it('honours LSB-only and MSB-only access and BCD counting', () => {
    const { clock, pit, latch } = setup();
    pit.pioWrite(0x61, 1, 0x01);
    pit.pioWrite(0x43, 1, 0x90); // channel 2, LSB only, mode 0
    pit.pioWrite(0x42, 1, 0x80);
    expect(pit.channelState(2).count).toBe(0x80);
    clock.advance(TICK_NS * 3 + 1);
    expect(pit.pioRead(0x42)).toBe(0x7d);
    expect(pit.pioRead(0x42)).toBe(0x7d);
    pit.pioWrite(0x43, 1, 0xa0); // MSB only
    pit.pioWrite(0x42, 1, 0x12);
    expect(pit.channelState(2).count).toBe(0x1200);
    pit.pioWrite(0x43, 1, 0xb1); // BCD, mode 0
    pit.pioWrite(0x42, 1, 0x00);
    pit.pioWrite(0x42, 1, 0x10); // 1000 decimal
    expect(pit.channelState(2)).toMatchObject({ count: 1000, bcd: true });
    clock.advance(TICK_NS * 11 + 1);
    expect(latch(2)).toBe(0x0989);
    expect(() => pit.setGate(3, true)).toThrow(X86EmulatorError);
  });

  it('toggles the refresh bit of port 0x61', () => {
    const { clock, pit } = setup();
    const a = pit.pioRead(0x61) & 0x10;
    clock.advance(15_085);
    expect(pit.pioRead(0x61) & 0x10).not.toBe(a);
  });
});
