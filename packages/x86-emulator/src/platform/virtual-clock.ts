/**
 * The machine's clock: guest time in nanoseconds, a timer queue, and the TSC derived from it.
 *
 * Three modes (switchable at any time; guest time never goes backwards across a switch):
 * - `realtime`: time follows the host's monotonic clock; when every vCPU is idle the machine sleeps
 *   on the host until the next deadline. The guest's clocks agree with the host's however fast
 *   the emulator runs: what a VMM wants by default (the reference VMM's `--clock realtime`).
 * - `virtual`: time advances only with executed guest instructions ({@link VirtualClock.advanceInstructions})
 *   and jumps to the next deadline when every vCPU is idle ({@link VirtualClock.idle}). Runs are
 *   deterministic and idle time costs nothing, but guest time runs as fast as the emulator executes
 *   (1 instruction = 1 ns by default: far slower than the host's clock), like QEMU's `-icount`: for
 *   deterministic runs, tests and instruction-counting benchmarks.
 * - `hybrid`: time follows the host clock while the guest runs, but idle gaps are skipped (the
 *   offset to host time grows by the skipped time). Timer rates look real while code runs, and
 *   boot-time delays still cost nothing, but the guest's clocks run ahead of the host's.
 *
 * @module
 */
import { X86EmulatorError } from '../errors.js';

/** How guest time advances; see the module comment. */
export type ClockMode = 'virtual' | 'realtime' | 'hybrid';

/** Options for {@link VirtualClock}. */
export interface VirtualClockOptions {
  /** Initial mode (default `virtual`). */
  mode?: ClockMode;
  /** Guest instructions per nanosecond of guest time in `virtual` mode (default 1: one instruction = 1 ns). */
  instructionsPerNs?: number;
  /** TSC frequency in Hz (default 2,000,000,000). An integer. */
  tscHz?: number;
  /** APIC bus (core crystal) frequency in Hz that the LAPIC timer counts at (default 1 GHz, as KVM). */
  apicBusHz?: number;
  /** Host monotonic time in ns for the real-time modes (default `performance.now()`); injectable for tests. */
  hostNowNs?: () => number;
  /**
   * Host wall-clock time in ms since the Unix epoch, fractional (default: `performance.timeOrigin +
   * performance.now()`, or `Date.now()` when the system clock was stepped since); injectable for
   * tests. It gives the guest's wall clock, see {@link VirtualClock.wallClockEpochNs}.
   */
  hostWallMs?: () => number;
}

/**
 * A deadline callback owned by one device. Re-armable; at most one pending deadline.
 *
 * @example
 * ```ts
 * const t = clock.createTimer(() => console.log('fired at', clock.now()));
 * t.arm(clock.now() + 1_000_000); // in 1 ms of guest time
 * ```
 */
export class ClockTimer {
  /** Absolute deadline in guest ns; `Infinity` when disarmed. */
  deadline = Number.POSITIVE_INFINITY;
  /** @internal order among equal deadlines */
  seq = 0;

  constructor(
    private readonly clock: VirtualClock,
    /** Called with the deadline that was reached; may re-arm the timer. */
    readonly callback: (deadline: number) => void,
  ) {}

  /** Whether a deadline is pending. */
  get armed(): boolean {
    return this.deadline !== Number.POSITIVE_INFINITY;
  }

  /** Sets (or moves) the deadline. A deadline in the past fires at the next {@link VirtualClock.runDueTimers}. */
  arm(deadlineNs: number): void {
    if (Number.isNaN(deadlineNs))
      throw new X86EmulatorError(
        'invalid-argument',
        'ClockTimer.arm',
        `timer deadline ${deadlineNs} is not a number`,
      );
    this.deadline = deadlineNs;
    this.clock.onTimerChanged(this, true);
  }

  /** Cancels the pending deadline, if any. */
  disarm(): void {
    if (!this.armed) return;
    this.deadline = Number.POSITIVE_INFINITY;
    this.clock.onTimerChanged(this, false);
  }
}

