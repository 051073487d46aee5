// Checks every struct layout and every ABI constant exported by this package against the C headers:
// a C program is generated from the TypeScript tables (so nothing is missed), compiled with gcc
// against <linux/kvm.h>, run, and its sizeof/offsetof/macro values compared with ours.
// Also: encode/decode round trips (fast-check) and the ioctl number encoders.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvmSysError } from '../errors.js';
import * as AbiBase from '../ioctl-numbers.js';
import * as Newer from '../kvm-constants-newer.js';
import * as S from './index.js';
import type { FieldLayout, Struct } from './layout.js';

const Abi = { ...AbiBase, ...Newer };

/** What `f` throws (fails the test when it returns). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}
type AnyStruct = Struct<unknown>;
type AnyFlex = S.FlexStruct<unknown, unknown, string>;

const structs: [string, AnyStruct][] = [];
const flexes: [string, AnyFlex][] = [];
for (const [name, value] of Object.entries(S)) {
  if (typeof value !== 'object' || value === null || !('cName' in value) || !value.cName) continue;
  if ('header' in value) flexes.push([name, value as unknown as AnyFlex]);
  else if ('fields' in value) structs.push([name, value as unknown as AnyStruct]);
}

/** Every field path with its offset and size, nested as 'a.b' and 'arr[0].x' (like Struct.offsets). */
function walk(
  fields: readonly FieldLayout[],
  prefix: string,
  base: number,
  out: Map<string, [number, number]>,
) {
  for (const f of fields) {
    const path = prefix + f.name;
    out.set(path, [base + f.offset, f.type.size]);
    if (f.type.fields) walk(f.type.fields, `${path}.`, base + f.offset, out);
    else if (f.type.element?.type.fields)
      walk(f.type.element.type.fields, `${path}[0].`, base + f.offset, out);
  }
}

// Constants compared with C macros of the same name, except these (C name differs or not a macro).
const constantExpr: Record<string, string> = {
  IOC_NONE: '_IOC_NONE',
  IOC_WRITE: '_IOC_WRITE',
  IOC_READ: '_IOC_READ',
  IFREQ_SIZE: 'sizeof(struct ifreq)',
};
const notInC = new Set(['WATCH_READABLE', 'WATCH_WRITABLE', 'WATCH_ERROR', 'EINTR_RESULT', 'EAGAIN_RESULT']);
const constants = Object.entries(Abi).filter(
  (e): e is [string, number] => typeof e[1] === 'number' && !notInC.has(e[0]),
);

interface Expected {
  key: string;
  cExpr: string;
  value: number;
  /** Only checked when the installed header defines this macro (ABI newer than the headers). */
  guard?: string;
}
// Struct members newer than the installed headers, checked only when their macro is defined.
const newerMembers: [RegExp, string][] = [
  [/^KvmRun (offsetof|sizeof) memory_fault\b/, 'KVM_EXIT_MEMORY_FAULT'],
];
function guardFor(key: string): string | undefined {
  return newerMembers.find(([re]) => re.test(key))?.[1];
}
const expected: Expected[] = [];
for (const [name, st] of structs) {
  const t = `struct ${st.cName}`;
  expected.push({ key: `${name} sizeof`, cExpr: `sizeof(${t})`, value: st.size });
  const paths = new Map<string, [number, number]>();
  walk(st.fields, '', 0, paths);
  for (const [path, [off, size]] of paths) {
    const k = `${name} offsetof ${path}`;
    expected.push({ key: k, cExpr: `__builtin_offsetof(${t}, ${path})`, value: off, guard: guardFor(k) });
    const ks = `${name} sizeof ${path}`;
    expected.push({ key: ks, cExpr: `sizeof(((${t} *)0)->${path})`, value: size, guard: guardFor(ks) });
  }
}
for (const [name, fl] of flexes) {
  const t = `struct ${fl.cName}`;
  expected.push({ key: `${name} sizeof`, cExpr: `sizeof(${t})`, value: fl.size });
  for (const [path, off] of Object.entries(fl.offsets)) {
    expected.push({
      key: `${name} offsetof ${path}`,
      cExpr: `__builtin_offsetof(${t}, ${path})`,
      value: off,
    });
  }
  expected.push({
    key: `${name} sizeof ${fl.entriesField}[0]`,
    cExpr: `sizeof(((${t} *)0)->${fl.entriesField}[0])`,
    value: fl.entry.size,
  });
}
for (const [name, value] of constants) {
  const guard = Newer.UAPI_NEWER_CONSTANTS.includes(name) ? name : undefined;
  expected.push({ key: `const ${name}`, cExpr: constantExpr[name] ?? name, value, guard });
}

