/**
 * Device state for snapshots: every device model's `save()` returns a {@link DeviceState}, a plain
 * JSON-able record tagged with the device's name and a per-device format version, and its
 * `restore(state)` checks every field before it changes anything, throwing an `invalid-state`
 * {@link DeviceError} that names the bad field.
 *
 * @module
 */
import { DeviceError } from './errors.js';

/** A JSON value (what a device state holds: no bigints, no typed arrays; bytes are base64 strings). */
export type DeviceStateValue =
  | null
  | boolean
  | number
  | string
  | DeviceStateValue[]
  | { [key: string]: DeviceStateValue };

/**
 * One device's saved state: `device` names the model (`'serial'`, `'virtio-blk'`, ...), `version`
 * its state format; the other fields are the device's own.
 *
 * @example
 * ```ts
 * import type { DeviceState } from '@ts-vmm/devices';
 * const s: DeviceState = { device: 'acpi-power', version: 1, writes: 3 };
 * ```
 */
export interface DeviceState {
  device: string;
  version: number;
  [field: string]: DeviceStateValue;
}

/**
 * Encodes bytes as base64 (for byte buffers in a {@link DeviceState}).
 * @example bytesToBase64(Uint8Array.of(1, 2, 3)) // 'AQID'
 */
export function bytesToBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * Reads a saved state's fields with checks: each getter throws an `invalid-state` DeviceError
 * naming the device and the field (`serial: state field lcr: 300 is not an integer in [0, 255]`).
 *
 * @example
 * ```ts
 * import { StateReader } from '@ts-vmm/devices';
 * const r = new StateReader('rtc', { device: 'rtc', version: 1, index: 5 }, 1);
 * r.int('index', 0, 127); // 5
 * ```
 */
export class StateReader {
  readonly state: DeviceState;

  constructor(
    readonly device: string,
    state: unknown,
    version: number,
  ) {
    if (state === null || typeof state !== 'object' || Array.isArray(state))
      throw new DeviceError('invalid-state', device, 'state is not an object');
    const s = state as Record<string, unknown>;
    if (s.device !== device)
      throw new DeviceError(
        'invalid-state',
        device,
        `state field device: ${JSON.stringify(s.device)} is not ${JSON.stringify(device)}`,
      );
    if (s.version !== version)
      throw new DeviceError(
        'invalid-state',
        device,
        `state field version: ${JSON.stringify(s.version)} is not the supported version ${version}`,
      );
    this.state = s as DeviceState;
  }

  /** An error naming `field`. */
  bad(field: string, what: string): DeviceError {
    return new DeviceError('invalid-state', this.device, `state field ${field}: ${what}`);
  }

  private show(v: unknown): string {
    if (v === undefined) return 'missing';
    const s = JSON.stringify(v);
    return s.length > 40 ? `${s.slice(0, 40)}...` : s;
  }

  /** An integer in [min, max]. */
  int(field: string, min: number, max: number, v: unknown = this.state[field]): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
      throw this.bad(field, `${this.show(v)} is not an integer in [${min}, ${max}]`);
    return v;
  }

  /** A finite number. */
  num(field: string, v: unknown = this.state[field]): number {
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw this.bad(field, `${this.show(v)} is not a number`);
    return v;
  }

  u8(field: string): number {
    return this.int(field, 0, 0xff);
  }

  u16(field: string): number {
    return this.int(field, 0, 0xffff);
  }

  u32(field: string): number {
    return this.int(field, 0, 0xffff_ffff);
  }

  bool(field: string, v: unknown = this.state[field]): boolean {
    if (typeof v !== 'boolean') throw this.bad(field, `${this.show(v)} is not a boolean`);
    return v;
  }

  string(field: string, v: unknown = this.state[field]): string {
    if (typeof v !== 'string') throw this.bad(field, `${this.show(v)} is not a string`);
    return v;
  }

  /** A bigint written as a hex string (`'0x1f'`). */
  hex(field: string, max: bigint, v: unknown = this.state[field]): bigint {
    if (typeof v !== 'string' || !/^0x[0-9a-f]{1,32}$/.test(v))
      throw this.bad(field, `${this.show(v)} is not a hex string`);
    const n = BigInt(v);
    if (n > max) throw this.bad(field, `${v} is above 0x${max.toString(16)}`);
    return n;
  }

  /** Base64 bytes, at most `maxLength` (exactly `maxLength` with `exact`). */
  bytes(field: string, maxLength: number, exact = false, v: unknown = this.state[field]): Uint8Array {
    if (typeof v !== 'string') throw this.bad(field, `${this.show(v)} is not a base64 string`);
    let bin: string;
    try {
      bin = atob(v);
    } catch {
      throw this.bad(field, 'is not valid base64');
    }
    if (bin.length > maxLength || (exact && bin.length !== maxLength))
      throw this.bad(field, `${bin.length} bytes; ${exact ? 'expected' : 'at most'} ${maxLength}`);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  /** An array (each element checked by the caller). */
  array(field: string, maxLength: number, v: unknown = this.state[field]): unknown[] {
    if (!Array.isArray(v)) throw this.bad(field, `${this.show(v)} is not an array`);
    if (v.length > maxLength) throw this.bad(field, `${v.length} entries; at most ${maxLength}`);
    return v;
  }

  /** A nested object, read with its own checks. */
  object(field: string, v: unknown = this.state[field]): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw this.bad(field, `${this.show(v)} is not an object`);
    return v as Record<string, unknown>;
  }
}