/**
 * Periodic interrupt sources (LAPIC periodic timer, PIT channel 0 in modes 2/3) raise interrupts at
 * most this often, as KVM's `min_timer_period_us` (200 µs): a guest cannot make the machine spend
 * its time delivering timer interrupts. Counter readouts keep the programmed period.
 */
export const MIN_PERIODIC_TIMER_NS = 200_000;

const DEFAULT_TSC_HZ = 2_000_000_000;
const DEFAULT_APIC_BUS_HZ = 1_000_000_000;

function defaultHostNow(): number {
  return performance.now() * 1e6;
}

function defaultHostWall(): number {
  // sub-millisecond, and in step with performance.now(); the two part only when the system clock is
  // stepped (set by hand, an NTP step), and then the system clock is the one to follow
  const precise = performance.timeOrigin + performance.now();
  const coarse = Date.now();
  return Math.abs(precise - coarse - 0.5) <= 1.5 ? precise : coarse + 0.5;
}

/** `ms` (fractional ms since the epoch) minus `ns`, in ns, without losing the sub-µs digits. */
function epochMinus(ms: number, ns: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6)) - BigInt(Math.round(ns));
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Guest time and timers for one machine.
 *
 * The CPU calls {@link advanceInstructions} after each batch of guest instructions (sizing batches
 * with {@link instructionsUntilDeadline}); the machine's idle loop calls {@link idle} when every vCPU
 * is halted. Timers fire from those two calls, on the calling thread, in deadline order.
 *
 * @example
 * ```ts
 * const clock = new VirtualClock({ tscHz: 2_000_000_000 });
 * const t = clock.createTimer(() => console.log('tick'));
 * t.arm(1000);
 * clock.advanceInstructions(999); // nothing yet
 * clock.advanceInstructions(1);   // prints "tick"
 * clock.tsc(); // 2000: 1 µs at 2 GHz
 * ```
 */
export class VirtualClock {
  /** TSC frequency in Hz (fixed for the machine's life). Give it to the guest through CPUID. */
  readonly tscHz: number;
  /** APIC bus frequency in Hz: the LAPIC timer's input before its divider. */
  readonly apicBusHz: number;
  private ipns: number;
  private modeValue: ClockMode;
  private readonly hostNowNs: () => number;
  private readonly hostWallMs: () => number;
  /** Real-time modes: Unix ns at guest time 0, fixed when the mode was entered. */
  private wallEpoch = 0n;
  /** Guest ns at the last update. */
  private nowNs = 0;
  /** realtime/hybrid: guest ns = host ns + offset. */
  private hostOffset = 0;
  private readonly timers: ClockTimer[] = [];
  private nextDeadlineCache = Number.POSITIVE_INFINITY;
  private seq = 0;
  private firing = false;

  constructor(options: VirtualClockOptions = {}) {
    const tscHz = options.tscHz ?? DEFAULT_TSC_HZ;
    if (!Number.isSafeInteger(tscHz) || tscHz < 1_000_000) {
      throw new X86EmulatorError(
        'invalid-argument',
        'new VirtualClock',
        `tscHz ${tscHz} must be an integer of at least 1 MHz`,
      );
    }
    const apicBusHz = options.apicBusHz ?? DEFAULT_APIC_BUS_HZ;
    if (!Number.isSafeInteger(apicBusHz) || apicBusHz < 1_000_000) {
      throw new X86EmulatorError(
        'invalid-argument',
        'new VirtualClock',
        `apicBusHz ${apicBusHz} must be an integer of at least 1 MHz`,
      );
    }
    this.tscHz = tscHz;
    this.apicBusHz = apicBusHz;
    this.ipns = 1;
    this.setInstructionsPerNs(options.instructionsPerNs ?? 1);
    this.hostNowNs = options.hostNowNs ?? defaultHostNow;
    this.hostWallMs = options.hostWallMs ?? defaultHostWall;
    this.modeValue = 'virtual';
    this.setMode(options.mode ?? 'virtual');
  }

