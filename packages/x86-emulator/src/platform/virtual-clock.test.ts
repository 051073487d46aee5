import { describe, expect, it } from 'vitest';
import { X86EmulatorError } from '../errors.js';
import { VirtualClock } from './virtual-clock.js';

describe('VirtualClock (virtual mode)', () => {
  it('advances with instructions at the configured ratio', () => {
    const clock = new VirtualClock({ instructionsPerNs: 2 });
    clock.advanceInstructions(1000);
    expect(clock.now()).toBe(500);
    clock.setInstructionsPerNs(0.5);
    clock.advanceInstructions(10);
    expect(clock.now()).toBe(520);
  });

  it('fires timers in deadline order, ties in arming order, once', () => {
    const clock = new VirtualClock();
    const log: string[] = [];
    const a = clock.createTimer((d) => log.push(`a@${d}`));
    const b = clock.createTimer((d) => log.push(`b@${d}`));
    const c = clock.createTimer((d) => log.push(`c@${d}`));
    b.arm(300);
    a.arm(100);
    c.arm(300);
    expect(clock.nextDeadline()).toBe(100);
    clock.advanceInstructions(99);
    expect(log).toEqual([]);
    clock.advanceInstructions(250);
    expect(log).toEqual(['a@100', 'b@300', 'c@300']);
    expect(clock.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
    clock.advanceInstructions(1000);
    expect(log).toHaveLength(3);
  });

  it('lets a callback re-arm its timer (periodic) and disarm others', () => {
    const clock = new VirtualClock();
    let ticks = 0;
    const other = clock.createTimer(() => {
      throw new Error('disarmed timer fired');
    });
    const t = clock.createTimer((d) => {
      ticks++;
      other.disarm();
      t.arm(d + 100);
    });
    t.arm(100);
    other.arm(150);
    clock.advance(1000);
    expect(ticks).toBe(10);
    expect(clock.nextDeadline()).toBe(1100);
    expect(other.armed).toBe(false);
  });

  it('warps to the next deadline when idle and reports Infinity with no timer', () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    const t = clock.createTimer((d) => fired.push(d));
    expect(clock.idle()).toBe(Number.POSITIVE_INFINITY);
    t.arm(5_000_000_000);
    expect(clock.idle()).toBe(0);
    expect(clock.now()).toBe(5_000_000_000);
    expect(fired).toEqual([5_000_000_000]);
    clock.warpTo(10); // past: no jump back
    expect(clock.now()).toBe(5_000_000_000);
  });

  it('sizes instruction batches to the next deadline', () => {
    const clock = new VirtualClock({ instructionsPerNs: 3 });
    expect(clock.instructionsUntilDeadline()).toBe(Number.POSITIVE_INFINITY);
    clock.createTimer(() => {}).arm(100);
    expect(clock.instructionsUntilDeadline()).toBe(300);
    clock.advanceInstructions(299);
    expect(clock.instructionsUntilDeadline()).toBe(1);
  });

  it('derives the TSC and reports its frequency for CPUID', () => {
    const clock = new VirtualClock({ tscHz: 2_400_000_000 });
    clock.advance(1_000_000); // 1 ms
    expect(clock.tsc()).toBe(2_400_000);
    expect(clock.nsAtTsc(2_400_000)).toBe(1_000_000);
    const f = clock.frequencyCpuid();
    expect((f.leaf15.ecx * f.leaf15.ebx) / f.leaf15.eax).toBe(2_400_000_000);
    expect(f.leaf15.ecx).toBe(1_000_000_000);
    expect(f.leaf16.eax).toBe(2400);
    expect(f.leaf40000010).toEqual({ eax: 2_400_000, ebx: 1_000_000 });
  });

  it('rejects bad arguments with the value in the message', () => {
    expect(() => new VirtualClock({ tscHz: 12.5 })).toThrow(/tscHz 12.5/);
    expect(() => new VirtualClock({ instructionsPerNs: 0 })).toThrow(X86EmulatorError);
    expect(() => new VirtualClock().advance(-1)).toThrow(/-1 ns/);
  });
});

