import type { BusDevice } from './bus.js';
import { DeviceError } from './errors.js';
import { bytesToBase64, type DeviceState, StateReader } from './state.js';

/** CMOS register indices. */
export const CMOS_REG = {
  SECONDS: 0x00,
  SECONDS_ALARM: 0x01,
  MINUTES: 0x02,
  MINUTES_ALARM: 0x03,
  HOURS: 0x04,
  HOURS_ALARM: 0x05,
  DAY_OF_WEEK: 0x06,
  DAY_OF_MONTH: 0x07,
  MONTH: 0x08,
  YEAR: 0x09,
  STATUS_A: 0x0a,
  STATUS_B: 0x0b,
  STATUS_C: 0x0c,
  STATUS_D: 0x0d,
  CENTURY: 0x32,
} as const;

const A_UIP = 0x80;
const B_SET = 0x80;
const B_BINARY = 0x04;
const B_24H = 0x02;
const D_VRT = 0x80;
const NMI_DISABLE = 0x80;

/** How long before each second's update the update-in-progress bit is set (244 us on the MC146818). */
export const RTC_UIP_WINDOW_MS = 0.244;

/** Options for an {@link Rtc}. */
export interface RtcOptions {
  /**
   * The time the RTC keeps, in milliseconds since the Unix epoch (UTC), fractional allowed. Default
   * `Date.now`, the host's clock; a VMM whose guest runs on another clock gives that one (an
   * emulator's virtual clock: start time plus virtual elapsed time), so the RTC tells the time the
   * guest's other clocks tell.
   */
  clock?: () => number;
  /** Initial CMOS RAM bytes (index 0x0e and up), e.g. memory size fields. */
  ram?: Record<number, number>;
}

function toBcd(v: number): number {
  return ((Math.floor(v / 10) % 10) << 4) | (v % 10);
}
function fromBcd(v: number): number {
  return (v >> 4) * 10 + (v & 0x0f);
}

/**
 * The CMOS real-time clock at ports 0x70 (index, bit 7 = NMI disable) and 0x71 (data): time and
 * date in BCD or binary, 12- or 24-hour format (status B), status A's update-in-progress bit, status
 * C/D, century at 0x32, and 128 bytes of CMOS RAM. Guest writes to the time registers move the
 * guest's clock (kept as an offset from the `clock` time source); that source is never touched.
 * Alarm and periodic interrupts are not modelled (status C always reads 0).
 *
 * @example
 * ```ts
 * import { Rtc } from '@ts-vmm/devices';
 * const rtc = new Rtc({ clock: () => Date.UTC(2024, 0, 2, 3, 4, 5) });
 * pio.register(0x70, 2, rtc, 'rtc');
 * pio.writeValue(0x70, 1, 0x00);
 * pio.readValue(0x71, 1); // 0x05 (BCD seconds)
 * ```
 */
export class Rtc implements BusDevice {
  private index = 0;
  /** True while the guest has set the NMI-disable bit (bit 7 of port 0x70). */
  nmiDisabled = false;
  private readonly ram = new Uint8Array(128);
  private offsetMs = 0;
  private readonly clock: () => number;