function cProgram(): string {
  const lines = [
    '#define _GNU_SOURCE',
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <fcntl.h>',
    '#include <sys/mman.h>',
    '#include <sys/eventfd.h>',
    '#include <sys/ioctl.h>',
    '#include <net/if.h>',
    '#include <linux/if_tun.h>',
    '#include <linux/kvm.h>',
    'int main(void) {',
  ];
  expected.forEach((e, i) => {
    const line = `  printf("%d %llu\\n", ${i}, (unsigned long long)(${e.cExpr}));`;
    if (e.guard) lines.push(`#ifdef ${e.guard}`, line, '#endif');
    else lines.push(line);
  });
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

const gcc = spawnSync('gcc', ['--version']).status === 0;
const header = spawnSync('test', ['-f', '/usr/include/linux/kvm.h']).status === 0;
const canCompile = gcc && header;
if (!canCompile) console.log('skipped: C layout checks need gcc and /usr/include/linux/kvm.h');

describe.skipIf(!canCompile)('layouts and constants match <linux/kvm.h>', () => {
  let dir = '';
  const actual = new Map<number, number>();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kvm-sys-layout-'));
    writeFileSync(join(dir, 'layout.c'), cProgram());
    const cc = spawnSync('gcc', ['-O0', '-w', '-o', join(dir, 'layout'), join(dir, 'layout.c')], {
      encoding: 'utf8',
    });
    if (cc.status !== 0) throw new Error(`gcc failed:\n${cc.stderr}`);
    const run = spawnSync(join(dir, 'layout'), { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`layout program failed: ${run.stderr}`);
    for (const line of run.stdout.trim().split('\n')) {
      const [i, v] = line.split(' ');
      actual.set(Number(i), Number(v));
    }
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('covers the structs a VMM needs', () => {
    const names = new Set([...structs.map((s) => s[0]), ...flexes.map((f) => f[0])]);
    for (const n of [
      'KvmRegs',
      'KvmSregs',
      'KvmSegment',
      'KvmDtable',
      'KvmFpu',
      'KvmMsrEntry',
      'KvmMsrs',
      'KvmMsrList',
      'KvmCpuid2',
      'KvmCpuidEntry2',
      'KvmLapicState',
      'KvmMpState',
      'KvmVcpuEvents',
      'KvmDebugregs',
      'KvmXsave',
      'KvmXcrs',
      'KvmIrqchip',
      'KvmPitConfig',
      'KvmPitState2',
      'KvmPitChannelState',
      'KvmIrqLevel',
      'KvmIrqfd',
      'KvmIoeventfd',
      'KvmIrqRouting',
      'KvmIrqRoutingEntry',
      'KvmMsi',
      'KvmUserspaceMemoryRegion',
      'KvmDirtyLog',
      'KvmClockData',
      'KvmGuestDebug',
      'KvmTranslation',
      'KvmInterrupt',
      'KvmEnableCap',
      'KvmCoalescedMmioZone',
      'KvmRun',
    ]) {
      expect(names, n).toContain(n);
    }
    expect(expected.length).toBeGreaterThan(1000);
  });

  it('every sizeof and offsetof equals the C compiler', () => {
    const got: Record<string, number> = {};
    const want: Record<string, number> = {};
    const missing = expected.filter((e, i) => e.guard && !actual.has(i)).map((e) => e.key);
    if (missing.length)
      console.log(`not in the installed headers (newer ABI), unchecked: ${missing.join(', ')}`);
    expected.forEach((e, i) => {
      if (e.guard && !actual.has(i)) return;
      if (e.key.startsWith('const ')) return;
      want[e.key] = e.value;
      got[e.key] = actual.get(i) ?? Number.NaN;
    });
    expect(got).toEqual(want);
  });

  it('every exported constant and ioctl number equals the C macro', () => {
    const got: Record<string, number> = {};
    const want: Record<string, number> = {};
    expected.forEach((e, i) => {
      if (e.guard && !actual.has(i)) return;
      if (!e.key.startsWith('const ')) return;
      want[e.key] = e.value;
      got[e.key] = actual.get(i) ?? Number.NaN;
    });
    expect(Object.keys(want).length).toBeGreaterThan(400);
    expect(got).toEqual(want);
  });
});

describe('ioctl number encoders', () => {
  it('encode like asm-generic/ioctl.h', () => {
    expect(Abi._IO(Abi.KVMIO, 0x80)).toBe(0xae80);
    expect(Abi._IOR(Abi.KVMIO, 0x81, 144)).toBe(0x8090ae81);
    expect(Abi._IOW(Abi.KVMIO, 0x46, 32)).toBe(0x4020ae46);
    expect(Abi._IOWR(Abi.KVMIO, 0x05, 8)).toBe(0xc008ae05);
    expect(Abi.KVM_RUN).toBe(0xae80);
    expect(Abi.KVM_SET_USER_MEMORY_REGION).toBe(0x4020ae46);
    expect(Abi.KVM_GET_SUPPORTED_CPUID).toBe(0xc008ae05);
  });
  it('produce unsigned 32-bit numbers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.nat(0xff),
        fc.nat(0xff),
        fc.nat(0x3fff),
        (d, t, n, s) => {
          const v = Abi._IOC(d, t, n, s);
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThan(2 ** 32);
          expect(v >>> 30).toBe(d);
          expect((v >>> 16) & 0x3fff).toBe(s);
          expect((v >>> 8) & 0xff).toBe(t);
          expect(v & 0xff).toBe(n);
        },
      ),
    );
  });
});

