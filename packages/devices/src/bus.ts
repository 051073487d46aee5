import { DeviceError } from './errors.js';
/**
 * A device that answers reads and writes in an address range. `offset` is relative to the start of
 * the range the device was registered at; `data.length` is the access size (1, 2, 4 or 8 bytes).
 * A read must fill every byte of `data`.
 *
 * @example
 * ```ts
 * const scratch: BusDevice = {
 *   read: (off, data) => data.fill(off),
 *   write: () => {},
 * };
 * ```
 */
export interface BusDevice {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

/** Which address space a bus serves: x86 port I/O (16-bit) or memory-mapped I/O (52-bit). */
export type AddressSpace = 'pio' | 'mmio';

/** One registered range. */
export interface BusRange {
  readonly base: number;
  readonly size: number;
  readonly device: BusDevice;
  readonly name: string;
}

/** An access no device claimed. */
export interface UnclaimedAccess {
  readonly space: AddressSpace;
  readonly address: number;
  readonly size: number;
  readonly write: boolean;
  /** The bytes written (writes only). */
  readonly data?: Uint8Array;
}

/** Options for a {@link Bus}. */
export interface BusOptions {
  /** Called for every access that no device claims. */
  onUnclaimed?: (access: UnclaimedAccess) => void;
}

const LIMIT: Record<AddressSpace, number> = { pio: 0x1_0000, mmio: 2 ** 52 };

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * An I/O bus: a set of non-overlapping address ranges, each served by a {@link BusDevice}. Lookup
 * is a binary search over the sorted ranges with a one-entry cache of the last hit.
 *
 * Unclaimed reads return all-ones (what an ISA bus with nothing on it answers); unclaimed accesses
 * are counted and reported to `onUnclaimed`.
 *
 * @example
 * ```ts
 * import { Bus, Serial } from '@ts-vmm/devices';
 * const pio = new Bus('pio');
 * const com1 = new Serial();
 * pio.register(0x3f8, 8, com1, 'com1');
 * pio.write(0x3f8, Uint8Array.of(0x41)); // 'A' to the serial sink
 * const lsr = new Uint8Array(1);
 * pio.read(0x3fd, lsr);
 * ```
 */
export class Bus {
  private ranges: BusRange[] = [];
  private last: BusRange | undefined;
  /** Number of accesses no device claimed. */
  unclaimedCount = 0;
  private readonly onUnclaimed?: (access: UnclaimedAccess) => void;

  constructor(
    readonly space: AddressSpace,
    options: BusOptions = {},
  ) {
    this.onUnclaimed = options.onUnclaimed;
  }

  /**
   * Registers `device` for `[base, base + size)`. Throws {@link DeviceError} when the range is invalid
   * or overlaps one already registered.
   * @example bus.register(0x60, 1, i8042.dataPort, 'i8042-data')
   */
  register(base: number, size: number, device: BusDevice, name = 'device'): void {
    const limit = LIMIT[this.space];
    if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(size) || size <= 0) {
      throw new DeviceError(
        'invalid-config',
        'bus',
        `${this.space} range for ${name}: base ${base} / size ${size} must be a non-negative integer and a positive integer`,
      );
    }
    if (base + size > limit) {
      throw new DeviceError(
        'invalid-config',
        'bus',
        `${this.space} range ${hex(base)}+${hex(size)} for ${name} extends past ${hex(limit)}`,
      );
    }
    const i = this.lowerBound(base);
    const prev = this.ranges[i - 1];
    const next = this.ranges[i];
    const clash =
      (prev && prev.base + prev.size > base ? prev : undefined) ??
      (next && next.base < base + size ? next : undefined);
    if (clash) {
      throw new DeviceError(
        'invalid-config',
        'bus',
        `${this.space} range [${hex(base)}, ${hex(base + size)}) for ${name} overlaps [${hex(clash.base)}, ${hex(clash.base + clash.size)}) of ${clash.name}`,
      );
    }
    this.ranges.splice(i, 0, { base, size, device, name });
  }

