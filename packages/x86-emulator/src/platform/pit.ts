/**
 * The 8254 programmable interval timer at ports 0x40-0x43, plus system control port B (0x61)
 * which gates channel 2 and shows its output (OUT2, bit 5) as Linux's TSC calibration expects.
 * Counts at 1.193182 MHz on the {@link VirtualClock}; channel 0's output drives IRQ 0.
 *
 * Modes 0-5, counter latch, read-back (count and status), LSB/MSB/LSB-then-MSB access and BCD
 * counting are modelled. Like KVM, channel 0 signals IRQ 0 as a pulse (assert then de-assert) at
 * each rising edge of its output, so edge-triggered PIC and IOAPIC inputs see one interrupt per
 * period; missed periods are coalesced, not re-injected.
 *
 * @module
 */
import { X86EmulatorError } from '../errors.js';
import { type ClockTimer, MIN_PERIODIC_TIMER_NS, type VirtualClock } from './virtual-clock.js';

/** The PIT input clock in Hz. */
export const PIT_HZ = 1_193_182;

/** Ports the PIT decodes. */
export const PitPorts = {
  CHANNEL0: 0x40,
  CHANNEL1: 0x41,
  CHANNEL2: 0x42,
  COMMAND: 0x43,
  /** System control port B: bit 0 gate 2, bit 1 speaker data, bit 4 refresh toggle, bit 5 OUT2. */
  PORT_B: 0x61,
} as const;

const NS_PER_TICK = 1e9 / PIT_HZ;
// access states (as QEMU: LSB, MSB, LSB then MSB, second byte pending)
// 1 = LSB only: the `default` branches below
const RW_MSB = 2;
const RW_WORD0 = 3;
const RW_WORD1 = 4;

function toBcd(v: number): number {
  return (
    (v % 10) |
    ((Math.floor(v / 10) % 10) << 4) |
    ((Math.floor(v / 100) % 10) << 8) |
    ((Math.floor(v / 1000) % 10) << 12)
  );
}

function fromBcd(v: number): number {
  return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
}

/** One counter of the 8254. */
export class PitChannel {
  /** Reload value in counts: 1..0x10000 (binary) or 1..10000 (BCD). */
  count = 0x10000;
  /** Guest ns when counting (re)started from `count`. */
  loadTime = 0;
  /** Guest ns when the gate paused counting (modes 0 and 4), or -1. */
  pausedAt = -1;
  gate: boolean;
  mode = 0;
  bcd = false;
  rwMode = RW_WORD0;
  readState = RW_WORD0;
  writeState = RW_WORD0;
  writeLatch = 0;
  latchedCount = 0;
  countLatched = 0;
  status = 0;
  statusLatched = false;
  /** A count has been written since the last control word. */
  loaded = false;
  /** Modes 1 and 5: the gate has triggered counting. */
  triggered = false;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  /** Whole input clocks counted since load, at guest time `now`. */
  ticks(now: number): number {
    const t = this.pausedAt >= 0 ? this.pausedAt : now;
    return Math.max(0, Math.floor((t - this.loadTime) / NS_PER_TICK));
  }

  /** The counting element's value (binary; see {@link readout} for BCD). */
  value(now: number): number {
    if (!this.loaded) return this.count & 0xffff;
    if ((this.mode === 1 || this.mode === 5) && !this.triggered) return this.count & 0xffff;
    const d = this.ticks(now);
    const modulus = this.bcd ? 10000 : 0x10000;
    switch (this.mode) {
      case 2:
        return this.count - (d % this.count);
      case 3:
        return this.count - ((2 * d) % this.count);
      default:
        return (((this.count - d) % modulus) + modulus) % modulus;
    }
  }

  readout(now: number): number {
    const v = this.value(now) & 0xffff;
    return this.bcd ? toBcd(v % 10000) : v;
  }

  out(now: number): boolean {
    if (!this.loaded) return this.mode !== 0;
    const d = this.ticks(now);
    switch (this.mode) {
      case 0:
        return d >= this.count;
      case 1:
        return !this.triggered || d >= this.count;
      case 2:
        return !this.gate || d % this.count !== this.count - 1;
      case 3:
        return !this.gate || d % this.count < (this.count + 1) >> 1;
      case 4:
        return d !== this.count;
      default:
        return !this.triggered || d !== this.count;
    }
  }