/** Bytes of a struct that some field (at any depth) covers; padding the C compiler adds is not. */
function coverage(st: AnyStruct): Uint8Array {
  const mask = new Uint8Array(st.size);
  const leaves = (fields: readonly FieldLayout[], base: number) => {
    for (const f of fields) {
      if (f.type.fields) leaves(f.type.fields, base + f.offset);
      else if (f.type.element?.type.fields) {
        const { type, count } = f.type.element;
        for (let i = 0; i < count; i++) leaves(type.fields!, base + f.offset + i * type.size);
      } else mask.fill(1, base + f.offset, base + f.offset + f.type.size);
    }
  };
  leaves(st.fields, 0);
  return mask;
}

// Structs whose decode picks one union variant by a tag (round trip is checked by idempotence only).
const tagged = new Set(['KvmIrqchip', 'KvmIrqRoutingEntry']);

describe('encode/decode round trips', () => {
  for (const [name, st] of structs) {
    it(`${name}: encode(decode(bytes)) reproduces every covered byte`, () => {
      const mask = coverage(st);
      fc.assert(
        fc.property(fc.uint8Array({ minLength: st.size, maxLength: st.size }), fc.nat(16), (raw, pad) => {
          const buf = new Uint8Array(pad + st.size);
          buf.set(raw, pad);
          const value = st.decode(buf, pad);
          const again = st.encode(value);
          if (tagged.has(name)) {
            expect(st.decode(again)).toEqual(value);
            return;
          }
          expect(again).toEqual(raw.map((b, i) => (mask[i] ? b : 0)));
        }),
        { numRuns: 25 },
      );
    });
  }

  it("decode rejects short buffers with KvmSysError of kind 'bounds' naming the sizes", () => {
    fc.assert(
      fc.property(fc.constantFrom(...structs), fc.nat(64), ([, st], short) => {
        const len = Math.max(0, st.size - 1 - short);
        expect(() => st.decode(new Uint8Array(len))).toThrow(KvmSysError);
        expect(() => st.encode({} as never, new Uint8Array(len))).toThrow(KvmSysError);
        expect(thrown(() => st.decode(new Uint8Array(len)))).toMatchObject({
          name: 'KvmSysError',
          kind: 'bounds',
          message: expect.stringContaining(`needs ${st.size} bytes at offset 0, buffer has ${len}`),
        });
      }),
    );
  });

  it("bad layout definitions throw KvmSysError of kind 'layout' naming the field", () => {
    expect(thrown(() => S.defineStruct('s', [['a', S.u64, { at: 4 }]]))).toMatchObject({
      kind: 'layout',
      message: 's.a: offset 4 is not aligned to 8',
    });
    expect(thrown(() => S.defineStruct('s', [['a', S.u64]], { size: 4 }))).toMatchObject({
      kind: 'layout',
      message: 's: size 4 is smaller than its fields (8)',
    });
    expect(
      thrown(() => S.bytes(2).write(new DataView(new ArrayBuffer(4)), 0, new Uint8Array(3))),
    ).toMatchObject({ kind: 'bounds', message: 'byte array of length 3 exceeds field size 2' });
  });

  it('encode zero-fills and leaves bytes outside the struct alone', () => {
    const buf = new Uint8Array(S.KvmRegs.size + 8).fill(0xaa);
    S.KvmRegs.encode({ rip: 0x1000n } as S.KvmRegsValue, buf, 4);
    expect(buf.subarray(0, 4)).toEqual(new Uint8Array(4).fill(0xaa));
    expect(buf.subarray(4 + S.KvmRegs.size)).toEqual(new Uint8Array(4).fill(0xaa));
    const regs = S.KvmRegs.decode(buf, 4);
    expect(regs.rip).toBe(0x1000n);
    expect(regs.rax).toBe(0n);
  });

  it('named fields land where the kernel expects them', () => {
    const sregs = S.KvmSregs.encode({
      cs: { base: 0x12345678n, selector: 0x10, type: 11, present: 1, l: 1 },
      cr0: 0x80000011n,
      efer: 0x500n,
      interrupt_bitmap: [0n, 1n << 63n],
    } as unknown as S.KvmSregsValue);
    const dv = new DataView(sregs.buffer);
    expect(dv.getBigUint64(S.KvmSregs.offsets['cs.base'], true)).toBe(0x12345678n);
    expect(dv.getUint16(S.KvmSregs.offsets['cs.selector'], true)).toBe(0x10);
    expect(dv.getUint8(S.KvmSregs.offsets['cs.l'])).toBe(1);
    expect(dv.getBigUint64(S.KvmSregs.offsets.cr0, true)).toBe(0x80000011n);
    expect(dv.getBigUint64(S.KvmSregs.offsets.interrupt_bitmap + 8, true)).toBe(1n << 63n);
  });
});

