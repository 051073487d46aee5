/**
 * The snapshot state file: a versioned, checksummed, backend-neutral container of the vCPU states,
 * the VM's platform state, the devices' states and a description of the memory file.
 *
 * Layout (little-endian):
 * - bytes 0-7: magic `TSVMSNAP`;
 * - 8-11: format version (u32, {@link SNAPSHOT_FORMAT_VERSION});
 * - 12-15: reserved, 0;
 * - 16-23: body length in bytes (u64);
 * - 24-27: CRC-32 (IEEE) of the body;
 * - 28-: the body, UTF-8 JSON. A `bigint` is written as `{"$bigint":"<hex>"}` (negative with a
 *   leading `-`), a `Uint8Array` as `{"$bytes":"<base64>"}`; nothing else is tagged.
 *
 * {@link decodeSnapshotState} checks all of it and every field of the body before it returns, so a
 * truncated, corrupted or foreign file is a {@link VmmError} of kind `snapshot` naming what is
 * wrong, never a wrong state.
 *
 * @module
 */
import type { BackendKind, VcpuState, VmState } from '@ts-vmm/hypervisor';
import { VmmError } from '../vmm/errors.js';

/** The file's first eight bytes. */
export const SNAPSHOT_MAGIC = 'TSVMSNAP';
/** The format version this build writes and reads. */
export const SNAPSHOT_FORMAT_VERSION = 1;
/** Bytes before the body. */
export const SNAPSHOT_HEADER_SIZE = 28;

/** The memory file a state file goes with. */
export interface MemoryFileDescription {
  /** File name, relative to the snapshot directory. */
  file: string;
  /** Guest memory size in bytes (the memory file's logical size). */
  size: number;
  /** Page size of `pages` (4096). */
  pageSize: number;
  /** The pages the file holds, as runs `[firstPage, pageCount]`, ascending; other pages are zero (full) or the parent's (diff). */
  pages: [number, number][];
  /** `full`: every page not listed is zero. `diff`: pages not listed are in `parent`. */
  kind: 'full' | 'diff';
  /** For a diff snapshot: the parent snapshot's directory (relative to this one, or absolute). */
  parent?: string;
}

/** A JSON-like value that may also hold `bigint`s and `Uint8Array`s (a device's state). */
export type StateValue =
  | null
  | boolean
  | number
  | string
  | bigint
  | Uint8Array
  | StateValue[]
  | { [key: string]: StateValue };

/** Everything a state file holds. */
export interface SnapshotState {
  /** The backend the snapshot was taken on (informational: it restores on either). */
  backend: BackendKind;
  /** One entry per vCPU, by ascending id. */
  vcpus: VcpuState[];
  vm: VmState;
  /** Device states, keyed by a device name the VMM chooses (`serial0`, `virtio-blk@0xd0000000`, ...). */
  devices: Record<string, StateValue>;
  memory: MemoryFileDescription;
}

// ---------------------------------------------------------------- CRC-32

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 (IEEE 802.3, as zlib's `crc32`).
 * @example crc32(new TextEncoder().encode('123456789')) // 0xcbf43926
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------- JSON with bigint and bytes

function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s: string, path: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw malformed(path, 'is not valid base64');
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function replacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (typeof raw === 'bigint') return { $bigint: raw < 0n ? `-${(-raw).toString(16)}` : raw.toString(16) };
  if (raw instanceof Uint8Array) return { $bytes: toBase64(raw) };
  return value;
}