  /** Guest ns of the next rising edge of OUT after `now` (when it signals IRQ 0), or Infinity. */
  nextEdge(now: number): number {
    if (!this.loaded || this.pausedAt >= 0) return Number.POSITIVE_INFINITY;
    const period = this.count * NS_PER_TICK;
    switch (this.mode) {
      case 0:
      case 4: {
        const t = this.loadTime + period;
        return t > now ? t : Number.POSITIVE_INFINITY;
      }
      case 2:
      case 3: {
        if (!this.gate) return Number.POSITIVE_INFINITY;
        const k = Math.floor((now - this.loadTime) / period) + 1;
        return this.loadTime + Math.max(k, 1) * period;
      }
      default: {
        if (!this.triggered) return Number.POSITIVE_INFINITY;
        const t = this.loadTime + period;
        return t > now ? t : Number.POSITIVE_INFINITY;
      }
    }
  }
}

/** Options for {@link Pit}. */
export interface PitOptions {
  clock: VirtualClock;
  /** Receives channel 0's IRQ 0 signal (level true then false for each edge). */
  irq0?: (level: boolean) => void;
}

/**
 * The 8254 PIT with port 0x61.
 *
 * @example
 * ```ts
 * const clock = new VirtualClock();
 * const pit = new Pit({ clock, irq0: (level) => irqchip.setIrqLine(0, level) });
 * pit.pioWrite(0x43, 1, 0x34);              // channel 0, LSB then MSB, mode 2
 * pit.pioWrite(0x40, 1, 0x9c); pit.pioWrite(0x40, 1, 0x2e); // 11932: 100 Hz
 * ```
 */
export class Pit {
  private readonly clock: VirtualClock;
  private readonly channels = [new PitChannel(true), new PitChannel(true), new PitChannel(false)];
  private readonly timer: ClockTimer;
  private readonly irq0: (level: boolean) => void;
  private portB = 0;

  constructor(options: PitOptions) {
    this.clock = options.clock;
    this.irq0 = options.irq0 ?? (() => {});
    this.timer = this.clock.createTimer((deadline) => this.onChannel0Edge(deadline));
  }

  /** Whether `port` is one of the PIT's ports (0x40-0x43, 0x61). */
  handlesPort(port: number): boolean {
    return (port >= 0x40 && port <= 0x43) || port === 0x61;
  }

  /** IN from 0x40-0x42 (counter), 0x43 (reads 0xff) or 0x61. */
  pioRead(port: number, _size = 1): number {
    const now = this.clock.now();
    if (port === PitPorts.PORT_B) {
      const ch2 = this.channels[2];
      const refresh = Math.floor(now / 15_085) & 1;
      return (this.portB & 0x0f) | (refresh << 4) | (ch2.out(now) ? 0x20 : 0);
    }
    if (port === PitPorts.COMMAND || port < 0x40 || port > 0x43) return 0xff;
    const s = this.channels[port - 0x40];
    if (s.statusLatched) {
      s.statusLatched = false;
      return s.status;
    }
    if (s.countLatched) {
      switch (s.countLatched) {
        case RW_MSB:
          s.countLatched = 0;
          return (s.latchedCount >> 8) & 0xff;
        case RW_WORD0:
          s.countLatched = RW_MSB;
          return s.latchedCount & 0xff;
        default:
          s.countLatched = 0;
          return s.latchedCount & 0xff;
      }
    }
    const count = s.readout(now);
    switch (s.readState) {
      case RW_MSB:
        return (count >> 8) & 0xff;
      case RW_WORD0:
        s.readState = RW_WORD1;
        return count & 0xff;
      case RW_WORD1:
        s.readState = RW_WORD0;
        return (count >> 8) & 0xff;
      default:
        return count & 0xff;
    }
  }

  /** OUT to 0x40-0x42 (counter), 0x43 (control word) or 0x61. */
  pioWrite(port: number, _size: number, value: number): void {
    const val = value & 0xff;
    const now = this.clock.now();
    if (port === PitPorts.PORT_B) {
      this.portB = val & 0x0f;
      this.setGate(2, (val & 1) !== 0);
      return;
    }
    if (port === PitPorts.COMMAND) {
      this.writeControl(val, now);
      return;
    }
    if (port < 0x40 || port > 0x42) return;
    const index = port - 0x40;
    const s = this.channels[index];
    switch (s.writeState) {
      case RW_MSB:
        this.load(index, val << 8, now);
        break;
      case RW_WORD0:
        s.writeLatch = val;
        s.writeState = RW_WORD1;
        break;
      case RW_WORD1:
        this.load(index, s.writeLatch | (val << 8), now);
        s.writeState = RW_WORD0;
        break;
      default:
        this.load(index, val, now);
    }
  }