  /**
   * Removes the range starting at `base`; returns it, or `undefined` when none starts there.
   * @example bus.unregister(0x3f8)
   */
  unregister(base: number): BusRange | undefined {
    const i = this.lowerBound(base);
    const r = this.ranges[i];
    if (!r || r.base !== base) return undefined;
    this.ranges.splice(i, 1);
    if (this.last === r) this.last = undefined;
    return r;
  }

  /** The registered ranges, sorted by base. */
  get entries(): readonly BusRange[] {
    return this.ranges;
  }

  /**
   * The range holding `addr`, or `undefined`.
   * @example bus.find(0x3fd)?.name // 'com1'
   */
  find(addr: number): BusRange | undefined {
    const l = this.last;
    if (l && addr >= l.base && addr - l.base < l.size) return l;
    const rs = this.ranges;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = rs[mid];
      if (addr < r.base) hi = mid - 1;
      else if (addr - r.base >= r.size) lo = mid + 1;
      else {
        this.last = r;
        return r;
      }
    }
    return undefined;
  }

  /** Index of the first range whose base is >= `base`. */
  private lowerBound(base: number): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ranges[mid].base < base) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Dispatches a read of `data.length` bytes at `addr`. Returns true when a device claimed it; an
   * unclaimed read leaves `data` all-ones. The access must lie wholly inside one device's range.
   * @example const d = new Uint8Array(1); bus.read(0x64, d);
   */
  read(addr: number, data: Uint8Array): boolean {
    checkSize(data.length);
    const r = this.find(addr);
    if (r && addr + data.length - r.base <= r.size) {
      r.device.read(addr - r.base, data);
      return true;
    }
    data.fill(0xff);
    this.unclaimed(addr, data.length, false);
    return false;
  }

  /**
   * Dispatches a write of `data` at `addr`. Returns true when a device claimed it.
   * @example bus.write(0xf4, Uint8Array.of(0x31))
   */
  write(addr: number, data: Uint8Array): boolean {
    checkSize(data.length);
    const r = this.find(addr);
    if (r && addr + data.length - r.base <= r.size) {
      r.device.write(addr - r.base, data);
      return true;
    }
    this.unclaimed(addr, data.length, true, data);
    return false;
  }

  private readonly scratch = [new Uint8Array(1), new Uint8Array(2), undefined, new Uint8Array(4)];

  /**
   * Reads a 1, 2 or 4 byte little-endian value (for callers, such as an emulator, that deal in numbers).
   * @example bus.readValue(0x3fd, 1) & 0x20 // THR empty
   */
  readValue(addr: number, size: 1 | 2 | 4): number {
    const d = this.scratch[size - 1];
    if (!d)
      throw new DeviceError(
        'invalid-config',
        'bus',
        `access size ${size} at ${hex(addr)}: readValue takes 1, 2 or 4`,
      );
    this.read(addr, d);
    return size === 1
      ? d[0]
      : size === 2
        ? d[0] | (d[1] << 8)
        : (d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24)) >>> 0;
  }

  /**
   * Writes a 1, 2 or 4 byte little-endian value.
   * @example bus.writeValue(0x3f8, 1, 0x41)
   */
  writeValue(addr: number, size: 1 | 2 | 4, value: number): boolean {
    const d = this.scratch[size - 1];
    if (!d)
      throw new DeviceError(
        'invalid-config',
        'bus',
        `access size ${size} at ${hex(addr)}: writeValue takes 1, 2 or 4`,
      );
    for (let i = 0; i < size; i++) d[i] = value >>> (8 * i);
    return this.write(addr, d);
  }

  private unclaimed(address: number, size: number, write: boolean, data?: Uint8Array): void {
    this.unclaimedCount++;
    this.onUnclaimed?.({ space: this.space, address, size, write, data: data ? data.slice() : undefined });
  }
}

function checkSize(n: number): void {
  if (n !== 1 && n !== 2 && n !== 4 && n !== 8) {
    throw new DeviceError('invalid-config', 'bus', `access size ${n} is not 1, 2, 4 or 8 bytes`);
  }
}