/** Turns the tagged objects back into bigints and bytes. */
function revive(v: unknown, path: string): unknown {
  if (Array.isArray(v)) return v.map((x, i) => revive(x, `${path}[${i}]`));
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$bigint') {
      const s = o.$bigint;
      if (typeof s !== 'string' || !/^-?[0-9a-f]{1,32}$/.test(s))
        throw malformed(path, 'is not a hex bigint');
      return s.startsWith('-') ? -BigInt(`0x${s.slice(1)}`) : BigInt(`0x${s}`);
    }
    if (keys.length === 1 && keys[0] === '$bytes') {
      if (typeof o.$bytes !== 'string') throw malformed(path, 'is not a base64 string');
      return fromBase64(o.$bytes, path);
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = revive(o[k], path ? `${path}.${k}` : k);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------- schema check

function malformed(path: string, what: string): VmmError {
  return new VmmError('snapshot', `snapshot state: malformed field ${path || '(body)'}: ${what}`);
}

type Schema =
  | 'bigint'
  | 'u8'
  | 'u16'
  | 'u32'
  | 'index'
  | 'bool'
  | 'string'
  | 'any'
  | { bytes: number | [number, number] }
  | { array: Schema; length?: number }
  | { tuple: Schema[] }
  | { object: Record<string, Schema>; optional?: readonly string[] }
  | { record: Schema }
  | { oneOf: readonly string[] };

const U64: Schema = 'bigint';
const segment: Schema = {
  object: {
    base: U64,
    limit: 'u32',
    selector: 'u16',
    type: 'u8',
    present: 'u8',
    dpl: 'u8',
    db: 'u8',
    s: 'u8',
    l: 'u8',
    g: 'u8',
    avl: 'u8',
    unusable: 'u8',
  },
};
const dtable: Schema = { object: { base: U64, limit: 'u16' } };
const picState: Schema = {
  object: Object.fromEntries(
    [
      'last_irr',
      'irr',
      'imr',
      'isr',
      'priority_add',
      'irq_base',
      'read_reg_select',
      'poll',
      'special_mask',
      'init_state',
      'auto_eoi',
      'rotate_on_auto_eoi',
      'special_fully_nested_mode',
      'init4',
      'elcr',
      'elcr_mask',
    ].map((k) => [k, 'u8' as Schema]),
  ),
};
const pitChannel: Schema = {
  object: {
    count: 'u32',
    latched_count: 'u16',
    count_latched: 'u8',
    status_latched: 'u8',
    status: 'u8',
    read_state: 'u8',
    write_state: 'u8',
    write_latch: 'u8',
    rw_mode: 'u8',
    mode: 'u8',
    bcd: 'u8',
    gate: 'u8',
    count_load_time: 'bigint',
  },
};
const vcpuSchema: Schema = {
  object: {
    id: 'index',
    cpuid: {
      array: {
        object: {
          function: 'u32',
          index: 'u32',
          flags: 'u32',
          eax: 'u32',
          ebx: 'u32',
          ecx: 'u32',
          edx: 'u32',
        },
      },
    },
    regs: {
      object: Object.fromEntries(
        [
          'rax',
          'rbx',
          'rcx',
          'rdx',
          'rsi',
          'rdi',
          'rsp',
          'rbp',
          'r8',
          'r9',
          'r10',
          'r11',
          'r12',
          'r13',
          'r14',
          'r15',
          'rip',
          'rflags',
        ].map((k) => [k, U64]),
      ),
    },
    sregs: {
      object: {
        cs: segment,
        ds: segment,
        es: segment,
        fs: segment,
        gs: segment,
        ss: segment,
        tr: segment,
        ldt: segment,
        gdt: dtable,
        idt: dtable,
        cr0: U64,
        cr2: U64,
        cr3: U64,
        cr4: U64,
        cr8: U64,
        efer: U64,
        apic_base: U64,
        interrupt_bitmap: { array: U64, length: 4 },
      },
    },
    fpu: {
      object: {
        fpr: { bytes: 128 },
        fcw: 'u16',
        fsw: 'u16',
        ftwx: 'u8',
        last_opcode: 'u16',
        last_ip: U64,
        last_dp: U64,
        xmm: { bytes: 256 },
        mxcsr: 'u32',
      },
    },
    xsave: { bytes: [576, 1 << 20] },
    xcrs: { array: { object: { xcr: 'u32', value: U64 } } },
    debugRegs: { object: { db: { array: U64, length: 4 }, dr6: U64, dr7: U64, flags: U64 } },
    msrs: { array: { object: { index: 'u32', data: U64 } } },
    lapic: { bytes: 1024 },
    mpState: 'u32',
    events: {
      object: {
        exception: {
          object: { injected: 'u8', nr: 'u8', has_error_code: 'u8', pending: 'u8', error_code: 'u32' },
        },
        interrupt: { object: { injected: 'u8', nr: 'u8', soft: 'u8', shadow: 'u8' } },
        nmi: { object: { injected: 'u8', pending: 'u8', masked: 'u8' } },
        sipi_vector: 'u32',
        flags: 'u32',
        smi: { object: { smm: 'u8', pending: 'u8', smm_inside_nmi: 'u8', latched_init: 'u8' } },
        triple_fault: { object: { pending: 'u8' } },
        exception_has_payload: 'u8',
        exception_payload: U64,
      },
    },
  },
  optional: ['lapic'],
};
const vmSchema: Schema = {
  object: {
    irqchip: {
      object: {
        picMaster: picState,
        picSlave: picState,
        ioapic: {
          object: {
            base_address: U64,
            ioregsel: 'u32',
            id: 'u32',
            irr: 'u32',
            redirtbl: { array: U64, length: 24 },
          },
        },
      },
    },
    pit: { object: { channels: { array: pitChannel, length: 3 }, flags: 'u32' } },
    clock: {
      object: { clock: U64, flags: 'u32', realtime: U64, host_tsc: U64 },
      optional: ['realtime', 'host_tsc'],
    },
  },
  optional: ['irqchip', 'pit'],
};
const stateSchema: Schema = {
  object: {
    backend: { oneOf: ['kvm', 'emulated'] },
    vcpus: { array: vcpuSchema },
    vm: vmSchema,
    devices: { record: 'any' },
    memory: {
      object: {
        file: 'string',
        size: 'index',
        pageSize: 'index',
        pages: { array: { tuple: ['index', 'index'] } },
        kind: { oneOf: ['full', 'diff'] },
        parent: 'string',
      },
      optional: ['parent'],
    },
  },
};

const describe = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : v instanceof Uint8Array
        ? `${v.length} bytes`
        : typeof v === 'bigint'
          ? 'a bigint'
          : typeof v;

function check(v: unknown, s: Schema, path: string): void {
  const isInt = (max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
  const range = (max: number, name: string) => {
    if (!isInt(max))
      throw malformed(path, `expected ${name}, found ${typeof v === 'number' ? v : describe(v)}`);
  };
  if (s === 'bigint') {
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n)
      throw malformed(path, `expected a 64-bit unsigned bigint, found ${describe(v)}`);
  } else if (s === 'u8') range(0xff, 'a u8');
  else if (s === 'u16') range(0xffff, 'a u16');
  else if (s === 'u32') range(0xffff_ffff, 'a u32');
  else if (s === 'index') range(Number.MAX_SAFE_INTEGER, 'a non-negative integer');
  else if (s === 'bool') {
    if (typeof v !== 'boolean') throw malformed(path, `expected a boolean, found ${describe(v)}`);
  } else if (s === 'string') {
    if (typeof v !== 'string') throw malformed(path, `expected a string, found ${describe(v)}`);
  } else if (s === 'any') {
    // device states are the devices' to check
  } else if ('bytes' in s) {
    const [min, max] = typeof s.bytes === 'number' ? [s.bytes, s.bytes] : s.bytes;
    if (!(v instanceof Uint8Array) || v.length < min || v.length > max)
      throw malformed(path, `expected ${min === max ? min : `${min}-${max}`} bytes, found ${describe(v)}`);
  } else if ('array' in s) {
    if (!Array.isArray(v)) throw malformed(path, `expected an array, found ${describe(v)}`);
    if (s.length !== undefined && v.length !== s.length)
      throw malformed(path, `expected ${s.length} entries, found ${v.length}`);
    v.forEach((x, i) => {
      check(x, s.array, `${path}[${i}]`);
    });
  } else if ('tuple' in s) {
    if (!Array.isArray(v) || v.length !== s.tuple.length)
      throw malformed(path, `expected an array of ${s.tuple.length}, found ${describe(v)}`);
    v.forEach((x, i) => {
      check(x, s.tuple[i], `${path}[${i}]`);
    });
  } else if ('oneOf' in s) {
    if (typeof v !== 'string' || !s.oneOf.includes(v))
      throw malformed(
        path,
        `expected one of ${s.oneOf.join(', ')}, found ${JSON.stringify(v) ?? describe(v)}`,
      );
  } else if ('record' in s) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array)
      throw malformed(path, `expected an object, found ${describe(v)}`);
    for (const [k, x] of Object.entries(v)) check(x, s.record, `${path}.${k}`);
  } else {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array)
      throw malformed(path, `expected an object, found ${describe(v)}`);
    const o = v as Record<string, unknown>;
    for (const [k, sub] of Object.entries(s.object)) {
      const p = path ? `${path}.${k}` : k;
      if (o[k] === undefined) {
        if (s.optional?.includes(k)) continue;
        throw malformed(p, 'is missing');
      }
      check(o[k], sub, p);
    }
    for (const k of Object.keys(o)) {
      if (!(k in s.object))
        throw malformed(path ? `${path}.${k}` : k, 'is not a field of this format version');
    }
  }
}

