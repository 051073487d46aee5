// Variable-length structs: a fixed header whose count field says how many entries follow
// (kvm_cpuid2, kvm_msrs, kvm_msr_list, kvm_irq_routing).
import { KvmSysError } from '../errors.js';
import type { FieldType, Struct } from './layout.js';

/**
 * A header struct followed by a flexible array of entries.
 * `size` is sizeof() the C struct (the header only); `sizeFor(n)` is the size with n entries.
 * @example
 * const buf = KvmCpuid2.alloc(256); // nent = 256, room for 256 entries
 * addon.ioctl(kvmFd, KVM_GET_SUPPORTED_CPUID, buf);
 * const { entries } = KvmCpuid2.decode(buf);
 */
export interface FlexStruct<H, E, K extends string> {
  readonly cName: string;
  /** sizeof() the C struct: the header without entries. */
  readonly size: number;
  /** Offsets of the header fields and of the entries array (and of entry fields as `'entries[0].x'`). */
  readonly offsets: Readonly<Record<string, number>>;
  /** The header layout. */
  readonly header: Struct<H>;
  /** The entry layout. */
  readonly entry: FieldType<E>;
  /** Name of the C flexible array member (`'entries'`, `'indices'`). */
  readonly entriesField: K;
  /** Name of the C count field (`'nent'`, `'nmsrs'`, `'nr'`). */
  readonly countField: string;
  /** Bytes needed for `n` entries. */
  sizeFor(n: number): number;
  /** How many entries fit in `byteLength` bytes. */
  capacity(byteLength: number): number;
  /** A zeroed buffer with room for `n` entries and the count field set to `n` (for GET ioctls). */
  alloc(n: number): Uint8Array;
  /** Decodes the header and `count` entries (throws if the buffer is too short for them). */
  decode(bytes: Uint8Array, offset?: number): H & Record<K, E[]>;
  /** Encodes header fields (count set from the entries) and entries. */
  encode(value: Partial<H> & Record<K, E[]>, into?: Uint8Array, offset?: number): Uint8Array;
}

/**
 * Defines a variable-length struct from its header, count field and entry type.
 * @example
 * const MsrList = defineFlexStruct('kvm_msr_list', header, 'nmsrs', 'indices', u32);
 */
export function defineFlexStruct<H, E, K extends string>(
  cName: string,
  header: Struct<H>,
  countField: string,
  entriesField: K,
  entry: FieldType<E>,
): FlexStruct<H, E, K> {
  const base = header.size;
  if (base % entry.align !== 0)
    throw new KvmSysError('layout', `${cName}: entries at ${base} are misaligned`);
  const offsets: Record<string, number> = { ...header.offsets, [entriesField]: base };
  if (entry.fields) for (const f of entry.fields) offsets[`${entriesField}[0].${f.name}`] = base + f.offset;
  const countOffset = header.offsets[countField];
  if (countOffset === undefined) throw new KvmSysError('layout', `${cName}: no count field ${countField}`);
  const sizeFor = (n: number) => {
    if (!Number.isInteger(n) || n < 0) throw new KvmSysError('bounds', `${cName}: bad entry count ${n}`);
    return base + n * entry.size;
  };
  return {
    cName,
    size: base,
    offsets,
    header,
    entry,
    entriesField,
    countField,
    sizeFor,
    capacity: (len) => Math.max(0, Math.floor((len - base) / entry.size)),
    alloc(n) {
      const buf = new Uint8Array(sizeFor(n));
      new DataView(buf.buffer).setUint32(countOffset, n, true);
      return buf;
    },
    decode(bytes, offset = 0) {
      const h = header.decode(bytes, offset) as Record<string, unknown>;
      const count = h[countField] as number;
      if (offset + sizeFor(count) > bytes.length) {
        throw new KvmSysError(
          'bounds',
          `${cName}: ${countField}=${count} needs ${sizeFor(count)} bytes, buffer has ${bytes.length - offset}`,
        );
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const entries: E[] = new Array(count);
      for (let i = 0; i < count; i++) entries[i] = entry.read(view, offset + base + i * entry.size);
      h[entriesField] = entries;
      return h as H & Record<K, E[]>;
    },
    encode(value, into, offset = 0) {
      const entries = value[entriesField];
      const total = sizeFor(entries.length);
      const buf = into ?? new Uint8Array(total);
      if (offset + total > buf.length) {
        throw new KvmSysError(
          'bounds',
          `${cName}: ${entries.length} entries need ${total} bytes, buffer has ${buf.length - offset}`,
        );
      }
      header.encode({ ...value, [countField]: entries.length } as unknown as H, buf, offset);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (let i = 0; i < entries.length; i++) {
        const at = offset + base + i * entry.size;
        buf.fill(0, at, at + entry.size);
        entry.write(view, at, entries[i]);
      }
      return buf;
    },
  };
}