describe('variable-length structs', () => {
  const u32 = fc.nat(0xffffffff);
  const entry = fc.record({
    function: u32,
    index: u32,
    flags: u32,
    eax: u32,
    ebx: u32,
    ecx: u32,
    edx: u32,
    padding: fc.tuple(u32, u32, u32),
  });
  it('KvmCpuid2 round trips and sets nent', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
        const buf = S.KvmCpuid2.encode({ entries });
        expect(buf.length).toBe(S.KvmCpuid2.sizeFor(entries.length));
        expect(new DataView(buf.buffer).getUint32(0, true)).toBe(entries.length);
        expect(S.KvmCpuid2.decode(buf).entries).toEqual(entries);
      }),
    );
  });
  it('KvmMsrs round trips (reserved defaults to 0)', () => {
    const msr = fc.record({ index: u32, data: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) });
    fc.assert(
      fc.property(fc.array(msr, { maxLength: 40 }), (entries) => {
        const out = S.KvmMsrs.decode(S.KvmMsrs.encode({ entries }));
        expect(out.nmsrs).toBe(entries.length);
        expect(out.entries).toEqual(entries.map((e) => ({ ...e, reserved: 0 })));
      }),
    );
  });
  it('KvmMsrList alloc/decode', () => {
    const buf = S.KvmMsrList.alloc(3);
    expect(buf.length).toBe(4 + 12);
    new DataView(buf.buffer).setUint32(8, 0xc0000080, true);
    expect(S.KvmMsrList.decode(buf).indices).toEqual([0, 0xc0000080, 0]);
    expect(S.KvmMsrList.capacity(buf.length)).toBe(3);
  });
  it('KvmIrqRouting round trips irqchip and msi entries', () => {
    const irqchip = fc.record({
      gsi: u32,
      type: fc.constant(Abi.KVM_IRQ_ROUTING_IRQCHIP),
      flags: fc.constant(0),
      pad: fc.constant(0),
      u: fc.record({ irqchip: fc.record({ irqchip: fc.nat(2), pin: fc.nat(23) }) }),
    });
    const msi = fc.record({
      gsi: u32,
      type: fc.constant(Abi.KVM_IRQ_ROUTING_MSI),
      flags: fc.constant(0),
      pad: fc.constant(0),
      u: fc.record({
        msi: fc.record({
          address_lo: u32,
          address_hi: u32,
          data: u32,
          pad: fc.constant(0),
          devid: fc.constant(0),
        }),
      }),
    });
    fc.assert(
      fc.property(fc.array(fc.oneof(irqchip, msi), { maxLength: 24 }), (entries) => {
        const buf = S.KvmIrqRouting.encode({ entries });
        expect(buf.length).toBe(8 + 48 * entries.length);
        expect(S.KvmIrqRouting.decode(buf).entries).toEqual(entries);
      }),
    );
  });
  it('decode rejects a count larger than the buffer', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.integer({ min: 1, max: 1000 }), (have, extra) => {
        const buf = S.KvmCpuid2.alloc(have);
        new DataView(buf.buffer).setUint32(0, have + extra, true);
        expect(() => S.KvmCpuid2.decode(buf)).toThrow(KvmSysError);
      }),
    );
  });
});