/** Checks what a well-formed body also needs beyond the field types. */
function checkConsistency(s: SnapshotState): void {
  const ids = s.vcpus.map((v) => v.id);
  if (new Set(ids).size !== ids.length) throw malformed('vcpus', `vCPU ids repeat (${ids.join(', ')})`);
  const m = s.memory;
  if (m.pageSize === 0 || (m.pageSize & (m.pageSize - 1)) !== 0)
    throw malformed('memory.pageSize', `${m.pageSize} is not a power of two`);
  const pages = Math.ceil(m.size / m.pageSize);
  let end = 0;
  m.pages.forEach(([first, count], i) => {
    if (count === 0 || first < end || first + count > pages)
      throw malformed(
        `memory.pages[${i}]`,
        `run [${first}, ${count}] is empty, out of order or beyond the ${pages} pages of memory`,
      );
    end = first + count;
  });
  if (m.kind === 'diff' && m.parent === undefined)
    throw malformed('memory.parent', 'a diff snapshot names its parent');
}

// ---------------------------------------------------------------- encode / decode

/**
 * Encodes a snapshot state as the bytes of a state file. Checks the state as the decoder will, so
 * a file this writes always reads back.
 * @example await writeFile(join(dir, 'state'), encodeSnapshotState(state));
 */
