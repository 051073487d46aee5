/**
 * Differential tester: runs generated instruction sequences at CPL3 in 64-bit mode on this emulator
 * and on /dev/kvm (native silicon here), and compares general registers, RFLAGS (masking flags
 * left undefined), RIP, the data page, XMM registers, MXCSR and the x87/MMX registers (with the
 * x87 status and tag words); exceptions by vector, error code, faulting RIP and the RFLAGS image
 * pushed (RF included).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sregs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Cpu } from '../../src/index.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs, hasErrorCode } from '../../src/testing.js';
import { type GenCase, generateCase, generateCompatCase, Rng } from './generator.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The general registers in the harness's (kvm_regs') order. */
export const REG_NAMES = [
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
] as const;
const OUT_SIZE = 8 + 8 + 18 * 8 + 6 * 8 + 4096 + 256 + 8 + 128 + 8;

/** Whether /dev/kvm can be opened. */
export function hasKvm(): boolean {
  try {
    if (!existsSync('/dev/kvm')) return false;
    execFileSync('test', ['-r', '/dev/kvm', '-a', '-w', '/dev/kvm']);
    return true;
  } catch {
    return false;
  }
}

/** Compiles the C harness once (cached by source hash); `--irqchip` gives its VM KVM's in-kernel irqchip. */
export function harnessBinary(): string {
  const src = readFileSync(join(here, '..', 'kvm-harness.c'));
  const h = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'ts-vmm-x86-difftest');
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, `kvm-harness-${h}`);
  if (!existsSync(bin)) execFileSync('gcc', ['-O2', '-o', bin, join(here, '..', 'kvm-harness.c')]);
  return bin;
}

/** One case's observable result. */
export interface Outcome {
  kind: number;
  /** Microseconds spent in KVM_RUN (KVM side only). */
  usec: number;
  addr: bigint;
  regs: bigint[];
  frame: bigint[];
  data: Uint8Array;
  xmm: Uint8Array;
  mxcsr: number;
  /** ST0-7 (the MMX registers' home) in 16-byte FXSAVE slots. */
  x87: Uint8Array;
  fsw: number;
  /** Abridged tag word (bit set: register valid). */
  ftw: number;
}

/** A difference between KVM and the emulator. */
export interface Mismatch {
  index: number;
  gen: GenCase;
  asm: string;
  diffs: string[];
}

/** Result of a differential run. */
export interface DiffResult {
  cases: number;
  instructions: number;
  exceptions: number;
  mismatches: Mismatch[];
  kvmMs: number;
  emuMs: number;
}

