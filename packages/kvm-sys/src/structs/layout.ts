// A tiny layout DSL for C structs with natural x86-64 alignment, little-endian.
//
// A struct is a list of fields; each field's offset is computed with C's rules (aligned to the
// field's alignment) unless given explicitly with `at` (for unions: several fields at one offset).
// Decoding reads every field; encoding zero-fills the struct's bytes, then writes the fields the
// value defines (a missing field stays zero, so overlapping union members do not clobber each
// other). u64/s64 are bigint, smaller integers are number, byte arrays are Uint8Array.

import { KvmSysError } from '../errors.js';

/** A field type: how many bytes, which alignment, how to read and write it. */
export interface FieldType<T> {
  readonly size: number;
  readonly align: number;
  /** For checks against C: the nested fields, when this type is a struct. */
  readonly fields?: readonly FieldLayout[];
  /** For arrays: the element type and count. */
  readonly element?: { readonly type: FieldType<unknown>; readonly count: number };
  read(view: DataView, off: number): T;
  write(view: DataView, off: number, value: T): void;
}

/** One field of a struct layout. */
export interface FieldLayout {
  readonly name: string;
  readonly offset: number;
  readonly type: FieldType<unknown>;
}

/**
 * A C struct layout with encode/decode.
 * @example
 * const addon = loadAddon();
 * const buf = new Uint8Array(KvmRegs.size);
 * addon.ioctl(vcpuFd, KVM_GET_REGS, buf); // vcpuFd: a KVM_CREATE_VCPU result
 * const regs = KvmRegs.decode(buf);
 * regs.rip = 0x1000n;
 * addon.ioctl(vcpuFd, KVM_SET_REGS, KvmRegs.encode(regs, buf));
 */