describe('VirtualClock (real-time modes)', () => {
  it('follows the host clock and asks the idle loop to sleep until the deadline', () => {
    let host = 1_000_000;
    const clock = new VirtualClock({ mode: 'realtime', hostNowNs: () => host });
    expect(clock.now()).toBe(0);
    host += 500;
    expect(clock.now()).toBe(500);
    let fired = 0;
    clock.createTimer(() => fired++).arm(2000);
    expect(clock.idle()).toBe(1500);
    host += 1500;
    clock.advanceInstructions(1); // count ignored; host time read
    expect(fired).toBe(1);
  });

  it('gives a wall-clock epoch that keeps the guest wall clock on the host wall clock (realtime)', () => {
    let host = 5_000_000_000; // monotonic ns
    let wall = 1_700_000_000_123.25; // Unix ms
    const clock = new VirtualClock({ mode: 'realtime', hostNowNs: () => host, hostWallMs: () => wall });
    const epoch = clock.wallClockEpochNs();
    expect(epoch).toBe(1_700_000_000_123_250_000n); // guest time 0 = now
    host += 61_000_000_000; // a minute of host time, however many instructions ran
    wall += 61_000;
    clock.advanceInstructions(1);
    expect(clock.wallClockEpochNs()).toBe(epoch);
    expect(epoch + BigInt(clock.now())).toBe(1_700_000_061_123_250_000n);
  });

  it('in virtual mode the wall clock is the start time plus virtual elapsed time', () => {
    let wall = 1_000.5; // Unix ms
    const clock = new VirtualClock({ hostWallMs: () => wall });
    expect(clock.wallClockEpochNs()).toBe(1_000_500_000n);
    clock.advanceInstructions(250_000); // 250 us of guest time
    wall += 7_000; // seven seconds of host time: not followed
    expect(clock.wallClockEpochNs()).toBe(1_000_500_000n);
    expect(clock.wallClockMs()).toBeCloseTo(1_000.75, 9);
    // the same run read at the same point gives the same wall clock, whatever the host's time
    const again = new VirtualClock({ hostWallMs: () => 1_000.5 });
    again.advanceInstructions(250_000);
    expect(again.wallClockMs()).toBe(clock.wallClockMs());
  });

  it('reads the guest wall clock in ms without losing sub-microsecond digits of the epoch', () => {
    let host = 0;
    const clock = new VirtualClock({
      mode: 'realtime',
      hostNowNs: () => host,
      hostWallMs: () => 1_700_000_000_123.4568,
    });
    host += 1_500_000; // 1.5 ms
    expect(clock.wallClockMs()).toBeCloseTo(1_700_000_000_124.9568, 3);
    expect(clock.wallClockEpochNs() / 1000n).toBe(1_700_000_000_123_456n); // to the microsecond
  });

  it('tells the time to the next deadline on the host clock (real-time modes size batches by it)', () => {
    let host = 0;
    const clock = new VirtualClock({ mode: 'realtime', hostNowNs: () => host });
    expect(clock.nsUntilDeadline()).toBe(Number.POSITIVE_INFINITY);
    expect(clock.instructionsUntilDeadline()).toBe(Number.POSITIVE_INFINITY); // instructions do not move time
    clock.createTimer(() => {}).arm(100_000);
    host += 40_000;
    expect(clock.nsUntilDeadline()).toBe(60_000);
    host += 200_000; // past the deadline
    expect(clock.nsUntilDeadline()).toBe(0);
  });

  it('hybrid mode skips idle gaps by growing the offset; switching modes never goes back', () => {
    let host = 0;
    const clock = new VirtualClock({ mode: 'virtual', hostNowNs: () => host });
    clock.advanceInstructions(10_000);
    clock.setMode('hybrid');
    expect(clock.now()).toBe(10_000);
    host = 100;
    expect(clock.now()).toBe(10_100);
    let fired = 0;
    clock.createTimer(() => fired++).arm(1_000_000);
    expect(clock.idle()).toBe(0);
    expect(fired).toBe(1);
    expect(clock.now()).toBe(1_000_000);
    host = 200;
    expect(clock.now()).toBe(1_000_100);
    clock.setMode('virtual');
    host = 0;
    clock.advanceInstructions(5);
    expect(clock.now()).toBe(1_000_105);
  });
});