  /**
   * Sets the gate input of a channel (channel 2's comes from port 0x61 bit 0; 0 and 1 are tied high).
   * @example pit.setGate(2, true);
   */
  setGate(channel: number, level: boolean): void {
    if (!Number.isInteger(channel) || channel < 0 || channel > 2) {
      throw new X86EmulatorError(
        'invalid-argument',
        'Pit.setGate',
        `channel ${channel} is out of range 0..2`,
      );
    }
    const s = this.channels[channel];
    const now = this.clock.now();
    const rising = level && !s.gate;
    switch (s.mode) {
      case 0:
      case 4:
        if (!level && s.gate && s.pausedAt < 0) s.pausedAt = now;
        else if (rising && s.pausedAt >= 0) {
          s.loadTime += now - s.pausedAt;
          s.pausedAt = -1;
        }
        break;
      case 2:
      case 3:
        // gate low stops the count (OUT high); the rising edge reloads it
        if (!level) {
          if (s.pausedAt < 0) s.pausedAt = now;
        } else if (rising) {
          s.loadTime = now;
          s.pausedAt = -1;
        }
        break;
      default:
        if (rising) {
          s.loadTime = now;
          s.triggered = true;
        }
    }
    s.gate = level;
    if (channel === 0) this.rearm(now);
  }

  /** Channel `channel`'s OUT pin at the current time. */
  output(channel: number): boolean {
    return this.channels[channel].out(this.clock.now());
  }

  /** Channel `channel`'s mode and reload value, for tests and state dumps. */
  channelState(channel: number): { mode: number; count: number; bcd: boolean; gate: boolean } {
    const s = this.channels[channel];
    return { mode: s.mode, count: s.count, bcd: s.bcd, gate: s.gate };
  }

  /** @internal Channel `channel` itself, for snapshots; call {@link Pit.restart} after changing channel 0. */
  channel(channel: number): PitChannel {
    return this.channels[channel];
  }

  /** @internal Port 0x61's stored bits (bit 0 gates channel 2, bit 1 is the speaker data), for snapshots. */
  get portBBits(): number {
    return this.portB;
  }
  set portBBits(value: number) {
    this.portB = value & 0x0f;
  }

  /** @internal Re-arms channel 0's IRQ 0 timer after its registers were loaded. */
  restart(): void {
    this.rearm(this.clock.now());
  }

  private writeControl(val: number, now: number): void {
    const channel = val >> 6;
    if (channel === 3) {
      // read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 3-1 select channels
      for (let i = 0; i < 3; i++) {
        if (!(val & (2 << i))) continue;
        const s = this.channels[i];
        if (!(val & 0x20)) this.latchCount(s, now);
        if (!(val & 0x10) && !s.statusLatched) {
          s.status =
            (s.out(now) ? 0x80 : 0) |
            (s.loaded ? 0 : 0x40) |
            (s.rwMode << 4) |
            (s.mode << 1) |
            (s.bcd ? 1 : 0);
          s.statusLatched = true;
        }
      }
      return;
    }
    const s = this.channels[channel];
    const access = (val >> 4) & 3;
    if (access === 0) {
      this.latchCount(s, now);
      return;
    }
    s.rwMode = access;
    s.readState = access;
    s.writeState = access;
    let mode = (val >> 1) & 7;
    if (mode >= 6) mode -= 4;
    s.mode = mode;
    s.bcd = (val & 1) !== 0;
    s.loaded = false;
    s.triggered = false;
    s.pausedAt = -1;
    s.countLatched = 0;
    s.statusLatched = false;
    if (channel === 0) this.timer.disarm();
  }

  private latchCount(s: PitChannel, now: number): void {
    if (s.countLatched) return;
    s.latchedCount = s.readout(now);
    s.countLatched = s.rwMode;
  }

  private load(index: number, raw: number, now: number): void {
    const s = this.channels[index];
    let count = s.bcd ? fromBcd(raw & 0xffff) : raw & 0xffff;
    if (count === 0) count = s.bcd ? 10000 : 0x10000;
    s.count = count;
    s.loadTime = now;
    s.loaded = true;
    s.pausedAt = s.mode !== 1 && s.mode !== 5 && !s.gate ? now : -1;
    if (index === 0) this.rearm(now);
  }

  private rearm(now: number): void {
    const next = this.channels[0].nextEdge(now);
    if (next === Number.POSITIVE_INFINITY) this.timer.disarm();
    else this.timer.arm(next);
  }

  private onChannel0Edge(deadline: number): void {
    this.irq0(true);
    this.irq0(false);
    // look for the next edge from half a period after this one (robust against rounding), at
    // least MIN_PERIODIC_TIMER_NS on, or from now when periods were missed (coalesced)
    const half = (this.channels[0].count * NS_PER_TICK) / 2;
    this.rearm(Math.max(this.clock.now(), deadline + Math.max(half, MIN_PERIODIC_TIMER_NS - half)));
  }
}