describe('kvm_run', () => {
  it('KVM_RUN_OFFSETS agree with the KvmRun layout', () => {
    for (const [k, v] of Object.entries(S.KVM_RUN_OFFSETS)) {
      const path =
        k === 'exit'
          ? 'hw'
          : k.replace(
              /^(fail_entry|tpr_access|system_event|emulation_failure|hw|ex|io|mmio|hypercall|internal|eoi|hyperv|msr|notify|memory_fault|debug_arch)_/,
              '$1.',
            );
      const key = path.replace('debug_arch.', 'debug.arch.');
      expect(S.KvmRun.offsets[key], k).toBe(v);
    }
  });
  it('decodeKvmRunExit decodes an IO exit with its data', () => {
    const run = new Uint8Array(4096);
    const dv = new DataView(run.buffer);
    dv.setUint32(S.KVM_RUN_OFFSETS.exit_reason, Abi.KVM_EXIT_IO, true);
    dv.setUint8(S.KVM_RUN_OFFSETS.io_direction, Abi.KVM_EXIT_IO_OUT);
    dv.setUint8(S.KVM_RUN_OFFSETS.io_size, 1);
    dv.setUint16(S.KVM_RUN_OFFSETS.io_port, 0x3f8, true);
    dv.setUint32(S.KVM_RUN_OFFSETS.io_count, 2, true);
    dv.setBigUint64(S.KVM_RUN_OFFSETS.io_data_offset, 4096n - 16n, true);
    run.set([0x68, 0x69], 4096 - 16);
    const exit = S.decodeKvmRunExit(run);
    expect(exit.kind).toBe('io');
    if (exit.kind !== 'io') return;
    expect(exit.io).toEqual({ direction: 1, size: 1, port: 0x3f8, count: 2, data_offset: 4080n });
    expect([...exit.data]).toEqual([0x68, 0x69]);
  });
  it('decodeKvmRunExit decodes MMIO, system events and emulation failures', () => {
    const run = new Uint8Array(S.KvmRun.size);
    const dv = new DataView(run.buffer);
    dv.setUint32(8, Abi.KVM_EXIT_MMIO, true);
    dv.setBigUint64(S.KVM_RUN_OFFSETS.mmio_phys_addr, 0xd0000000n, true);
    dv.setUint32(S.KVM_RUN_OFFSETS.mmio_len, 4, true);
    dv.setUint8(S.KVM_RUN_OFFSETS.mmio_is_write, 1);
    run.set([1, 2, 3, 4], S.KVM_RUN_OFFSETS.mmio_data);
    const m = S.decodeKvmRunExit(run);
    expect(m.kind === 'mmio' && m.mmio.phys_addr).toBe(0xd0000000n);
    expect(m.kind === 'mmio' && [...m.mmio.data.subarray(0, m.mmio.len)]).toEqual([1, 2, 3, 4]);

    run.fill(0);
    dv.setUint32(8, Abi.KVM_EXIT_SYSTEM_EVENT, true);
    dv.setUint32(S.KVM_RUN_OFFSETS.system_event_type, Abi.KVM_SYSTEM_EVENT_RESET, true);
    dv.setBigUint64(S.KVM_RUN_OFFSETS.system_event_flags, 5n, true);
    const se = S.decodeKvmRunExit(run);
    expect(se.kind === 'system_event' && se.system_event.type).toBe(Abi.KVM_SYSTEM_EVENT_RESET);
    expect(se.kind === 'system_event' && se.system_event.data[0]).toBe(5n);

    run.fill(0);
    dv.setUint32(8, Abi.KVM_EXIT_INTERNAL_ERROR, true);
    dv.setUint32(S.KVM_RUN_OFFSETS.internal_suberror, Abi.KVM_INTERNAL_ERROR_EMULATION, true);
    dv.setUint8(S.KVM_RUN_OFFSETS.emulation_failure_insn_size, 3);
    run.set([0xf0, 0x0f, 0xc7], S.KVM_RUN_OFFSETS.emulation_failure_insn_bytes);
    const ie = S.decodeKvmRunExit(run);
    expect(ie.kind).toBe('internal_error');
    if (ie.kind === 'internal_error')
      expect([...ie.emulation_failure!.insn_bytes.subarray(0, 3)]).toEqual([0xf0, 0x0f, 0xc7]);
  });
  it('decodeKvmRunExit decodes KVM_EXIT_MEMORY_FAULT (newer ABI)', () => {
    const run = new Uint8Array(S.KvmRun.size);
    const dv = new DataView(run.buffer);
    dv.setUint32(8, Abi.KVM_EXIT_MEMORY_FAULT, true);
    dv.setBigUint64(S.KVM_RUN_OFFSETS.memory_fault_flags, BigInt(Abi.KVM_MEMORY_EXIT_FLAG_PRIVATE), true);
    dv.setBigUint64(S.KVM_RUN_OFFSETS.memory_fault_gpa, 0x100000n, true);
    dv.setBigUint64(S.KVM_RUN_OFFSETS.memory_fault_size, 0x1000n, true);
    const e = S.decodeKvmRunExit(run);
    expect(e.kind === 'memory_fault' && e.memory_fault).toEqual({ flags: 8n, gpa: 0x100000n, size: 0x1000n });
  });
  it('decodeKvmRunExit never throws on arbitrary run pages', () => {
    const reasons = Object.entries(Abi)
      .filter(([k]) => k.startsWith('KVM_EXIT_') && !k.startsWith('KVM_EXIT_IO_'))
      .map(([, v]) => v as number);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: S.KvmRun.size, maxLength: S.KvmRun.size + 64 }),
        fc.constantFrom(...reasons, 999),
        (run, reason) => {
          new DataView(run.buffer).setUint32(8, reason, true);
          const exit = S.decodeKvmRunExit(run);
          expect(exit.exit_reason).toBe(reason);
          if (exit.kind === 'io')
            expect(exit.data.length === 0 || exit.data.length === exit.io.size * exit.io.count).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
    expect(thrown(() => S.decodeKvmRunExit(new Uint8Array(100)))).toMatchObject({
      kind: 'bounds',
      message: `decodeKvmRunExit: kvm_run needs ${S.KvmRun.size} bytes, got 100`,
    });
  });
});