  constructor(options: RtcOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.ram[CMOS_REG.STATUS_A] = 0x26; // 32.768 kHz divider, 1024 Hz rate
    this.ram[CMOS_REG.STATUS_B] = B_24H;
    this.ram[CMOS_REG.STATUS_D] = D_VRT;
    for (const [k, v] of Object.entries(options.ram ?? {})) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0x0e || i >= 128 || i === CMOS_REG.CENTURY)
        throw new DeviceError(
          'invalid-config',
          'rtc',
          `CMOS RAM index ${k} is not a free RAM byte (0x0e..0x7f, not 0x32)`,
        );
      this.ram[i] = v & 0xff;
    }
  }

  /** Guest time in ms since the epoch. */
  guestTime(): number {
    return this.clock() + this.offsetMs;
  }

  private get binary(): boolean {
    return (this.ram[CMOS_REG.STATUS_B] & B_BINARY) !== 0;
  }
  private enc(v: number): number {
    return this.binary ? v : toBcd(v);
  }
  private dec(v: number): number {
    return this.binary ? v : fromBcd(v & 0x7f);
  }

  /** Reads CMOS register `reg` (0..127). */
  readRegister(reg: number): number {
    const d = new Date(this.guestTime());
    switch (reg) {
      case CMOS_REG.SECONDS:
        return this.enc(d.getUTCSeconds());
      case CMOS_REG.MINUTES:
        return this.enc(d.getUTCMinutes());
      case CMOS_REG.HOURS: {
        const h = d.getUTCHours();
        if (this.ram[CMOS_REG.STATUS_B] & B_24H) return this.enc(h);
        const h12 = h % 12 === 0 ? 12 : h % 12;
        return this.enc(h12) | (h >= 12 ? 0x80 : 0);
      }
      case CMOS_REG.DAY_OF_WEEK:
        return this.enc(d.getUTCDay() + 1);
      case CMOS_REG.DAY_OF_MONTH:
        return this.enc(d.getUTCDate());
      case CMOS_REG.MONTH:
        return this.enc(d.getUTCMonth() + 1);
      case CMOS_REG.YEAR:
        return this.enc(d.getUTCFullYear() % 100);
      case CMOS_REG.CENTURY:
        return this.enc(Math.floor(d.getUTCFullYear() / 100));
      case CMOS_REG.STATUS_A: {
        const ms = this.guestTime();
        const frac = ms - Math.floor(ms / 1000) * 1000;
        const uip = !(this.ram[CMOS_REG.STATUS_B] & B_SET) && frac >= 1000 - RTC_UIP_WINDOW_MS;
        return (this.ram[CMOS_REG.STATUS_A] & 0x7f) | (uip ? A_UIP : 0);
      }
      case CMOS_REG.STATUS_C:
        return 0;
      case CMOS_REG.STATUS_D:
        return D_VRT;
      default:
        return this.ram[reg & 0x7f];
    }
  }

  /** Writes CMOS register `reg`. Time registers move the guest clock. */
  writeRegister(reg: number, value: number): void {
    value &= 0xff;
    const timeField = (set: (d: Date, v: number) => void, v: number) => {
      const d = new Date(this.guestTime());
      set(d, v);
      const t = d.getTime();
      if (Number.isFinite(t)) this.offsetMs = t - this.clock();
    };
    switch (reg) {
      case CMOS_REG.SECONDS:
        timeField((d, v) => d.setUTCSeconds(Math.min(v, 59)), this.dec(value));
        return;
      case CMOS_REG.MINUTES:
        timeField((d, v) => d.setUTCMinutes(Math.min(v, 59)), this.dec(value));
        return;
      case CMOS_REG.HOURS: {
        let h: number;
        if (this.ram[CMOS_REG.STATUS_B] & B_24H) h = this.dec(value);
        else {
          const h12 = this.dec(value & 0x7f) % 12;
          h = h12 + (value & 0x80 ? 12 : 0);
        }
        timeField((d, v) => d.setUTCHours(Math.min(v, 23)), h);
        return;
      }
      case CMOS_REG.DAY_OF_MONTH:
        timeField((d, v) => d.setUTCDate(Math.min(Math.max(v, 1), 31)), this.dec(value));
        return;
      case CMOS_REG.MONTH:
        timeField((d, v) => d.setUTCMonth(Math.min(Math.max(v, 1), 12) - 1), this.dec(value));
        return;
      case CMOS_REG.YEAR:
        timeField(
          (d, v) => d.setUTCFullYear(Math.floor(d.getUTCFullYear() / 100) * 100 + (v % 100)),
          this.dec(value),
        );
        return;
      case CMOS_REG.CENTURY:
        timeField((d, v) => d.setUTCFullYear((v % 100) * 100 + (d.getUTCFullYear() % 100)), this.dec(value));
        return;
      case CMOS_REG.DAY_OF_WEEK:
        return; // derived from the date
      case CMOS_REG.STATUS_A:
        this.ram[reg] = value & 0x7f; // UIP is read-only
        return;
      case CMOS_REG.STATUS_B:
        this.ram[reg] = value;
        return;
      case CMOS_REG.STATUS_C:
      case CMOS_REG.STATUS_D:
        return; // read-only
      default:
        this.ram[reg & 0x7f] = value;
    }
  }

  /** {@link BusDevice.read}: offset 0 = index port (reads back the index), 1 = data port. */
  read(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const o = offset + i;
      data[i] =
        o === 0
          ? this.index | (this.nmiDisabled ? NMI_DISABLE : 0)
          : o === 1
            ? this.readRegister(this.index)
            : 0xff;
    }
  }

  /** {@link BusDevice.write}. */
  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const o = offset + i;
      if (o === 0) {
        this.index = data[i] & 0x7f;
        this.nmiDisabled = (data[i] & NMI_DISABLE) !== 0;
      } else if (o === 1) this.writeRegister(this.index, data[i]);
    }
  }

  /**
   * The RTC's state for a snapshot: index, NMI mask, CMOS RAM and the guest's offset from the clock.
   * @example fresh.restore(rtc.save());
   */
  save(): DeviceState {
    return {
      device: 'rtc',
      version: 1,
      index: this.index,
      nmiDisabled: this.nmiDisabled,
      ram: bytesToBase64(this.ram),
      offsetMs: this.offsetMs,
    };
  }

  /**
   * Loads a state from {@link Rtc.save}, checked first (an `invalid-state` DeviceError names the
   * bad field; nothing changes).
   * @example fresh.restore(rtc.save());
   */
  restore(state: DeviceState): void {
    const r = new StateReader('rtc', state, 1);
    const index = r.int('index', 0, 0x7f);
    const nmiDisabled = r.bool('nmiDisabled');
    const ram = r.bytes('ram', 128, true);
    const offsetMs = r.num('offsetMs');
    this.index = index;
    this.nmiDisabled = nmiDisabled;
    this.ram.set(ram);
    this.offsetMs = offsetMs;
  }
}