export interface Struct<T> extends FieldType<T> {
  /** C name without `struct` (`'kvm_regs'`), or `''` for an anonymous member struct. */
  readonly cName: string;
  /** sizeof() in bytes. */
  readonly size: number;
  /** offsetof() of every field, top-level by C name and nested as `'cs.base'`, `'channels[0].count'`. */
  readonly offsets: Readonly<Record<string, number>>;
  readonly fields: readonly FieldLayout[];
  /** Decodes `size` bytes at `offset` (default 0). */
  decode(bytes: Uint8Array, offset?: number): T;
  /** Encodes into `into` at `offset` (default: a fresh zeroed `size`-byte array). Returns `into`. */
  encode(value: T, into?: Uint8Array, offset?: number): Uint8Array;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function scalar<T>(
  size: number,
  read: (v: DataView, o: number) => T,
  write: (v: DataView, o: number, x: T) => void,
): FieldType<T> {
  return { size, align: size, read, write };
}

/** Unsigned 8-bit integer (`__u8`). */
export const u8: FieldType<number> = scalar(
  1,
  (v, o) => v.getUint8(o),
  (v, o, x) => v.setUint8(o, x),
);
/** Signed 8-bit integer. */
export const s8: FieldType<number> = scalar(
  1,
  (v, o) => v.getInt8(o),
  (v, o, x) => v.setInt8(o, x),
);
/** Unsigned 16-bit integer (`__u16`). */
export const u16: FieldType<number> = scalar(
  2,
  (v, o) => v.getUint16(o, true),
  (v, o, x) => v.setUint16(o, x, true),
);
/** Unsigned 32-bit integer (`__u32`). */
export const u32: FieldType<number> = scalar(
  4,
  (v, o) => v.getUint32(o, true),
  (v, o, x) => v.setUint32(o, x >>> 0, true),
);
/** Signed 32-bit integer (`__s32`, `int`). */
export const s32: FieldType<number> = scalar(
  4,
  (v, o) => v.getInt32(o, true),
  (v, o, x) => v.setInt32(o, x | 0, true),
);
/** Unsigned 64-bit integer (`__u64`), as bigint. */
export const u64: FieldType<bigint> = scalar(
  8,
  (v, o) => v.getBigUint64(o, true),
  (v, o, x) => v.setBigUint64(o, BigInt.asUintN(64, x), true),
);
/** Signed 64-bit integer (`__s64`), as bigint. */
export const s64: FieldType<bigint> = scalar(
  8,
  (v, o) => v.getBigInt64(o, true),
  (v, o, x) => v.setBigInt64(o, BigInt.asIntN(64, x), true),
);

/**
 * A byte array (`__u8 x[n]`, `char x[n]`) as Uint8Array (decode copies).
 * @example const lapic = defineStruct('kvm_lapic_state', [['regs', bytes(1024)]]);
 */
export function bytes(n: number): FieldType<Uint8Array> {
  return {
    size: n,
    align: 1,
    read: (v, o) => new Uint8Array(v.buffer.slice(v.byteOffset + o, v.byteOffset + o + n)),
    write: (v, o, x) => {
      if (x.length > n)
        throw new KvmSysError('bounds', `byte array of length ${x.length} exceeds field size ${n}`);
      new Uint8Array(v.buffer, v.byteOffset + o, n).set(x);
    },
  };
}

/**
 * A fixed array of `count` elements (`__u64 x[4]`, `struct s x[3]`), as a JS array.
 * Encoding a shorter array leaves the remaining elements zero.
 * @example const interruptBitmap = array(u64, 4);
 */
export function array<T>(type: FieldType<T>, count: number): FieldType<T[]> {
  return {
    size: type.size * count,
    align: type.align,
    element: { type: type as FieldType<unknown>, count },
    read: (v, o) => {
      const out: T[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = type.read(v, o + i * type.size);
      return out;
    },
    write: (v, o, x) => {
      if (x.length > count)
        throw new KvmSysError('bounds', `array of length ${x.length} exceeds field count ${count}`);
      for (let i = 0; i < x.length; i++) type.write(v, o + i * type.size, x[i]);
    },
  };
}

/** A field spec: `[name, type]`, or `[name, type, { at }]` to place it at an explicit offset (unions). */
export type FieldSpec = readonly [string, FieldType<any>] | readonly [string, FieldType<any>, { at: number }];

/** Options for {@link defineStruct}. */
export interface StructOptions {
  /** Total size, when larger than the fields imply (a union padded to a fixed size). */
  size?: number;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function collectOffsets(
  fields: readonly FieldLayout[],
  prefix: string,
  base: number,
  out: Record<string, number>,
) {
  for (const f of fields) {
    const path = prefix + f.name;
    out[path] = base + f.offset;
    if (f.type.fields) collectOffsets(f.type.fields, `${path}.`, base + f.offset, out);
    else if (f.type.element?.type.fields)
      collectOffsets(f.type.element.type.fields, `${path}[0].`, base + f.offset, out);
  }
}

/**
 * Defines a struct layout. Offsets follow C's natural alignment unless a field says `{ at }`.
 * @example
 * interface Pair { a: number; b: bigint }
 * const Pair = defineStruct<Pair>('pair', [['a', u32], ['b', u64]]); // size 16, b at 8
 */
export function defineStruct<T>(
  cName: string,
  specs: readonly FieldSpec[],
  options: StructOptions = {},
): Struct<T> {
  const fields: FieldLayout[] = [];
  let end = 0;
  let maxAlign = 1;
  let cursor = 0;
  for (const spec of specs) {
    const [name, type] = spec;
    const at = spec.length === 3 ? spec[2].at : undefined;
    const offset = at ?? align(cursor, type.align);
    if (at !== undefined && at % type.align !== 0) {
      throw new KvmSysError('layout', `${cName}.${name}: offset ${at} is not aligned to ${type.align}`);
    }
    fields.push({ name, offset, type });
    cursor = offset + type.size;
    end = Math.max(end, cursor);
    maxAlign = Math.max(maxAlign, type.align);
  }
  const natural = align(end, maxAlign);
  const size = options.size ?? natural;
  if (size < natural)
    throw new KvmSysError('layout', `${cName}: size ${size} is smaller than its fields (${natural})`);
  const offsets: Record<string, number> = {};
  collectOffsets(fields, '', 0, offsets);

  const read = (v: DataView, o: number): T => {
    const out: Record<string, unknown> = {};
    for (const f of fields) out[f.name] = f.type.read(v, o + f.offset);
    return out as T;
  };
  const write = (v: DataView, o: number, value: T) => {
    const rec = value as Record<string, unknown>;
    for (const f of fields) {
      const x = rec[f.name];
      if (x !== undefined) f.type.write(v, o + f.offset, x);
    }
  };
  const check = (bytes: Uint8Array, offset: number) => {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > bytes.length) {
      throw new KvmSysError(
        'bounds',
        `${cName || 'struct'}: needs ${size} bytes at offset ${offset}, buffer has ${bytes.length}`,
      );
    }
  };
  return {
    cName,
    size,
    align: maxAlign,
    fields,
    offsets,
    read,
    write,
    decode(bytes: Uint8Array, offset = 0): T {
      check(bytes, offset);
      return read(viewOf(bytes), offset);
    },
    encode(value: T, into?: Uint8Array, offset = 0): Uint8Array {
      const buf = into ?? new Uint8Array(size);
      check(buf, offset);
      buf.fill(0, offset, offset + size);
      write(viewOf(buf), offset, value);
      return buf;
    },
  };
}