  /** The current mode. */
  get mode(): ClockMode {
    return this.modeValue;
  }

  /**
   * Switches mode without a jump: guest time continues from its current value.
   * @example clock.setMode('realtime'); // once a person is at the console
   */
  setMode(mode: ClockMode): void {
    if (mode !== 'virtual' && mode !== 'realtime' && mode !== 'hybrid') {
      throw new X86EmulatorError(
        'invalid-argument',
        'VirtualClock.setMode',
        `unknown clock mode ${String(mode)}`,
      );
    }
    const now = this.now();
    this.modeValue = mode;
    if (mode !== 'virtual') this.hostOffset = now - this.hostNowNs();
    this.wallEpoch = epochMinus(this.hostWallMs(), now);
    this.nowNs = now;
  }

  /**
   * The Unix time in ns at which guest time was 0: the guest's wall clock reads this plus
   * {@link now} (kvm-clock's wall-clock record carries it, and the CMOS RTC follows it, see
   * {@link wallClockMs}). It is fixed when a mode is entered (host wall time minus guest time
   * then). In the real-time modes the guest's wall clock then keeps agreeing with the host's as
   * both advance with the host's clock (a later step of the host's system clock is not followed,
   * as KVM's kvm-clock does not); in `hybrid` skipped idle time puts it ahead. In `virtual` mode
   * the guest's wall clock is the start time plus virtual elapsed time: it advances at the guest's
   * instruction-counted rate, and reads the same at the same point of a run whenever it is read.
   * @example const wallNs = clock.wallClockEpochNs() + BigInt(Math.floor(clock.now()));
   */
  wallClockEpochNs(): bigint {
    return this.wallEpoch;
  }

  /**
   * The guest's wall clock now, in ms since the Unix epoch (fractional): {@link wallClockEpochNs}
   * plus {@link now}. A time source for the guest's CMOS RTC, so that it tells the same time as
   * kvm-clock in every mode (the host's wall clock in the real-time modes, virtual time in `virtual`).
   * @example const rtc = new Rtc({ clock: () => clock.wallClockMs() });
   */
  wallClockMs(): number {
    const epoch = this.wallEpoch;
    const whole = epoch / 1_000_000n;
    return Number(whole) + (Number(epoch - whole * 1_000_000n) + this.now()) / 1e6;
  }

  /** Guest instructions per guest nanosecond in `virtual` mode. */
  get instructionsPerNs(): number {
    return this.ipns;
  }

  /** Changes the instruction rate of `virtual` mode (e.g. after measuring the emulator's speed). */
  setInstructionsPerNs(ratio: number): void {
    if (!(ratio > 0) || !Number.isFinite(ratio)) {
      throw new X86EmulatorError(
        'invalid-argument',
        'VirtualClock.setInstructionsPerNs',
        `instructionsPerNs ${ratio} must be a positive finite number`,
      );
    }
    this.ipns = ratio;
  }

  /** Current guest time in ns (monotonic). */
  now(): number {
    if (this.modeValue !== 'virtual') {
      const t = this.hostNowNs() + this.hostOffset;
      if (t > this.nowNs) this.nowNs = t;
    }
    return this.nowNs;
  }

  /**
   * Sets guest time to `ns`, forwards or backwards, firing nothing (a snapshot's restore, before
   * the timers are loaded again); the real-time modes go on counting from there.
   * @example clock.setTime(5e9);
   */
  setTime(ns: number): void {
    if (!Number.isFinite(ns) || ns < 0)
      throw new X86EmulatorError(
        'invalid-argument',
        'VirtualClock.setTime',
        `time ${ns} ns is not a finite, non-negative number`,
      );
    if (this.modeValue !== 'virtual') this.hostOffset = ns - this.hostNowNs();
    this.nowNs = ns;
  }