export function assembleCases(cases: GenCase[]): Uint8Array[] {
  const dir = mkdtempSync(join(tmpdir(), 'x86dt-'));
  try {
    const done = `mov byte ptr [${FLAT.MMIO_BASE + FLAT.DONE}], al`;
    // 64-bit code: the harness and the emulator run the cases at FLAT.CODE
    const src = cases.map((c, k) => `c${k}:\n.code${c.compat ? 32 : 64}\n${c.asm}\n ${done}`).join('\n');
    writeFileSync(join(dir, 'a.s'), `.intel_syntax noprefix\n.code64\n${src}\nc_end:\n`);
    execFileSync('as', ['--64', '-o', join(dir, 'a.o'), join(dir, 'a.s')]);
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
    const nm = execFileSync('nm', [join(dir, 'a.o')], { encoding: 'utf8' });
    const off = new Map<string, number>();
    for (const line of nm.split('\n')) {
      const m = /^([0-9a-f]+) t (c\d+|c_end)$/.exec(line.trim());
      if (m) off.set(m[2], Number.parseInt(m[1], 16));
    }
    const bin = new Uint8Array(readFileSync(join(dir, 'a.bin')));
    return cases.map((_, k) =>
      bin.slice(off.get(`c${k}`)!, off.get(k + 1 < cases.length ? `c${k + 1}` : 'c_end')!),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function initialRegs(c: GenCase): bigint[] {
  const r = [...c.regs];
  r[6] = BigInt(FLAT.USER_STACK); // rsp
  r[15] = BigInt(FLAT.DATA); // r15
  if (c.compat) r[7] = BigInt(FLAT.DATA); // rbp: the data base in 32-bit code
  return r;
}

function initialFlags(c: GenCase): bigint {
  return 0x202n | BigInt(Number(c.regs[0] & 0x8d5n));
}

/** Harness mode of a case: 0 64-bit CPL3, 1 compatibility mode CPL3, 2 64-bit CPL0. */
function harnessMode(c: GenCase): number {
  return c.kernel ? 2 : c.compat ? 1 : 0;
}

/** The x87 state a case starts with: its own, or empty registers with TOP = 0. */
function x87Of(c: GenCase): { x87: Uint8Array; fsw: number; ftw: number } {
  return { x87: c.x87 ?? new Uint8Array(128), fsw: c.fsw ?? 0, ftw: c.ftw ?? 0 };
}

/**
 * Runs `cases` (assembled as `codes`) under /dev/kvm; `irqchip` gives the VM KVM's in-kernel
 * irqchip, `noX2apic` hides x2APIC from its CPUID.
 */
export function runKvm(
  base: Uint8Array,
  cases: GenCase[],
  codes: Uint8Array[],
  options: { irqchip?: boolean; noX2apic?: boolean } = {},
): Outcome[] {
  const parts: Buffer[] = [];
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(0x31544458, 0);
  hdr.writeUInt32LE(base.length, 4);
  parts.push(hdr, Buffer.from(base));
  cases.forEach((c, k) => {
    const b = Buffer.alloc(8 + codes[k].length + 4096 + 18 * 8 + 256 + 4 + 128 + 4);
    let o = b.writeUInt32LE(codes[k].length, 0);
    o = b.writeUInt32LE(harnessMode(c), o);
    b.set(codes[k], o);
    o += codes[k].length;
    b.set(c.data, o);
    o += 4096;
    const r = initialRegs(c);
    for (let j = 0; j < 16; j++) o = b.writeBigUInt64LE(r[j], o);
    o = b.writeBigUInt64LE(BigInt(FLAT.CODE), o);
    o = b.writeBigUInt64LE(initialFlags(c), o);
    b.set(c.xmm, o);
    o += 256;
    o = b.writeUInt32LE(0x1f80, o);
    const f = x87Of(c);
    b.set(f.x87, o);
    o += 128;
    o = b.writeUInt16LE(f.fsw, o);
    b.writeUInt16LE(f.ftw, o);
    parts.push(b);
  });
  parts.push(Buffer.alloc(4));
  const args = [...(options.irqchip ? ['--irqchip'] : []), ...(options.noX2apic ? ['--no-x2apic'] : [])];
  const res = spawnSync(harnessBinary(), args, {
    input: Buffer.concat(parts),
    maxBuffer: 1 << 30,
  });
  if (res.status !== 0) throw new Error(`kvm harness failed (${res.status}): ${res.stderr?.toString()}`);
  const out = res.stdout;
  if (out.length !== OUT_SIZE * cases.length) throw new Error(`kvm harness returned ${out.length} bytes`);
  const outcomes: Outcome[] = [];
  for (let k = 0; k < cases.length; k++) {
    let o = k * OUT_SIZE;
    const kind = out.readUInt32LE(o);
    const usec = out.readUInt32LE(o + 4);
    const addr = out.readBigUInt64LE(o + 8);
    o += 16;
    const regs: bigint[] = [];
    for (let j = 0; j < 18; j++) regs.push(out.readBigUInt64LE(o + 8 * j));
    o += 18 * 8;
    const frame: bigint[] = [];
    for (let j = 0; j < 6; j++) frame.push(out.readBigUInt64LE(o + 8 * j));
    o += 48;
    const data = new Uint8Array(out.subarray(o, o + 4096));
    o += 4096;
    const xmm = new Uint8Array(out.subarray(o, o + 256));
    o += 256;
    const mxcsr = out.readUInt32LE(o);
    o += 8;
    const x87 = new Uint8Array(out.subarray(o, o + 128));
    o += 128;
    const fsw = out.readUInt16LE(o);
    const ftw = out.readUInt16LE(o + 2);
    outcomes.push({ kind, usec, addr, regs, frame, data, xmm, mxcsr, x87, fsw, ftw });
  }
  return outcomes;
}

/** Special registers for 64-bit CPL0 code in the flat image (kernel code and data segments). */
export function flatKernelSregs(): Sregs {
  const s = flatSregs();
  const ds = { ...s.ds, selector: FLAT.KERNEL_DS, dpl: 0 };
  return { ...s, cs: { ...s.cs, selector: FLAT.KERNEL_CS, dpl: 0 }, ds, es: ds, fs: ds, gs: ds, ss: ds };
}

/** Runs the cases on the emulator (one CPU reused, as the harness reuses one vCPU). */
export function runEmu(mem: GuestMemory, cpu: Cpu, cases: GenCase[], codes: Uint8Array[]): Outcome[] {
  const sregs64 = flatSregs();
  const sregs32 = flatSregs(true);
  const sregs0 = flatKernelSregs();
  const out: Outcome[] = [];
  cases.forEach((c, k) => {
    mem.writeBytes(FLAT.CODE, codes[k]);
    cpu.invalidateCode(FLAT.CODE, codes[k].length);
    mem.writeBytes(FLAT.DATA, c.data);
    cpu.invalidateCode(FLAT.DATA, 4096);
    cpu.setSregs(c.kernel ? sregs0 : c.compat ? sregs32 : sregs64);
    const r = initialRegs(c);
    cpu.setRegs({
      rax: r[0],
      rbx: r[1],
      rcx: r[2],
      rdx: r[3],
      rsi: r[4],
      rdi: r[5],
      rsp: r[6],
      rbp: r[7],
      r8: r[8],
      r9: r[9],
      r10: r[10],
      r11: r[11],
      r12: r[12],
      r13: r[13],
      r14: r[14],
      r15: r[15],
      rip: BigInt(FLAT.CODE),
      rflags: initialFlags(c),
    });
    const fpu = cpu.getFpu();
    fpu.xmm.set(c.xmm);
    fpu.mxcsr = 0x1f80;
    fpu.fcw = 0x37f;
    const f87 = x87Of(c);
    fpu.fsw = f87.fsw;
    fpu.ftwx = f87.ftw;
    fpu.fpr.set(f87.x87);
    cpu.setFpu(fpu);
    cpu.halted = false;
    const exit = cpu.run(1_000_000);
    let kind = 2;
    let addr = 0n;
    if (exit.kind === 'mmio-write') {
      addr = BigInt(exit.address);
      kind =
        exit.address === FLAT.MMIO_BASE + FLAT.DONE
          ? 0
          : exit.address >= FLAT.MMIO_BASE && exit.address < FLAT.MMIO_BASE + 256
            ? 1
            : 2;
    }
    const g = cpu.getRegs();
    // KVM reports an MMIO write exit with the instruction retired: RIP after the marker
    const rip = kind === 0 ? g.rip + BigInt(c.compat ? 5 : DONE_BYTES.length) : g.rip;
    const regs = [
      g.rax,
      g.rbx,
      g.rcx,
      g.rdx,
      g.rsi,
      g.rdi,
      g.rsp,
      g.rbp,
      g.r8,
      g.r9,
      g.r10,
      g.r11,
      g.r12,
      g.r13,
      g.r14,
      g.r15,
      rip,
      g.rflags,
    ];
    const frame: bigint[] = [];
    const rsp = Number(g.rsp);
    for (let j = 0; j < 6; j++)
      frame.push(kind === 1 && rsp + 48 <= FLAT.RAM_SIZE ? mem.read64(rsp + 8 * j) : 0n);
    const f = cpu.getFpu();
    out.push({
      kind,
      usec: 0,
      addr,
      regs,
      frame,
      data: mem.readBytes(FLAT.DATA, 4096),
      xmm: f.xmm,
      mxcsr: f.mxcsr,
      x87: f.fpr,
      fsw: f.fsw,
      ftw: f.ftwx,
    });
  });
  return out;
}

function hx(v: bigint): string {
  return `0x${v.toString(16)}`;
}

function compare(c: GenCase, a: Outcome, b: Outcome): string[] {
  const d: string[] = [];
  if (a.kind !== b.kind || a.addr !== b.addr) {
    d.push(`exit: kvm kind ${a.kind} @${hx(a.addr)}, emulator kind ${b.kind} @${hx(b.addr)}`);
    return d;
  }
  const flagMask = BigInt(0x3f7fd7 & ~c.undefFlags & ~0x10000);
  // compatibility mode: the upper halves of the GPRs are not architecturally defined
  const rm = c.compat ? 0xffffffffn : 0xffffffffffffffffn;
  if (a.kind === 0) {
    for (let j = 0; j < 16; j++)
      if ((a.regs[j] & rm) !== (b.regs[j] & rm))
        d.push(`${REG_NAMES[j]}: kvm ${hx(a.regs[j])} emu ${hx(b.regs[j])}`);
    if (a.regs[16] !== b.regs[16]) d.push(`rip: kvm ${hx(a.regs[16])} emu ${hx(b.regs[16])}`);
    if ((a.regs[17] & flagMask) !== (b.regs[17] & flagMask))
      d.push(`rflags: kvm ${hx(a.regs[17])} emu ${hx(b.regs[17])} (mask ${hx(flagMask)})`);
  } else if (a.kind === 1) {
    const vec = Number(a.addr - BigInt(FLAT.MMIO_BASE));
    for (let j = 0; j < 16; j++)
      if (j !== 6 && (a.regs[j] & rm) !== (b.regs[j] & rm))
        d.push(`${REG_NAMES[j]}: kvm ${hx(a.regs[j])} emu ${hx(b.regs[j])}`);
    const e = hasErrorCode(vec) ? 1 : 0;
    if (e && a.frame[0] !== b.frame[0]) d.push(`error code: kvm ${hx(a.frame[0])} emu ${hx(b.frame[0])}`);
    if (a.frame[e] !== b.frame[e]) d.push(`fault rip: kvm ${hx(a.frame[e])} emu ${hx(b.frame[e])}`);
    // arithmetic flags at the fault depend on which instructions ran: compare the system flags
    // (RF included: a fault pushes RF = 1)
    const frameMask = (flagMask | 0x10000n) & ~0x8d5n;
    if ((a.frame[e + 2] & frameMask) !== (b.frame[e + 2] & frameMask))
      d.push(`fault rflags: kvm ${hx(a.frame[e + 2])} emu ${hx(b.frame[e + 2])}`);
    if (a.frame[e + 3] !== b.frame[e + 3])
      d.push(`fault rsp: kvm ${hx(a.frame[e + 3])} emu ${hx(b.frame[e + 3])}`);
  }
  for (let k = 0; k < 4096; k++) {
    if (a.data[k] !== b.data[k]) {
      d.push(`data[+${k}]: kvm ${a.data[k].toString(16)} emu ${b.data[k].toString(16)}`);
      break;
    }
  }
  for (let k = 0; k < 256; k++) {
    if (a.xmm[k] !== b.xmm[k]) {
      d.push(`xmm${k >> 4} byte ${k & 15}: kvm ${a.xmm[k].toString(16)} emu ${b.xmm[k].toString(16)}`);
      break;
    }
  }
  // MXCSR exception-status flags (bits 0-5) are not modelled by the emulator: compare the controls
  if ((a.mxcsr & ~0x3f) !== (b.mxcsr & ~0x3f))
    d.push(`mxcsr: kvm ${a.mxcsr.toString(16)} emu ${b.mxcsr.toString(16)}`);
  // the x87 registers (MMX registers in bytes 0-7 of each slot, exponent in 8-9) and their tags
  for (let k = 0; k < 128; k++) {
    if ((k & 15) < 10 && a.x87[k] !== b.x87[k]) {
      d.push(`st${k >> 4} byte ${k & 15}: kvm ${a.x87[k].toString(16)} emu ${b.x87[k].toString(16)}`);
      break;
    }
  }
  if (a.fsw !== b.fsw) d.push(`fsw: kvm ${a.fsw.toString(16)} emu ${b.fsw.toString(16)}`);
  if (a.ftw !== b.ftw) d.push(`ftw: kvm ${a.ftw.toString(16)} emu ${b.ftw.toString(16)}`);
  return d;
}

/** Splits a case into its template groups (lines that do not start with a space open a group). */
function groups(asm: string): string[] {
  const out: string[] = [];
  for (const line of asm.split('\n')) {
    if (line.startsWith(' ') && out.length > 0) out[out.length - 1] += `\n${line}`;
    else out.push(line);
  }
  return out;
}

/** Shrinks a mismatching case by dropping template groups while it still mismatches. */
export function minimize(c: GenCase): GenCase {
  const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
  buildFlatImage(mem);
  const base = mem.readBytes(0, 0x100000);
  const cpu = new Cpu(mem);
  let cur = groups(c.asm);
  for (;;) {
    const variants: GenCase[] = cur.map((_, k) => ({ ...c, asm: cur.filter((_, j) => j !== k).join('\n') }));
    if (variants.length === 0) break;
    const codes = assembleCases(variants);
    const kvm = runKvm(base, variants, codes);
    const emu = runEmu(mem, cpu, variants, codes);
    const k = variants.findIndex((v, j) => compare(v, kvm[j], emu[j]).length > 0);
    if (k < 0) break;
    cur = groups(variants[k].asm);
  }
  return { ...c, asm: cur.join('\n') };
}

/** Runs one case on both sides and returns the differences. */
export function diffOne(c: GenCase): string[] {
  const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
  buildFlatImage(mem);
  const base = mem.readBytes(0, 0x100000);
  const cpu = new Cpu(mem);
  const codes = assembleCases([c]);
  return compare(c, runKvm(base, [c], codes)[0], runEmu(mem, cpu, [c], codes)[0]);
}

/** Options for {@link runDifftest}. */
export interface DiffOptions {
  /** Total generated instructions (at least). */
  count: number;
  seed?: number;
  /** Instructions per case (one KVM run each). */
  perCase?: number;
  /** Cases per assembler/KVM batch. */
  batch?: number;
  /** Stop after this many mismatches. */
  maxMismatches?: number;
  /** Emulator block-compiler threshold (0: compile every block before its first run; -1: interpret). */
  jitThreshold?: number;
  /** Block compiler (default 'wasm': RAM in a WebAssembly.Memory). */
  jit?: 'wasm' | 'js';
  /** Generate 32-bit compatibility-mode cases instead of 64-bit ones. */
  compat?: boolean;
  log?: (line: string) => void;
}

/** Generates, runs and compares; see {@link DiffOptions}. */
export function runDifftest(opts: DiffOptions): DiffResult {
  const rng = new Rng(opts.seed ?? 1);
  const perCase = opts.perCase ?? 60;
  const batch = opts.batch ?? 1000;
  const maxMis = opts.maxMismatches ?? 20;
  const spec = [{ start: 0, size: FLAT.RAM_SIZE }];
  const jit = opts.jit ?? 'wasm';
  const mem = jit === 'js' ? GuestMemory.createShared(spec) : GuestMemory.createWasm(spec);
  buildFlatImage(mem);
  const base = mem.readBytes(0, 0x100000);
  const cpu = new Cpu(mem, { jitThreshold: opts.jitThreshold ?? -1, jit });
  const result: DiffResult = { cases: 0, instructions: 0, exceptions: 0, mismatches: [], kvmMs: 0, emuMs: 0 };
  while (result.instructions < opts.count && result.mismatches.length < maxMis) {
    const cases: GenCase[] = [];
    let n = 0;
    while (cases.length < batch && result.instructions + n < opts.count) {
      const c = opts.compat ? generateCompatCase(rng, perCase) : generateCase(rng, perCase);
      cases.push(c);
      n += c.instructions;
    }
    const codes = assembleCases(cases);
    let t = performance.now();
    const kvm = runKvm(base, cases, codes);
    result.kvmMs += performance.now() - t;
    t = performance.now();
    const emu = runEmu(mem, cpu, cases, codes);
    result.emuMs += performance.now() - t;
    for (let k = 0; k < cases.length; k++) {
      if (kvm[k].kind === 1) result.exceptions++;
      const d = compare(cases[k], kvm[k], emu[k]);
      if (d.length > 0 && result.mismatches.length < maxMis)
        result.mismatches.push({ index: result.cases + k, gen: cases[k], asm: cases[k].asm, diffs: d });
    }
    result.cases += cases.length;
    result.instructions += n;
    opts.log?.(
      `${result.cases} cases, ${result.instructions} instructions, ${result.mismatches.length} mismatches`,
    );
  }
  return result;
}