export function encodeSnapshotState(state: SnapshotState): Uint8Array {
  check(state, stateSchema, '');
  checkConsistency(state);
  const body = new TextEncoder().encode(JSON.stringify(state, replacer));
  const out = new Uint8Array(SNAPSHOT_HEADER_SIZE + body.length);
  out.set(new TextEncoder().encode(SNAPSHOT_MAGIC), 0);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, SNAPSHOT_FORMAT_VERSION, true);
  dv.setUint32(12, 0, true);
  dv.setBigUint64(16, BigInt(body.length), true);
  dv.setUint32(24, crc32(body), true);
  out.set(body, SNAPSHOT_HEADER_SIZE);
  return out;
}

function fail(detail: string): VmmError {
  return new VmmError('snapshot', `snapshot state: ${detail}`);
}

/**
 * Decodes and checks a state file. Throws a {@link VmmError} of kind `snapshot` that names the
 * problem: `truncated` (shorter than its header or its body length), `bad magic`, `unsupported
 * format version N (this build reads M)`, `checksum mismatch`, trailing bytes, or `malformed field X`.
 * @example const state = decodeSnapshotState(await readFile(join(dir, 'state')));
 */
export function decodeSnapshotState(bytes: Uint8Array): SnapshotState {
  if (bytes.length < SNAPSHOT_HEADER_SIZE)
    throw fail(`truncated: ${bytes.length} bytes, shorter than the ${SNAPSHOT_HEADER_SIZE}-byte header`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== SNAPSHOT_MAGIC)
    throw fail(
      `bad magic ${JSON.stringify(magic)} (expected ${JSON.stringify(SNAPSHOT_MAGIC)}): not a ts-vmm state file`,
    );
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== SNAPSHOT_FORMAT_VERSION)
    throw fail(`unsupported format version ${version} (this build reads ${SNAPSHOT_FORMAT_VERSION})`);
  if (dv.getUint32(12, true) !== 0) throw fail('reserved header bytes 12-15 are not zero');
  const length = dv.getBigUint64(16, true);
  const have = BigInt(bytes.length - SNAPSHOT_HEADER_SIZE);
  if (length > have) throw fail(`truncated: the body is ${length} bytes, the file holds ${have}`);
  if (length < have) throw fail(`${have - length} bytes after the ${length}-byte body`);
  const body = bytes.subarray(SNAPSHOT_HEADER_SIZE);
  const want = dv.getUint32(24, true);
  const got = crc32(body);
  if (got !== want)
    throw fail(
      `checksum mismatch: the header says CRC-32 0x${want.toString(16).padStart(8, '0')}, the body has 0x${got.toString(16).padStart(8, '0')} (the file is corrupted)`,
    );
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (e) {
    throw fail(`malformed body: not UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const state = revive(json, '');
  check(state, stateSchema, '');
  checkConsistency(state as SnapshotState);
  return state as SnapshotState;
}