  /**
   * Accounts for `count` executed guest instructions and fires due timers. In the real-time modes
   * the instruction count is ignored and the host clock is read instead.
   */
  advanceInstructions(count: number): void {
    if (this.modeValue === 'virtual') {
      const target = this.nowNs + count / this.ipns;
      if (target < this.nextDeadlineCache) this.nowNs = target;
      else this.stepTo(target);
      return;
    }
    this.now();
    if (this.nowNs >= this.nextDeadlineCache) this.runDueTimers();
  }

  /**
   * Moves guest time forward by `ns` (in the real-time modes, by growing the offset to host time)
   * and fires due timers.
   */
  advance(ns: number): void {
    if (!(ns >= 0))
      throw new X86EmulatorError(
        'invalid-argument',
        'VirtualClock.advance',
        `cannot advance the clock by ${ns} ns`,
      );
    if (this.modeValue === 'virtual') {
      this.stepTo(this.nowNs + ns);
      return;
    }
    this.shift(ns);
    this.runDueTimers();
  }

  /**
   * Virtual mode: moves time to `target` through every deadline on the way, so each timer runs with
   * the clock reading its own deadline (a periodic timer fires once per period, not coalesced).
   */
  private stepTo(target: number): void {
    while (this.nextDeadlineCache <= target) {
      if (this.nextDeadlineCache > this.nowNs) this.nowNs = this.nextDeadlineCache;
      if (this.runDueTimers() === 0) break;
    }
    if (target > this.nowNs) this.nowNs = target;
    this.runDueTimers();
  }

  /**
   * Jumps guest time forward to `deadlineNs` (no-op if already past) and fires due timers. Used
   * when every vCPU is halted waiting for a timer.
   */
  warpTo(deadlineNs: number): void {
    if (Number.isNaN(deadlineNs))
      throw new X86EmulatorError(
        'invalid-argument',
        'VirtualClock.warpTo',
        `warp target ${deadlineNs} is not a number`,
      );
    const now = this.now();
    if (deadlineNs > now && deadlineNs !== Number.POSITIVE_INFINITY) {
      if (this.modeValue === 'virtual') {
        this.stepTo(deadlineNs);
        return;
      }
      this.shift(deadlineNs - now);
    }
    this.runDueTimers();
  }

