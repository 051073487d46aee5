/**
 * A tiny byte-exact struct codec: fixed fields at fixed offsets, little-endian, u64 as bigint.
 * Same shape as kvm-sys's `Struct<T>` (`size`, `offsets`, `decode`, `encode`).
 *
 * @module
 */

/** A fixed-size C struct layout. */
export interface Struct<T> {
  readonly size: number;
  readonly offsets: Readonly<Record<string, number>>;
  decode(bytes: Uint8Array, offset?: number): T;
  encode(value: T, into?: Uint8Array, offset?: number): Uint8Array;
}

/** Field kinds understood by {@link defineStruct}. */
export type FieldKind = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | { bytes: number };

type FieldValue<K> = K extends 'u64' ? bigint : K extends { bytes: number } ? Uint8Array : number;

/** Builds a {@link Struct} from `[name, kind, offset]` triples. */
export function defineStruct<const F extends readonly (readonly [string, FieldKind, number])[]>(
  size: number,
  fields: F,
): Struct<{ [E in F[number] as E[0]]: FieldValue<E[1]> }> {
  type T = { [E in F[number] as E[0]]: FieldValue<E[1]> };
  const offsets: Record<string, number> = {};
  for (const [n, , o] of fields) offsets[n] = o;
  return {
    size,
    offsets,
    decode(bytes, offset = 0) {
      const v = new DataView(bytes.buffer, bytes.byteOffset + offset, size);
      const out: Record<string, unknown> = {};
      for (const [n, k, o] of fields) out[n] = readField(v, bytes, offset, k, o);
      return out as T;
    },
    encode(value, into = new Uint8Array(size), offset = 0) {
      const v = new DataView(into.buffer, into.byteOffset + offset, size);
      const rec = value as Record<string, unknown>;
      for (const [n, k, o] of fields) {
        const x = rec[n];
        if (x === undefined) continue;
        writeField(v, into, offset, k, o, x);
      }
      return into;
    },
  };
}

function readField(v: DataView, bytes: Uint8Array, base: number, k: FieldKind, o: number): unknown {
  switch (k) {
    case 'u8':
      return v.getUint8(o);
    case 'u16':
      return v.getUint16(o, true);
    case 'u32':
      return v.getUint32(o, true);
    case 's32':
      return v.getInt32(o, true);
    case 'u64':
      return v.getBigUint64(o, true);
    default:
      return bytes.slice(base + o, base + o + k.bytes);
  }
}

function writeField(v: DataView, into: Uint8Array, base: number, k: FieldKind, o: number, x: unknown): void {
  switch (k) {
    case 'u8':
      v.setUint8(o, Number(x));
      return;
    case 'u16':
      v.setUint16(o, Number(x), true);
      return;
    case 'u32':
      v.setUint32(o, Number(x) >>> 0, true);
      return;
    case 's32':
      v.setInt32(o, Number(x) | 0, true);
      return;
    case 'u64':
      v.setBigUint64(o, BigInt.asUintN(64, BigInt(x as bigint)), true);
      return;
    default: {
      const src = x as Uint8Array;
      into.set(src.subarray(0, k.bytes), base + o);
    }
  }
}

/** A DataView over a whole byte array. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