  /**
   * Called when every vCPU is idle (halted with nothing pending). `virtual`/`hybrid`: warps to the
   * next deadline, fires it and returns 0. `realtime`: fires what is due and returns how many host
   * ns to sleep before calling again (`Infinity` when no timer is armed: wait for outside input).
   */
  idle(): number {
    const next = this.nextDeadline();
    if (this.modeValue === 'realtime') {
      this.runDueTimers();
      const wait = this.nextDeadline() - this.now();
      return Math.max(wait, 0);
    }
    if (next === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
    this.warpTo(next);
    return 0;
  }

  /** The earliest armed deadline in guest ns, or `Infinity`. */
  nextDeadline(): number {
    return this.nextDeadlineCache;
  }

  /**
   * In `virtual` mode, how many instructions may run before the next deadline (at least 1;
   * `Infinity` when no timer is armed or in the real-time modes, where instructions do not move
   * time: size batches there by host time, see {@link nsUntilDeadline}).
   */
  instructionsUntilDeadline(): number {
    if (this.modeValue !== 'virtual' || this.nextDeadlineCache === Number.POSITIVE_INFINITY) {
      return Number.POSITIVE_INFINITY;
    }
    const n = Math.ceil((this.nextDeadlineCache - this.nowNs) * this.ipns);
    return Math.max(n, 1);
  }

  /** Guest ns until the next deadline (0 when it has passed, `Infinity` when no timer is armed). */
  nsUntilDeadline(): number {
    const next = this.nextDeadlineCache;
    if (next === Number.POSITIVE_INFINITY) return next;
    return Math.max(next - this.now(), 0);
  }

  /** Creates a timer on this clock (disarmed). */
  createTimer(callback: (deadline: number) => void): ClockTimer {
    return new ClockTimer(this, callback);
  }

  /** Fires every timer whose deadline has passed, earliest first. Returns how many fired. */
  runDueTimers(): number {
    if (this.firing) return 0;
    this.firing = true;
    let fired = 0;
    try {
      for (;;) {
        const now = this.now();
        let best: ClockTimer | undefined;
        for (const t of this.timers) {
          if (
            t.deadline <= now &&
            (!best || t.deadline < best.deadline || (t.deadline === best.deadline && t.seq < best.seq))
          ) {
            best = t;
          }
        }
        if (!best) break;
        const deadline = best.deadline;
        best.deadline = Number.POSITIVE_INFINITY;
        this.removeTimer(best);
        best.callback(deadline);
        fired++;
      }
    } finally {
      this.firing = false;
      this.recomputeNext();
    }
    return fired;
  }

  /** The guest TSC (before any per-vCPU offset) at the current time. */
  tsc(): number {
    return this.tscAt(this.now());
  }

  /** The TSC value at guest time `ns`. */
  tscAt(ns: number): number {
    return Math.floor((ns * this.tscHz) / 1e9);
  }

  /** The guest time at which the TSC reaches `tsc` (rounded up to whole ns). */
  nsAtTsc(tsc: number): number {
    return Math.ceil((tsc * 1e9) / this.tscHz);
  }

  /**
   * The values the CPUID side should report so the guest knows the TSC and APIC timer
   * frequencies without calibrating: leaf 0x15 (TSC/crystal ratio, crystal = APIC bus clock, which
   * Linux also takes as the LAPIC timer rate), leaf 0x16 (MHz) and KVM's leaf 0x40000010 (kHz).
   *
   * @example
   * ```ts
   * const f = clock.frequencyCpuid();
   * // CPUID.15H: eax = f.leaf15.eax, ebx = f.leaf15.ebx, ecx = f.leaf15.ecx
   * ```
   */
  frequencyCpuid(): FrequencyCpuid {
    const g = gcd(this.tscHz, this.apicBusHz);
    return {
      leaf15: { eax: this.apicBusHz / g, ebx: this.tscHz / g, ecx: this.apicBusHz },
      leaf16: {
        eax: Math.floor(this.tscHz / 1e6),
        ebx: Math.floor(this.tscHz / 1e6),
        ecx: Math.floor(this.apicBusHz / 1e6),
      },
      leaf40000010: { eax: Math.floor(this.tscHz / 1000), ebx: Math.floor(this.apicBusHz / 1000) },
    };
  }

  /** @internal */
  onTimerChanged(timer: ClockTimer, armed: boolean): void {
    if (armed) {
      timer.seq = this.seq++;
      if (!this.timers.includes(timer)) this.timers.push(timer);
    } else {
      this.removeTimer(timer);
    }
    if (!this.firing) this.recomputeNext();
  }

  private removeTimer(timer: ClockTimer): void {
    const i = this.timers.indexOf(timer);
    if (i >= 0) {
      this.timers[i] = this.timers[this.timers.length - 1];
      this.timers.pop();
    }
  }

  private recomputeNext(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const t of this.timers) if (t.deadline < next) next = t.deadline;
    this.nextDeadlineCache = next;
  }

  private shift(ns: number): void {
    if (this.modeValue === 'virtual') this.nowNs += ns;
    else {
      this.hostOffset += ns;
      this.now();
    }
  }
}

/** CPUID register values describing the clock frequencies; see {@link VirtualClock.frequencyCpuid}. */
export interface FrequencyCpuid {
  /** Leaf 0x15: TSC = ecx * ebx / eax Hz; ecx is the crystal (APIC bus) frequency in Hz. */
  leaf15: { eax: number; ebx: number; ecx: number };
  /** Leaf 0x16: base and maximum frequency (MHz), bus (reference) frequency (MHz). */
  leaf16: { eax: number; ebx: number; ecx: number };
  /** KVM's timing leaf 0x40000010: TSC kHz in eax, APIC bus kHz in ebx. */
  leaf40000010: { eax: number; ebx: number };
}
