/**
 * The x86-64 CPU: architectural state, the memory path (software TLB over the guest's RAM regions,
 * MMIO holes that turn into exits) and the run loop over cached basic blocks.
 *
 * @module
 */
import type { CpuidEntry, Fpu, Regs, Segment, Sregs, VcpuExit } from '@ts-vmm/hypervisor';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import { type Block, BlockCache } from './block-cache.js';
import { CR0, CR4, EFER, MODE, RFLAGS, SEG, VEC } from './constants.js';
import { defaultCpuid, lookupCpuid } from './cpuid.js';
import { decodeBlock } from './decoder.js';
import { hex, X86EmulatorError } from './errors.js';
import { deliverException, deliverInterrupt } from './exceptions.js';
import { GuestFault, RESTART, UndefinedOpcode } from './fault.js';
import { arithFlags, F_EXPL, flagCF, setArithFlags } from './flags.js';
import type { Insn } from './insn.js';
import { compileBlock } from './jit.js';
import { MsrFile, type MsrHandler } from './msr.js';
import { translate } from './paging.js';
import { hostRandom, RandomPool, type RandomSource } from './random.js';
import { attrToSegment, recomputeMode, segmentToAttr } from './segments.js';
import { syscall, sysret } from './system.js';
import { TLB_KINDS, TLB_SIZE, Tlb } from './tlb.js';
import { ST, STATE_PAGES, WASM_JIT_THRESHOLD, WasmJit, WasmState } from './wasm-jit.js';
import { X87 } from './x87.js';

/** Why {@link Cpu.run} returned: the hypervisor exits plus an instruction budget running out. */
export type CpuExit = VcpuExit | { kind: 'instruction-limit' };

/** Options for {@link Cpu}. */
export interface CpuOptions {
  /** CPUID leaves to present (default: {@link defaultCpuid}). */
  cpuid?: CpuidEntry[];
  /** TSC ticks per executed instruction (default 1): RDTSC is deterministic. */
  tscPerInstruction?: number;
  /**
   * Where RDTSC/RDTSCP and IA32_TSC read the time stamp counter from (before `tscOffset`), for a
   * platform with a clock of its own; default: instructions retired times `tscPerInstruction`.
   * @example new Cpu(mem, { tsc: () => clock.tscAt(clock.now()) })
   */
  tsc?: () => number;
  /** MSRs served outside the CPU (a LAPIC, paravirtual clocks), consulted before its own set. */
  msrHandler?: MsrHandler;
  /**
   * Executions of a block before it is compiled (default 32 for the WebAssembly compiler, 4000 for
   * the JavaScript one); 0 compiles every block on its first execution, -1 disables the block
   * compiler (pure interpreter).
   *
   * WebAssembly compiles in microseconds per block, so blocks are compiled early. For the
   * JavaScript compiler:
   * A compiled block runs slower than the interpreter until V8 has optimised it, and V8's optimising
   * compiler needs about a millisecond per guest instruction on a background thread: compiling only
   * blocks that have already run thousands of times made a Linux boot faster than compiling early
   * (threshold 256: 55 s, 1000-2000: 45-60 s, 4000: 41 s, 8000: 41 s on the same machine).
   */
  jitThreshold?: number;
  /**
   * Which block compiler: 'wasm' (the default where guest RAM lies in a WebAssembly.Memory, see
   * `GuestMemory.createWasm`) compiles hot blocks to WebAssembly in batches; 'js' compiles each to a
   * JavaScript function (the only choice for other memory).
   */
  jit?: 'wasm' | 'js';
  /**
   * WebAssembly compiler only: compile batches on V8's background threads (default true); blocks
   * keep running interpreted until their batch is ready. False compiles on the spot, so that which
   * code runs compiled does not depend on host timing.
   */
  jitAsync?: boolean;
  /**
   * Where RDRAND and RDSEED get their values (default `crypto.getRandomValues`, the host's secure
   * generator); a source that throws makes them report failure (CF = 0). A deterministic platform
   * gives a seeded one ({@link seededRandom}).
   * @example new Cpu(mem, { random: seededRandom(42) })
   */
  random?: RandomSource;
  /**
   * The local APIC whose task priority CR8 is (TPR bits 7:4; a platform `Lapic` is one): MOV to CR8
   * writes the TPR and MOV from CR8 reads it. Without one CR8 is a plain register.
   * @example new Cpu(mem, { apic: lapic })
   */
  apic?: { cr8: number };
  /**
   * The platform's interrupt controller, asked at an instruction boundary where an external
   * interrupt can be taken (RFLAGS.IF = 1, no STI/MOV SS shadow) right after an instruction that may
   * have opened the window (STI, POPF, IRET, MOV CR8, WRMSR): returns the vector it acknowledged
   * (now in service), or -1. So an interrupt that waited for `sti; nop` is taken after the NOP, as
   * on hardware. {@link Cpu.injectInterrupt} is the other way in.
   * @example new Cpu(mem, { acceptInterrupt: () => (ic.pendingInterrupt(0) >= 0 ? ic.acknowledge(0) : -1) })
   */
  acceptInterrupt?: () => number;
  /**
   * VMCALL/VMMCALL: the hypervisor's hypercall ABI (the emulated backend gives KVM's). The handler
   * reads its arguments from and writes its result to the CPU's registers. Without one the two
   * instructions raise #UD, as on a machine with no hypervisor.
   * @example new Cpu(mem, { hypercall: (c) => c.setReg(0, -1000) }) // -KVM_ENOSYS for every call
   */
  hypercall?: (cpu: Cpu) => void;
}

const TWO32 = 4294967296;
/** DR6.BS: the single-step trap. */
const DR6_BS = 0x4000;
/** Breakpoint lengths by DR7 LEN field (00: 1 byte, 01: 2, 10: 8, 11: 4). */
const DR7_LEN = [1, 2, 8, 4];
/** Data-less exits are shared objects: run() allocates nothing on its common paths. */
const EXIT_HLT: CpuExit = Object.freeze({ kind: 'hlt' });
const EXIT_LIMIT: CpuExit = Object.freeze({ kind: 'instruction-limit' });

/**
 * A pure-TypeScript x86-64 CPU over a {@link GuestMemory}.
 *
 * Registers are kept as 32-bit halves in an `Int32Array` (`R[2*n]` low, `R[2*n+1]` high); RIP is a
 * number (signed in 64-bit mode, exact for canonical addresses). Flags are lazy (see `flags.ts`).
 *
 * @example
 * ```ts
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 * import { Cpu } from '@ts-vmm/x86-emulator';
 * const mem = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
 * mem.writeBytes(0x7c00, new Uint8Array([0xb0, 0x41, 0xe6, 0xe9, 0xf4])); // mov al,'A'; out 0xe9,al; hlt
 * const cpu = new Cpu(mem);
 * cpu.resetRealMode(0x0000, 0x7c00);
 * const exit = cpu.run(1000); // { kind: 'io-out', port: 0xe9, data: [0x41] }
 * ```
 */
export class Cpu {
  /** General registers as int32 halves: RAX lo = R[0], RAX hi = R[1], RCX lo = R[2] ... */
  readonly R: Int32Array;
  /** Byte view of {@link Cpu.R} (AL = 0, AH = 1, CL = 8 ...). */
  readonly R8: Uint8Array;
  /** 16-bit view of {@link Cpu.R} (AX = 0, CX = 4 ...). */
  readonly R16: Uint16Array;
  /** RIP (next instruction while one executes); signed in 64-bit mode. */
  rip = 0;
  /** RFLAGS bits other than the six arithmetic flags. */
  flagsRest = 2;

  // lazy flags (see flags.ts)
  fOp = F_EXPL;
  fSz = 4;
  fA = 0;
  fAH = 0;
  fB = 0;
  fBH = 0;
  fRes = 0;
  fResH = 0;
  fCin = 0;
  fCF = 0;
  fOF = 0;
  fAF = 0;
  fFlags = 0;
  /** Scratch: high half of the last 64-bit value read. */
  tHi = 0;

  // segments: selector, base, limit, attributes (VMX access-rights layout)
  readonly segSel = new Int32Array(8);
  readonly segBase = new Float64Array(8);
  readonly segLimit = new Float64Array(8);
  readonly segAttr = new Int32Array(8);
  /** Segment bases used for effective addresses (0 for ES/CS/SS/DS in 64-bit mode). */
  readonly segEff: Float64Array;
  /**
   * Per data segment (ES, CS, SS, DS, FS, GS): 0 when its accesses need no limit or type check
   * (flat writable data, real, virtual-8086 and 64-bit mode), else what `checkSeg` looks at (see
   * `updateSegCheck`). Kept in step with every segment load and mode change.
   */
  readonly segChk = new Int32Array(8);
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;
  cpl = 0;
  mode: number = MODE.REAL;
  /** Executing 64-bit code (long mode, CS.L = 1). */
  code64 = false;
  /** Default operand size of the code segment is 32 bits. */
  code32 = false;
  /** Stack address size in bytes (2, 4, 8). */
  stackSize = 2;

  private cr0v = CR0.ET | CR0.CD | CR0.NW;
  private cr4v = 0;
  /** CR0. Writing it also tells compiled code whether SSE instructions may run inline (CR0.EM/TS). */
  get cr0(): number {
    return this.cr0v;
  }
  set cr0(v: number) {
    this.cr0v = v;
    this.sseModeChanged();
  }
  cr2 = 0;
  cr3 = 0;
  /** CR4. Writing it also tells compiled code whether SSE instructions may run inline (CR4.OSFXSR). */
  get cr4(): number {
    return this.cr4v;
  }
  set cr4(v: number) {
    this.cr4v = v;
    this.sseModeChanged();
  }
  cr8 = 0;
  efer = 0;
  readonly dr = new Float64Array(8);
  readonly msrs: MsrFile;
  cpuid: CpuidEntry[];

  // SSE / x87
  /** XMM0-15 as 64 dwords (in the WebAssembly state area when there is one: compiled SSE code reads them there). */
  readonly xmm: Int32Array;
  readonly xmmB: Uint8Array;
  readonly xmmF32: Float32Array;
  readonly xmmF64: Float64Array;
  readonly xmm16: Uint16Array;
  mxcsr = 0x1f80;
  readonly x87 = new X87();

  // memory
  readonly memory: GuestMemory;
  readonly ram: Uint8Array[] = [];
  readonly ramView: DataView[] = [];
  private readonly ramStart: number[] = [];
  private readonly ramEnd: number[] = [];
  readonly tlb: Tlb;
  /** The WebAssembly block compiler, when guest RAM lies in a WebAssembly.Memory (else null: jit.ts). */
  readonly wasmJit: WasmJit | null = null;
  /** This CPU's state area in the WebAssembly memory (null without the WebAssembly compiler). */
  readonly wasmState: WasmState | null = null;
  /** TLB kind offsets for the current privilege level: read, write, execute. */
  kR = 0;
  kW = TLB_SIZE;
  kX = 2 * TLB_SIZE;
  readonly blocks: BlockCache;

  // run state
  /** Instructions retired. */
  icount = 0;
  tscPerInstruction: number;
  tscOffset = 0;
  halted = false;
  /**
   * Interrupt shadow after STI / MOV SS / POP SS: the next instruction runs alone, and interrupts
   * are recognised after it.
   */
  shadow = false;
  /** The shadow comes from MOV SS / POP SS, which also holds debug traps back for one instruction. */
  ssShadow = false;
  /**
   * Set by instructions that may open the interrupt window (STI, POPF, IRET, MOV CR8, WRMSR): at the
   * next boundary where IF = 1 and no shadow is active the CPU asks {@link CpuOptions.acceptInterrupt}.
   */
  irqPoll = false;
  pendingIrq = -1;
  pendingNmi = false;
  nmiBlocked = false;
  /** Mode, privilege and code sizes (and CS base) that chained block links were made under (segments.ts). */
  chainMode = -1;
  chainCsBase = Number.NaN;
  /** Set by an instruction to end the current block after it (exits, mode changes, SMC). */
  brk = false;
  /** The instruction executing now. */
  cur: Insn | null = null;
  /** Completed exit produced by an instruction that itself completed (OUT, HLT). */
  private exitReady: CpuExit | null = null;
  /** Exit produced by an instruction that must be restarted (IN, MMIO). */
  private exitRestart: CpuExit | null = null;
  private pendingIn: { port: number; size: number; data: Uint8Array } | null = null;
  // MMIO replay log for the instruction being restarted
  private readonly logAddr: number[] = [];
  private readonly logLo: number[] = [];
  private readonly logHi: number[] = [];
  private logPos = 0;
  private pendingMmioRead: { size: number; data: Uint8Array } | null = null;
  /** Exception being delivered (for double/triple fault detection), -1 when none. */
  delivering = -1;
  /** Single-step: report a debug exit after each instruction. */
  singleStep = false;
  /**
   * DR7 breakpoints in effect (bit n: execute breakpoint n, bit 4 + n: data breakpoint n); see
   * {@link Cpu.setDebugControl}. While any is armed the CPU runs one instruction at a time.
   */
  dbgArmed = 0;
  /** DR6 bits (B0-B3) of data breakpoints hit by the instruction executing, raised as #DB after it. */
  dbgTrap = 0;
  /** DR6 bits held back by a MOV SS / POP SS shadow, raised after the next instruction. */
  private dbgHeld = 0;
  /** An instruction run by {@link Cpu.stepDebug} started (and may be restarted after an exit). */
  private stepping = false;
  /** RFLAGS.TF when the stepped instruction started. */
  private stepTf = false;
  /** The shadow the stepped instruction ran in (restored when it stops for an exit and is restarted). */
  private stepShadow = false;
  private stepSsShadow = false;
  /** {@link Cpu.deliveries} when the stepped instruction started. */
  private stepDeliveries = 0;
  /** Interrupts and exceptions delivered so far (no single-step trap after an instruction that delivered one). */
  deliveries = 0;
  /**
   * The local APIC's task priority as CR8 (MOV CR8 reads and writes it), or null (CR8 is a plain
   * register); see {@link CpuOptions.apic}.
   */
  apic: { cr8: number } | null = null;
  /** See {@link CpuOptions.acceptInterrupt}. */
  acceptInterrupt: (() => number) | null = null;
  /** See {@link CpuOptions.hypercall}. */
  hypercall: ((cpu: Cpu) => void) | null = null;
  /** Statistics. */
  tlbHits = 0;
  tlbMisses = 0;
  readonly ioBuf = new Uint8Array(8);
  readonly mmioBuf = new Uint8Array(8);
  /**
   * Data views of `io-out` and `mmio-write` exits, by size: reused (as KVM reuses its run page),
   * so an exit allocates no buffer; the data is valid until the next `run()`.
   */
  private readonly outViews = outViews();
  private readonly mmioOutViews = outViews();
  /** Ring of the last executed block addresses (for diagnostics). */
  readonly trace = new Float64Array(64);
  tracePos = 0;

  constructor(memory: GuestMemory, options: CpuOptions = {}) {
    this.memory = memory;
    // registers, segment bases and TLB live in a state area of the WebAssembly memory when guest
    // RAM is inside one (the WebAssembly block compiler reads them there)
    const wm = options.jit === 'js' || (options.jitThreshold ?? 0) < 0 ? undefined : memory.wasmMemory;
    let base = -1;
    if (wm !== undefined) {
      try {
        base = wm.grow(STATE_PAGES) * 65536;
      } catch {
        base = -1; // no room left in the memory: the JavaScript block compiler
      }
    }
    this.jitThreshold = options.jitThreshold ?? (base >= 0 ? WASM_JIT_THRESHOLD : 4000);
    if (wm !== undefined && base >= 0) {
      this.wasmState = new WasmState(wm, base);
      const buf = wm.buffer;
      this.R = new Int32Array(buf, base + ST.R, 34);
      this.xmm = new Int32Array(buf, base + ST.XMM, 64);
      this.segEff = new Float64Array(buf, base + ST.SEG, 8);
      const n = TLB_SIZE * TLB_KINDS;
      this.tlb = new Tlb({
        tag: new Float64Array(buf, base + ST.TAG, n),
        wad: new Int32Array(buf, base + ST.WAD, n),
        epochs: new Int32Array(buf, base + ST.EPOCHS, 2),
      });
      this.tlb.wasmBase = memory.regions.map((r) => r.wasmOffset ?? r.bytes.byteOffset);
    } else {
      this.R = new Int32Array(34);
      this.xmm = new Int32Array(64);
      this.segEff = new Float64Array(8);
      this.tlb = new Tlb();
    }
    this.R8 = new Uint8Array(this.R.buffer, this.R.byteOffset, 136);
    const x = this.xmm;
    this.xmmB = new Uint8Array(x.buffer, x.byteOffset, 256);
    this.xmmF32 = new Float32Array(x.buffer, x.byteOffset, 64);
    this.xmmF64 = new Float64Array(x.buffer, x.byteOffset, 32);
    this.xmm16 = new Uint16Array(x.buffer, x.byteOffset, 128);
    this.sseModeChanged();
    this.R16 = new Uint16Array(this.R.buffer, this.R.byteOffset, 68);
    for (const r of memory.regions) {
      this.ram.push(r.bytes);
      this.ramView.push(new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
      this.ramStart.push(r.start);
      this.ramEnd.push(r.start + r.size);
    }
    this.blocks = new BlockCache(
      memory.regions.map((r) => r.start + r.size).reduce((a, b) => Math.max(a, b), 0),
    );
    if (wm !== undefined && base >= 0) this.wasmJit = WasmJit.create(this, wm, options.jitAsync ?? true);
    this.msrs = new MsrFile(this);
    this.cpuid = options.cpuid ?? defaultCpuid();
    this.tscPerInstruction = options.tscPerInstruction ?? 1;
    this.tscSource = options.tsc ?? null;
    this.random = new RandomPool(options.random ?? hostRandom);
    this.msrs.handler = options.msrHandler ?? null;
    this.apic = options.apic ?? null;
    this.acceptInterrupt = options.acceptInterrupt ?? null;
    this.hypercall = options.hypercall ?? null;
    this.resetRealMode(0xf000, 0xfff0);
  }

  /**
   * Makes this CPU use `first`'s decode cache and block compiler (the vCPUs of one VM share
   * decoded and compiled code). Throws when `first` compiles to WebAssembly and this CPU has no
   * state area in the same memory (its grow room was used up).
   * @example cpu1.shareDecodeCache(cpu0)
   */
  shareDecodeCache(first: Cpu): void {
    const self = this as { blocks: BlockCache; wasmJit: WasmJit | null };
    const jit = first.wasmJit;
    if (jit !== null && !jit.adopt(this, this.memory.wasmMemory))
      throw new X86EmulatorError(
        'out-of-memory',
        'Cpu.shareDecodeCache',
        'this vCPU cannot share compiled code: its WebAssembly state area could not be allocated in the guest memory (grow room used up by the other vCPUs)',
      );
    self.blocks = first.blocks;
    self.wasmJit = jit;
  }

  // ---------------------------------------------------------------- registers

  /** Reads register `n` (0..15) as a signed 64-bit number; exact for |v| < 2^53. @example cpu.getReg(0) */
  getReg(n: number): number {
    return this.R[2 * n + 1] * TWO32 + (this.R[2 * n] >>> 0);
  }
  /** Reads register `n` as a bigint (unsigned 64-bit). @example cpu.getReg64(4) // rsp */
  getReg64(n: number): bigint {
    return (BigInt(this.R[2 * n + 1] >>> 0) << 32n) | BigInt(this.R[2 * n] >>> 0);
  }
  /** Writes register `n` from a bigint (taken modulo 2^64). @example cpu.setReg64(0, 0x1234n) */
  setReg64(n: number, v: bigint): void {
    this.R[2 * n] = Number(v & 0xffffffffn) | 0;
    this.R[2 * n + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
  }
  /** Writes register `n` from a signed number (|v| < 2^53). @example cpu.setReg(4, 0x8000) */
  setReg(n: number, v: number): void {
    this.R[2 * n] = v | 0;
    this.R[2 * n + 1] = Math.floor(v / TWO32) | 0;
  }

  /** Full RFLAGS. @example (cpu.getRflags() & RFLAGS.IF) !== 0 */
  getRflags(): number {
    return (this.flagsRest & ~0x8d5) | arithFlags(this) | 2;
  }
  /** Sets RFLAGS (all bits). @example cpu.setRflags(0x202) */
  setRflags(v: number): void {
    setArithFlags(this, v);
    this.flagsRest = (v & ~0x8d5 & 0x3f7fff) | 2;
  }

  /** RIP as an unsigned bigint. @example cpu.getRip() */
  getRip(): bigint {
    return BigInt.asUintN(64, BigInt(this.rip));
  }

  // ---------------------------------------------------------------- state in kvm shapes

  /** General registers in the `kvm_regs` shape. @example const { rax } = cpu.getRegs(); */
  getRegs(): Regs {
    const g = (n: number) => this.getReg64(n);
    return {
      rax: g(0),
      rcx: g(1),
      rdx: g(2),
      rbx: g(3),
      rsp: g(4),
      rbp: g(5),
      rsi: g(6),
      rdi: g(7),
      r8: g(8),
      r9: g(9),
      r10: g(10),
      r11: g(11),
      r12: g(12),
      r13: g(13),
      r14: g(14),
      r15: g(15),
      rip: this.getRip(),
      rflags: BigInt(this.getRflags()),
    };
  }

  /** Sets the general registers from the `kvm_regs` shape. @example cpu.setRegs({ ...cpu.getRegs(), rip: 0x1000n }) */
  setRegs(r: Regs): void {
    const order = [r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi];
    const all = [...order, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15];
    for (let i = 0; i < 16; i++) this.setReg64(i, all[i]);
    this.rip = this.code64 ? Number(BigInt.asIntN(64, r.rip)) : Number(r.rip & 0xffffffffn);
    this.setRflags(Number(r.rflags & 0xffffffffn));
  }

  /** Special registers in the `kvm_sregs` shape. @example cpu.getSregs().cr0 */
  getSregs(): Sregs {
    const seg = (i: number): Segment =>
      attrToSegment(this.segSel[i], this.segBase[i], this.segLimit[i], this.segAttr[i]);
    const bitmap = [0n, 0n, 0n, 0n];
    if (this.pendingIrq >= 0) bitmap[this.pendingIrq >> 6] = 1n << BigInt(this.pendingIrq & 63);
    return {
      es: seg(SEG.ES),
      cs: seg(SEG.CS),
      ss: seg(SEG.SS),
      ds: seg(SEG.DS),
      fs: seg(SEG.FS),
      gs: seg(SEG.GS),
      ldt: seg(SEG.LDTR),
      tr: seg(SEG.TR),
      gdt: { base: BigInt.asUintN(64, BigInt(this.gdtBase)), limit: this.gdtLimit },
      idt: { base: BigInt.asUintN(64, BigInt(this.idtBase)), limit: this.idtLimit },
      cr0: BigInt(this.cr0 >>> 0),
      cr2: BigInt.asUintN(64, BigInt(this.cr2)),
      cr3: BigInt(this.cr3),
      cr4: BigInt(this.cr4 >>> 0),
      cr8: BigInt(this.apic !== null ? this.apic.cr8 & 15 : this.cr8),
      efer: BigInt(this.efer),
      apic_base: this.msrs.apicBase,
      interrupt_bitmap: bitmap,
    };
  }

  /** Sets the special registers (segment caches, control registers, EFER, descriptor tables). @example cpu.setSregs(sregs) */
  setSregs(s: Sregs): void {
    const set = (i: number, g: Segment) => {
      this.segSel[i] = g.selector & 0xffff;
      this.segBase[i] = Number(BigInt.asIntN(64, g.base));
      this.segLimit[i] = g.limit >>> 0;
      this.segAttr[i] = segmentToAttr(g);
    };
    set(SEG.ES, s.es);
    set(SEG.CS, s.cs);
    set(SEG.SS, s.ss);
    set(SEG.DS, s.ds);
    set(SEG.FS, s.fs);
    set(SEG.GS, s.gs);
    set(SEG.LDTR, s.ldt);
    set(SEG.TR, s.tr);
    this.gdtBase = Number(BigInt.asIntN(64, s.gdt.base));
    this.gdtLimit = s.gdt.limit;
    this.idtBase = Number(BigInt.asIntN(64, s.idt.base));
    this.idtLimit = s.idt.limit;
    this.cr0 = Number(s.cr0 & 0xffffffffn) | 0;
    this.cr2 = Number(BigInt.asIntN(64, s.cr2));
    this.cr3 = Number(s.cr3 & 0xffffffffff000n) + Number(s.cr3 & 0xfffn);
    this.cr4 = Number(s.cr4 & 0xffffffffn) | 0;
    this.cr8 = Number(s.cr8 & 0xfn);
    if (this.apic !== null) this.apic.cr8 = this.cr8;
    this.efer = Number(s.efer & 0xffffn);
    this.msrs.apicBase = s.apic_base;
    for (let v = 0; v < 256; v++) {
      if ((s.interrupt_bitmap[v >> 6] >> BigInt(v & 63)) & 1n) this.pendingIrq = v;
    }
    recomputeMode(this);
    this.tlb.flushAll();
  }

  /** x87/SSE state in the `kvm_fpu` shape. @example cpu.getFpu().mxcsr */
  getFpu(): Fpu {
    const fpr = new Uint8Array(128);
    this.x87.storeRegisters(fpr, 16);
    return {
      fpr,
      fcw: this.x87.fcw,
      fsw: this.x87.getFsw(),
      ftwx: this.x87.abridgedTag(),
      last_opcode: 0,
      last_ip: 0n,
      last_dp: 0n,
      xmm: new Uint8Array(this.xmmB),
      mxcsr: this.mxcsr,
    };
  }

  /** Sets the x87/SSE state. @example cpu.setFpu({ ...cpu.getFpu(), mxcsr: 0x1f80 }) */
  setFpu(f: Fpu): void {
    this.x87.fcw = f.fcw;
    this.x87.setFsw(f.fsw);
    this.x87.setAbridgedTag(f.ftwx);
    this.x87.loadRegisters(f.fpr, 16);
    this.xmmB.set(f.xmm.subarray(0, 256));
    this.mxcsr = f.mxcsr;
  }

  /**
   * Resets to real mode at `cs:ip` (CS base = cs * 16), flat 64 KiB segments, paging off.
   * @example cpu.resetRealMode(0, 0x7c00)
   */
  resetRealMode(cs: number, ip: number): void {
    this.cr0 = CR0.ET;
    this.cr4 = 0;
    this.efer = 0;
    for (let i = 0; i < 6; i++) {
      this.segSel[i] = 0;
      this.segBase[i] = 0;
      this.segLimit[i] = 0xffff;
      this.segAttr[i] = 0x93;
    }
    this.segAttr[SEG.CS] = 0x9b;
    this.segSel[SEG.CS] = cs;
    this.segBase[SEG.CS] = cs * 16;
    this.segAttr[SEG.LDTR] = 0x82;
    this.segLimit[SEG.LDTR] = 0xffff;
    this.segAttr[SEG.TR] = 0x8b;
    this.segLimit[SEG.TR] = 0xffff;
    this.idtBase = 0;
    this.idtLimit = 0x3ff;
    this.rip = ip;
    this.setRflags(2);
    recomputeMode(this);
    this.tlb.flushAll();
  }

  // ---------------------------------------------------------------- physical memory

  /** Region index holding physical address `pa`, or -1 (MMIO / unmapped). @example cpu.regionOf(0) // 0 */
  regionOf(pa: number): number {
    for (let i = 0; i < this.ramStart.length; i++) {
      if (pa >= this.ramStart[i] && pa < this.ramEnd[i]) return i;
    }
    return -1;
  }
  /** Start of RAM region `i`. */
  regionStart(i: number): number {
    return this.ramStart[i];
  }

  /** Reads a physical dword (page tables, descriptor tables go through linear reads instead). */
  physRead32(pa: number): number {
    const r = this.regionOf(pa);
    if (r < 0) return 0;
    return this.ramView[r].getInt32(pa - this.ramStart[r], true);
  }
  /** Writes a physical dword (accessed/dirty bits). */
  physWrite32(pa: number, v: number): void {
    const r = this.regionOf(pa);
    if (r < 0) return;
    this.ramView[r].setInt32(pa - this.ramStart[r], v, true);
    this.blocks.notifyWrite(this, pa);
  }

  /**
   * Drops decoded code for physical range [pa, pa + len): call after the host writes guest memory
   * behind the CPU's back (loading a kernel, test images).
   * @example cpu.invalidateCode(0x100000, code.length)
   */
  invalidateCode(pa: number, len: number): void {
    const save = this.brk;
    for (let p = pa - (pa % 4096); p < pa + len; p += 4096) this.blocks.notifyWrite(this, p);
    this.brk = save;
  }

  // ---------------------------------------------------------------- linear memory (hot path)

  /** Reads a byte at linear address `la` (current privilege). @example cpu.read8(0x1000) */
  read8(la: number): number {
    const s = this.kR + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - (la & 0xfff)) {
      this.tlbHits++;
      return this.ram[t.reg[s]][t.off[s] + (la & 0xfff)];
    }
    return this.readSlow(la, 1, this.kR);
  }
  /** Reads a 16-bit value. @example cpu.read16(0x1000) */
  read16(la: number): number {
    const o = la & 0xfff;
    const s = this.kR + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - o && o < 0xfff) {
      this.tlbHits++;
      return this.ramView[t.reg[s]].getUint16(t.off[s] + o, true);
    }
    return this.readSlow(la, 2, this.kR);
  }
  /** Reads a 32-bit value as an unsigned number. @example cpu.read32(0x1000) */
  read32(la: number): number {
    const o = la & 0xfff;
    const s = this.kR + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - o && o < 0xffd) {
      this.tlbHits++;
      return this.ramView[t.reg[s]].getUint32(t.off[s] + o, true);
    }
    return this.readSlow(la, 4, this.kR) >>> 0;
  }
  /** Reads a 64-bit value: returns the low half (int32), the high half is left in `tHi`. @example const lo = cpu.read64(a); const hi = cpu.tHi; */
  read64(la: number): number {
    const o = la & 0xfff;
    const s = this.kR + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - o && o < 0xff9) {
      this.tlbHits++;
      const v = this.ramView[t.reg[s]];
      const p = t.off[s] + o;
      this.tHi = v.getInt32(p + 4, true);
      return v.getInt32(p, true);
    }
    return this.read64Slow(la);
  }

  /** {@link read64} off the TLB: kept out of line so the fast path inlines small. */
  private read64Slow(la: number): number {
    if (this.dbgArmed > 0xf) this.watchAccess(la, 8, false);
    if ((la & 0xfff) <= 0xff8) {
      // one 8-byte MMIO access, not two 4-byte ones (backend hook: 8-byte MMIO exits)
      const pa = this.resolve(la, this.kR);
      if (this.regionOf(pa) < 0) return this.mmioRead(pa, 8) | 0;
    }
    const lo = this.readSlow(la, 4, this.kR) | 0;
    this.tHi = this.readSlow(la + 4, 4, this.kR) | 0;
    return lo;
  }

  /** Reads `size` bytes for a read-modify-write: checks write permission like the hardware does. */
  readW(la: number, size: number): number {
    const o = la & 0xfff;
    const s = this.kW + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - o && o <= 0x1000 - size) {
      this.tlbHits++;
      const v = this.ramView[t.reg[s]];
      const p = t.off[s] + o;
      switch (size) {
        case 1:
          return v.getUint8(p);
        case 2:
          return v.getUint16(p, true);
        case 4:
          return v.getUint32(p, true);
        default:
          this.tHi = v.getInt32(p + 4, true);
          return v.getInt32(p, true);
      }
    }
    return this.readWSlow(la, size);
  }

  /** {@link readW} off the TLB (out of line). */
  private readWSlow(la: number, size: number): number {
    if (size === 8) {
      const lo = this.readSlow(la, 4, this.kW) | 0;
      this.tHi = this.readSlow(la + 4, 4, this.kW) | 0;
      return lo;
    }
    return size === 4 ? this.readSlow(la, 4, this.kW) >>> 0 : this.readSlow(la, size, this.kW);
  }

  /** Writes a byte. @example cpu.write8(0x1000, 0xff) */
  write8(la: number, v: number): void {
    const s = this.kW + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - (la & 0xfff)) {
      this.tlbHits++;
      this.ram[t.reg[s]][t.off[s] + (la & 0xfff)] = v;
      return;
    }
    this.writeSlow(la, 1, v, 0);
  }
  /** Writes a 16-bit value. @example cpu.write16(0x1000, 0xffff) */
  write16(la: number, v: number): void {
    const o = la & 0xfff;
    const s = this.kW + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - o && o < 0xfff) {
      this.tlbHits++;
      this.ramView[t.reg[s]].setUint16(t.off[s] + o, v, true);
      return;
    }
    this.writeSlow(la, 2, v, 0);
  }
  /** Writes a 32-bit value. @example cpu.write32(0x1000, 0xdeadbeef) */
  write32(la: number, v: number): void {
    const o = la & 0xfff;
    const s = this.kW + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - o && o < 0xffd) {
      this.tlbHits++;
      this.ramView[t.reg[s]].setInt32(t.off[s] + o, v, true);
      return;
    }
    this.writeSlow(la, 4, v, 0);
  }
  /** Writes a 64-bit value from halves. @example cpu.write64(0x1000, lo, hi) */
  write64(la: number, lo: number, hi: number): void {
    const o = la & 0xfff;
    const s = this.kW + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - o && o < 0xff9) {
      this.tlbHits++;
      const v = this.ramView[t.reg[s]];
      const p = t.off[s] + o;
      v.setInt32(p, lo, true);
      v.setInt32(p + 4, hi, true);
      return;
    }
    this.writeSlow(la, 8, lo, hi);
  }
  /** Writes `size` bytes (1, 2, 4 or 8 with `hi`). */
  writeN(la: number, size: number, v: number, hi: number): void {
    switch (size) {
      case 1:
        this.write8(la, v);
        return;
      case 2:
        this.write16(la, v);
        return;
      case 4:
        this.write32(la, v);
        return;
      default:
        this.write64(la, v, hi);
    }
  }
  /** Reads `size` bytes (1, 2, 4; 8 returns low half and sets `tHi`). */
  readN(la: number, size: number): number {
    switch (size) {
      case 1:
        return this.read8(la);
      case 2:
        return this.read16(la);
      case 4:
        return this.read32(la);
      default:
        return this.read64(la);
    }
  }

  /** Supervisor-mode (implicit) reads for descriptor tables and the TSS. */
  readSys(la: number, size: number): number {
    const save = this.kR;
    this.kR = 0;
    try {
      return this.readN(la, size);
    } finally {
      this.kR = save;
    }
  }
  /** Supervisor-mode (implicit) writes. */
  writeSys(la: number, size: number, v: number, hi = 0): void {
    const save = this.kW;
    this.kW = TLB_SIZE;
    try {
      this.writeN(la, size, v, hi);
    } finally {
      this.kW = save;
    }
  }

  /** Translates and fills the TLB; returns the physical address (throws #PF / #GP). */
  private resolve(la: number, kindOff: number): number {
    this.tlbMisses++;
    return translate(this, la, kindOff);
  }

  private readSlow(la: number, size: number, kindOff: number): number {
    if (this.dbgArmed > 0xf) this.watchAccess(la, size, false);
    const o = la & 0xfff;
    if (o + size > 0x1000) {
      // crosses a page: byte at a time
      let v = 0;
      for (let k = 0; k < size; k++) v += this.readByteK(la + k, kindOff) * 2 ** (8 * k);
      return size === 4 ? v | 0 : v;
    }
    const pa = this.resolve(la, kindOff);
    const r = this.regionOf(pa);
    if (r < 0) return this.mmioRead(pa, size);
    const view = this.ramView[r];
    const p = pa - this.ramStart[r];
    return size === 1 ? view.getUint8(p) : size === 2 ? view.getUint16(p, true) : view.getInt32(p, true);
  }

  private readByteK(la: number, kindOff: number): number {
    const pa = this.resolve(la, kindOff);
    const r = this.regionOf(pa);
    if (r < 0) return this.mmioRead(pa, 1);
    return this.ram[r][pa - this.ramStart[r]];
  }

  private writeSlow(la: number, size: number, v: number, hi: number): void {
    if (this.dbgArmed > 0xf) this.watchAccess(la, size, true);
    const o = la & 0xfff;
    if (o + size > 0x1000) {
      // check both pages first so a fault leaves memory untouched
      this.resolve(la, this.kW);
      this.resolve(la + size - 1, this.kW);
      for (let k = 0; k < size; k++) {
        const byte = k < 4 ? (v >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
        const pa = this.resolve(la + k, this.kW);
        const r = this.regionOf(pa);
        if (r < 0) this.mmioWrite(pa, 1, byte, 0);
        else {
          this.ram[r][pa - this.ramStart[r]] = byte;
          this.blocks.notifyWrite(this, pa);
        }
      }
      return;
    }
    const pa = this.resolve(la, this.kW);
    const r = this.regionOf(pa);
    if (r < 0) {
      this.mmioWrite(pa, size, v, hi);
      return;
    }
    this.blocks.notifyWrite(this, pa);
    const view = this.ramView[r];
    const p = pa - this.ramStart[r];
    if (size === 1) view.setUint8(p, v);
    else if (size === 2) view.setUint16(p, v, true);
    else if (size === 4) view.setInt32(p, v, true);
    else {
      view.setInt32(p, v, true);
      view.setInt32(p + 4, hi, true);
    }
  }

  /**
   * Copies `len` bytes (inside one page on both sides) from linear `src` to linear `dst` when both
   * are RAM and do not overlap forward; returns false to make the caller fall back to elements.
   */
  copySpan(dst: number, src: number, len: number): boolean {
    if (this.dbgArmed > 0xf) return false; // element by element, through the breakpoint checks
    const spa = translate(this, src, this.kR);
    const sr = this.regionOf(spa);
    if (sr < 0) return false;
    const dpa = translate(this, dst, this.kW);
    const dr = this.regionOf(dpa);
    if (dr < 0) return false;
    if (sr === dr && dpa > spa && dpa < spa + len) return false;
    if (spa + len > this.ramEnd[sr] || dpa + len > this.ramEnd[dr]) return false;
    this.blocks.notifyWrite(this, dpa);
    const so = spa - this.ramStart[sr];
    const dof = dpa - this.ramStart[dr];
    if (sr === dr) this.ram[dr].copyWithin(dof, so, so + len);
    else this.ram[dr].set(this.ram[sr].subarray(so, so + len), dof);
    return true;
  }

  /** Stores `count` elements of `size` bytes at linear `dst` (one page, RAM only). */
  fillSpan(dst: number, count: number, size: number, v: number, hi: number): boolean {
    if (this.dbgArmed > 0xf) return false;
    const dpa = translate(this, dst, this.kW);
    const dr = this.regionOf(dpa);
    if (dr < 0 || dpa + count * size > this.ramEnd[dr]) return false;
    this.blocks.notifyWrite(this, dpa);
    const o = dpa - this.ramStart[dr];
    if (size === 1) {
      this.ram[dr].fill(v & 0xff, o, o + count);
      return true;
    }
    const view = this.ramView[dr];
    for (let k = 0; k < count; k++) {
      const p = o + k * size;
      if (size === 2) view.setUint16(p, v, true);
      else if (size === 4) view.setInt32(p, v, true);
      else {
        view.setInt32(p, v, true);
        view.setInt32(p + 4, hi, true);
      }
    }
    return true;
  }

  // ---------------------------------------------------------------- instruction fetch

  /** Fetches a code byte at linear address `la` (execute permission). */
  fetch8(la: number): number {
    const s = this.kX + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - (la & 0xfff)) return this.ram[t.reg[s]][t.off[s] + (la & 0xfff)];
    const pa = this.resolve(la, this.kX);
    const r = this.regionOf(pa);
    if (r < 0) throw new GuestFault(VEC.GP, 0); // executing from MMIO is not supported
    return this.ram[r][pa - this.ramStart[r]];
  }
  /** Physical address of code at linear `la` (fills the execute TLB). */
  codePhys(la: number): number {
    const s = this.kX + (((la | 0) >>> 12) & (TLB_SIZE - 1));
    const t = this.tlb;
    if (t.tag[s] === la - (la & 0xfff)) return t.phys[s] + (la & 0xfff);
    return this.resolve(la, this.kX);
  }

  // ---------------------------------------------------------------- MMIO and port I/O

  private mmioRead(pa: number, size: number): number {
    if (this.logPos < this.logAddr.length) {
      const k = this.logPos++;
      this.tHi = this.logHi[k];
      return this.logLo[k];
    }
    const data = this.mmioBuf.subarray(0, size);
    data.fill(0);
    this.pendingMmioRead = { size, data };
    this.exitRestart = { kind: 'mmio-read', address: pa, size, data };
    throw RESTART;
  }

  private mmioWrite(pa: number, size: number, v: number, hi: number): void {
    if (this.logPos < this.logAddr.length) {
      this.logPos++;
      return;
    }
    const data = size <= 8 ? this.mmioOutViews[size] : new Uint8Array(size);
    for (let k = 0; k < size; k++) data[k] = k < 4 ? (v >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
    this.logAddr.push(pa);
    this.logLo.push(0);
    this.logHi.push(0);
    this.exitRestart = { kind: 'mmio-write', address: pa, size, data };
    throw RESTART;
  }

  /** Port input: returns the value the VMM supplied, or stops the CPU with an `io-in` exit. */
  ioIn(port: number, size: number): number {
    const p = this.pendingIn;
    if (p !== null && p.port === port && p.size === size) {
      this.pendingIn = null;
      const d = p.data;
      return size === 1
        ? d[0]
        : size === 2
          ? d[0] | (d[1] << 8)
          : (d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24)) >>> 0;
    }
    const data = this.ioBuf.subarray(0, size);
    data.fill(0);
    this.pendingIn = { port, size, data };
    this.exitRestart = { kind: 'io-in', port, size: size as 1 | 2 | 4, count: 1, data };
    throw RESTART;
  }

  /** Port output: the instruction completes and the CPU stops with an `io-out` exit. */
  ioOut(port: number, size: number, v: number): void {
    const data = size <= 8 ? this.outViews[size] : new Uint8Array(size);
    for (let k = 0; k < size; k++) data[k] = (v >>> (8 * k)) & 0xff;
    this.exitReady = { kind: 'io-out', port, size: size as 1 | 2 | 4, count: 1, data };
    this.brk = true;
  }

  /** Stops after the current instruction with `exit`. */
  stopWith(exit: CpuExit): void {
    this.exitReady = exit;
    this.brk = true;
  }

  // ---------------------------------------------------------------- interrupts

  /**
   * Queues an external interrupt; it is delivered when RFLAGS.IF = 1 and no interrupt shadow is active.
   * @example cpu.injectInterrupt(0x20)
   */
  injectInterrupt(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector > 255)
      throw new X86EmulatorError(
        'invalid-argument',
        'Cpu.injectInterrupt',
        `interrupt vector ${vector} is not in 0..255`,
      );
    this.pendingIrq = vector;
  }
  /** Queues an NMI. @example cpu.injectNmi() */
  injectNmi(): void {
    this.pendingNmi = true;
  }
  /** Whether an external interrupt would be accepted now. @example if (cpu.interruptWindowOpen) cpu.injectInterrupt(v) */
  get interruptWindowOpen(): boolean {
    return (this.flagsRest & RFLAGS.IF) !== 0 && !this.shadow;
  }

  /** Called when privilege, paging or mode change: updates TLB kind offsets. */
  /** Keeps the state area's SSE-enabled word (compiled SSE code runs inline only when SSE is usable: CR0.EM = 0, CR0.TS = 0, CR4.OSFXSR = 1). */
  private sseModeChanged(): void {
    const st = this.wasmState;
    if (st !== null && st !== undefined)
      st.S32[ST.SSEOK / 4] = (this.cr0v & 0xc) === 0 && (this.cr4v & 0x200) !== 0 ? 1 : 0;
  }

  privilegeChanged(): void {
    const u = this.cpl === 3 ? 3 * TLB_SIZE : 0;
    this.kR = u;
    this.kW = u + TLB_SIZE;
    this.kX = u + 2 * TLB_SIZE;
    this.wasmState?.setBanks(this.kR, this.kW);
  }

  /** Invalidates all translations and cached decodes keyed by linear address. */
  flushTlb(includeGlobal: boolean): void {
    if (includeGlobal) this.tlb.flushAll();
    else this.tlb.flushNonGlobal();
  }

  // ---------------------------------------------------------------- run loop

  /**
   * Runs until an exit or until about `maxInstructions` more instructions have retired.
   *
   * For `io-in` and `mmio-read` exits fill `exit.data` before calling `run()` again: the stopped
   * instruction is re-executed with that value.
   *
   * @example
   * ```ts
   * for (;;) {
   *   const exit = cpu.run(1_000_000);
   *   if (exit.kind === 'io-out') process.stdout.write(String.fromCharCode(exit.data[0]));
   *   else if (exit.kind !== 'instruction-limit') break;
   * }
   * ```
   */
  run(maxInstructions = Number.MAX_SAFE_INTEGER): CpuExit {
    const limit = this.icount + maxInstructions;
    this.exitReady = null;
    if (this.pendingMmioRead !== null) {
      const d = this.pendingMmioRead.data;
      let lo = 0;
      let hi = 0;
      for (let k = 0; k < d.length; k++) {
        if (k < 4) lo |= d[k] << (8 * k);
        else hi |= d[k] << (8 * (k - 4));
      }
      if (d.length < 4) lo >>>= 0;
      this.logAddr.push(0);
      this.logLo.push(d.length === 4 ? lo >>> 0 : lo);
      this.logHi.push(hi);
      this.pendingMmioRead = null;
    }
    for (;;) {
      try {
        if (this.logAddr.length > 0) {
          // re-execute the stopped instruction with its recorded MMIO results (one that began
          // with debug traps pending finishes as it began)
          this.logPos = 0;
          if (this.stepping) {
            const x = this.stepDebug();
            if (x !== null) return x;
          } else this.stepOne();
          this.logAddr.length = 0;
          this.logLo.length = 0;
          this.logHi.length = 0;
          this.logPos = 0;
          if (this.exitReady !== null) return this.takeExit();
        }
        return this.loop(limit);
      } catch (e) {
        const r = this.handleThrow(e);
        if (r !== null) return r;
      }
    }
  }

  private takeExit(): CpuExit {
    const e = this.exitReady!;
    this.exitReady = null;
    this.brk = false;
    return e;
  }

  private handleThrow(e: unknown): CpuExit | null {
    const cur = this.cur;
    this.brk = false;
    if (e === RESTART) {
      if (cur !== null) {
        this.rip = cur.ip;
        this.icount += cur.idx;
      }
      if (this.stepping) {
        // restarted after the exit: still in the shadow it began in
        this.shadow = this.stepShadow;
        this.ssShadow = this.stepSsShadow;
      }
      const x = this.exitRestart!;
      this.exitRestart = null;
      return x;
    }
    if (e instanceof GuestFault) {
      if (cur !== null) {
        this.rip = cur.ip;
        this.icount += cur.idx;
      }
      this.cur = null;
      // the instruction did not complete: no debug trap after it
      this.stepping = false;
      this.dbgTrap = 0;
      this.dbgHeld = 0;
      this.logAddr.length = 0;
      this.logLo.length = 0;
      this.logHi.length = 0;
      if (e instanceof UndefinedOpcode && this.reportUd) {
        return {
          kind: 'internal-error',
          suberror: 1,
          message: `#UD: unimplemented or invalid opcode at ${hex(this.rip)}: ${[...e.bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`,
          data: [this.getRip()],
          bytes: e.bytes,
        };
      }
      // a fault pushes RF = 1, so that the handler's IRET does not hit an instruction breakpoint
      // on the faulting instruction again (SDM 17.3.1.1)
      this.flagsRest |= RFLAGS.RF;
      const r = deliverException(this, e.vector, e.errorCode);
      if (r === 'shutdown') return { kind: 'shutdown' };
      return null;
    }
    throw e;
  }

  /** See {@link CpuOptions.jitThreshold}. */
  jitThreshold: number;
  /** Blocks compiled so far. */
  compiledBlocks = 0;
  /** Block executions through compiled code so far. */
  compiledRuns = 0;
  /** Instructions retired by the interpreter (not by compiled blocks) so far. */
  interpretedInstructions = 0;

  /**
   * When true, an unimplemented opcode stops the CPU with an `internal-error` exit instead of raising
   * #UD in the guest: `suberror` 1, a `message` starting with `#UD` that gives RIP and the bytes,
   * `data[0]` = RIP and `bytes` = the instruction's bytes. Default false (Linux uses UD2 for BUG/WARN,
   * so the guest must see #UD); the emulated backend sets it from `reportUnimplemented`.
   * @example cpu.reportUd = true;
   */
  reportUd = false;

  private checkInterrupts(): void {
    if (this.pendingNmi && !this.nmiBlocked) {
      this.pendingNmi = false;
      this.nmiBlocked = true;
      this.halted = false;
      deliverInterrupt(this, VEC.NMI, -1, false);
      return;
    }
    if ((this.flagsRest & RFLAGS.IF) === 0 || this.shadow) return;
    if (this.pendingIrq < 0) {
      // the window opened: ask the interrupt controller (CpuOptions.acceptInterrupt)
      this.irqPoll = false;
      const accept = this.acceptInterrupt;
      if (accept === null) return;
      const v = accept();
      if (v < 0) return;
      this.pendingIrq = v;
    }
    const v = this.pendingIrq;
    this.pendingIrq = -1;
    this.halted = false;
    deliverInterrupt(this, v, -1, false);
  }

  private loop(limit: number): CpuExit {
    let prev: Block | null = null;
    const tlb = this.tlb;
    for (;;) {
      if (this.pendingIrq >= 0 || this.pendingNmi || this.irqPoll) this.checkInterrupts();
      if (this.halted) return EXIT_HLT;
      if (this.icount >= limit) return EXIT_LIMIT;
      // one instruction at a time: in an STI / MOV SS shadow (interrupts are recognised after the
      // next instruction), with RFLAGS.TF or RF set, with DR7 breakpoints armed, or single-stepped
      // by the VMM. Every instruction that sets one of these ends its block, so compiled code never
      // runs with one set and pays nothing for them.
      if (
        this.shadow ||
        this.stepping ||
        (this.flagsRest & (RFLAGS.TF | RFLAGS.RF)) !== 0 ||
        this.dbgArmed !== 0 ||
        this.singleStep
      ) {
        prev = null;
        const x = this.stepDebug();
        if (x !== null) return x;
        if (this.exitReady !== null) return this.takeExit();
        if (this.singleStep)
          return { kind: 'debug', exception: VEC.DB, pc: this.getRip(), dr6: 0x4000n, dr7: 0n };
        continue;
      }
      let b: Block;
      // chained successor: same mode, privilege and translations since the link was made (for
      // blocks on global pages a CR3 reload keeps the links)
      if (
        prev !== null &&
        prev.epoch === (prev.global ? tlb.globalFlushes : tlb.flushes) &&
        prev.linkCpl === this.cpl
      ) {
        const r = this.rip;
        const s0 = prev.succ0;
        const s1 = prev.succ1;
        if (s0 !== null && prev.succ0Rip === r && s0.valid) {
          b = s0;
          this.blocks.hits++;
        } else if (s1 !== null && prev.succ1Rip === r && s1.valid) {
          b = s1;
          this.blocks.hits++;
        } else {
          b = this.getBlock();
          if (!prev.global || b.global) {
            if (prev.succ0 === null) {
              prev.succ0 = b;
              prev.succ0Rip = r;
            } else {
              prev.succ1 = b;
              prev.succ1Rip = r;
            }
          }
        }
      } else {
        b = this.getBlock();
        if (prev !== null) {
          prev.epoch = prev.global ? tlb.globalFlushes : tlb.flushes;
          prev.linkCpl = this.cpl;
          prev.succ1 = null;
          if (!prev.global || b.global) {
            prev.succ0 = b;
            prev.succ0Rip = this.rip;
          } else prev.succ0 = null;
        }
      }
      prev = b;
      const f = b.fn;
      if (f !== null) {
        const k = f(this, limit - this.icount);
        this.cur = null;
        this.icount += k;
        this.compiledRuns++;
        if (this.brk) {
          this.brk = false;
          if (this.exitReady !== null) return this.takeExit();
        }
        continue;
      }
      if (this.jitThreshold >= 0 && ++b.count > this.jitThreshold) {
        const w = this.wasmJit;
        if (w === null) {
          b.fn = compileBlock(b, flagCF);
          this.compiledBlocks++;
        } else if (!b.queued) {
          b.queued = true;
          w.enqueue(b, this);
        } else w.poll(this);
      }
      const insns = b.insns;
      const n = insns.length;
      let k = 0;
      for (; k < n; k++) {
        const i = insns[k];
        this.cur = i;
        this.rip = i.next;
        i.fn(this, i);
        if (this.brk) break;
      }
      this.cur = null;
      this.interpretedInstructions += k < n ? k + 1 : n;
      if (k < n) {
        this.icount += k + 1;
        this.brk = false;
        if (this.exitReady !== null) return this.takeExit();
      } else this.icount += n;
    }
  }

  /**
   * Executes one instruction with the debug architecture (SDM 17.3): an execute breakpoint at RIP
   * (DR7, suppressed by RF) raises #DB before it; RF is cleared as it starts; after it completes,
   * data breakpoints it hit and, when TF was set as it started, the single-step trap (DR6.BS) raise
   * #DB, unless it delivered an interrupt or exception itself (INT n, INT3, a fault), held back one
   * instruction by a MOV SS / POP SS shadow. SYSCALL and SYSRET look at TF after they complete (as
   * QEMU does: no trap in the kernel when SFMASK clears TF). It also ends an STI/MOV SS shadow.
   * Faults propagate to the caller's handler; after an exit the instruction is restarted here.
   * Returns a `shutdown` exit on a triple fault, else null.
   */
  private stepDebug(): CpuExit | null {
    if (!this.stepping) {
      if ((this.dbgArmed & 0xf) !== 0 && (this.flagsRest & RFLAGS.RF) === 0) {
        const hit = this.executeBreakpoints(this.ripLinear());
        if (hit !== 0) {
          this.dr[6] = (this.dr[6] - (this.dr[6] % 16) + hit) % 2 ** 32;
          return deliverException(this, VEC.DB, -1) === 'shutdown' ? { kind: 'shutdown' } : null;
        }
      }
      this.stepTf = (this.flagsRest & RFLAGS.TF) !== 0;
      this.stepShadow = this.shadow;
      this.stepSsShadow = this.ssShadow;
      this.stepDeliveries = this.deliveries;
      this.flagsRest &= ~RFLAGS.RF;
      this.stepping = true;
    }
    this.shadow = false;
    this.ssShadow = false;
    const b = this.getBlock();
    const i = b.insns[0];
    this.cur = i;
    this.rip = i.next;
    i.fn(this, i);
    this.cur = null;
    this.icount++;
    this.interpretedInstructions++;
    this.brk = false;
    this.stepping = false;
    let trap = this.dbgTrap;
    this.dbgTrap = 0;
    const tf = i.fn === syscall || i.fn === sysret ? (this.flagsRest & RFLAGS.TF) !== 0 : this.stepTf;
    if (tf && this.deliveries === this.stepDeliveries) trap |= DR6_BS;
    if (this.ssShadow) {
      this.dbgHeld |= trap;
      return null;
    }
    trap |= this.dbgHeld;
    this.dbgHeld = 0;
    if (trap === 0) return null;
    let dr6 = this.dr[6];
    if ((trap & 0xf) !== 0) dr6 = dr6 - (dr6 % 16) + (trap & 0xf);
    if ((trap & DR6_BS) !== 0 && Math.floor(dr6 / DR6_BS) % 2 === 0) dr6 += DR6_BS;
    this.dr[6] = dr6;
    return deliverException(this, VEC.DB, -1) === 'shutdown' ? { kind: 'shutdown' } : null;
  }

  /** DR6 bits B0-B3 of the execute breakpoints armed at linear address `la`. */
  private executeBreakpoints(la: number): number {
    let hit = 0;
    for (let n = 0; n < 4; n++) if ((this.dbgArmed & (1 << n)) !== 0 && this.dr[n] === la) hit |= 1 << n;
    return hit;
  }

  /**
   * Applies DR7 (and DR0-DR3): which breakpoints are armed. Execute breakpoints (R/W = 00) and data
   * breakpoints (01 write, 11 read/write) count; I/O breakpoints (10) are not supported. The TLB is
   * flushed: a page holding a data breakpoint never enters it, so every access there takes the slow
   * path, which checks the breakpoints.
   * @example cpu.dr[0] = 0x401000; cpu.dr[7] = 0x1; cpu.setDebugControl();
   */
  setDebugControl(): void {
    const d7 = this.dr[7] % 2 ** 32;
    let armed = 0;
    for (let n = 0; n < 4; n++) {
      if (((d7 >>> (2 * n)) & 3) === 0) continue;
      const rw = (d7 >>> (16 + 4 * n)) & 3;
      if (rw === 0) armed |= 1 << n;
      else if (rw !== 2) armed |= 0x10 << n;
    }
    this.dbgArmed = armed;
    this.tlb.flushAll();
    this.brk = true;
  }

  /** Whether linear page `page` holds an armed data breakpoint (it must not enter the TLB). */
  watchedPage(page: number): boolean {
    for (let n = 0; n < 4; n++) {
      if ((this.dbgArmed & (0x10 << n)) === 0) continue;
      const a = this.dr[n];
      if (a - (a & 0xfff) === page) return true;
    }
    return false;
  }

  /** Data breakpoints: notes (in {@link Cpu.dbgTrap}) the armed ones an access of `size` bytes at `la` hits. */
  private watchAccess(la: number, size: number, write: boolean): void {
    const d7 = this.dr[7] % 2 ** 32;
    for (let n = 0; n < 4; n++) {
      if ((this.dbgArmed & (0x10 << n)) === 0) continue;
      if (!write && ((d7 >>> (16 + 4 * n)) & 3) === 1) continue;
      const len = DR7_LEN[(d7 >>> (18 + 4 * n)) & 3];
      const a = this.dr[n] - (this.dr[n] & (len - 1));
      if (la < a + len && a < la + size) this.dbgTrap |= 1 << n;
    }
  }

  /** Executes exactly one instruction at RIP (faults propagate to the caller's handler). */
  private stepOne(): void {
    const b = this.getBlock();
    const i = b.insns[0];
    this.cur = i;
    this.rip = i.next;
    i.fn(this, i);
    this.cur = null;
    this.icount++;
    this.brk = false;
  }

  /** Linear address of RIP. */
  ripLinear(): number {
    return this.code64 ? this.rip : this.segBase[SEG.CS] + this.rip;
  }

  private getBlock(): Block {
    const la = this.ripLinear();
    const pa = this.codePhys(la);
    const key = pa * 4 + (this.code64 ? 3 : this.code32 ? 2 : 1);
    const b = this.blocks.lookup(key, la);
    if (b !== undefined) {
      if (b.xLinear === -1 || this.mapsTo(b.xLinear, b.xPhys)) return b;
      this.blocks.drop(b);
    }
    this.trace[this.tracePos++ & 63] = la;
    const nb = decodeBlock(this, la, pa);
    nb.key = key;
    nb.global = this.codeGlobal(la, nb);
    this.blocks.insert(this, nb);
    return nb;
  }

  /** Whether every page `b` (decoded at `la`) was decoded from is mapped global in the execute TLB. */
  private codeGlobal(la: number, b: Block): boolean {
    const t = this.tlb;
    const page = la - (la & 0xfff);
    const slot = (p: number) => this.kX + (((p | 0) >>> 12) & (TLB_SIZE - 1));
    if (!t.isGlobal(slot(page), page)) return false;
    if (b.xLinear !== -1 && !t.isGlobal(slot(b.xLinear), b.xLinear)) return false;
    // an instruction straddling into a further page: not worth tracking, treat as non-global
    return b.pages.length <= (b.xLinear !== -1 ? 2 : 1);
  }

  /** Whether code at linear page `la` still lies on physical page `pa` (false when it no longer translates). */
  private mapsTo(la: number, pa: number): boolean {
    try {
      return this.codePhys(la) === pa;
    } catch (e) {
      if (e instanceof GuestFault) return false;
      throw e;
    }
  }

  /** Decode-cache statistics. @example cpu.stats().decodeHitRate */
  stats(): {
    instructions: number;
    tlbHits: number;
    tlbMisses: number;
    tlbHitRate: number;
    blockHits: number;
    blockMisses: number;
    decodeHitRate: number;
  } {
    const t = this.tlbHits + this.tlbMisses;
    const b = this.blocks.hits + this.blocks.misses;
    return {
      instructions: this.icount,
      tlbHits: this.tlbHits,
      tlbMisses: this.tlbMisses,
      tlbHitRate: t === 0 ? 1 : this.tlbHits / t,
      blockHits: this.blocks.hits,
      blockMisses: this.blocks.misses,
      decodeHitRate: b === 0 ? 1 : this.blocks.hits / b,
    };
  }

  /** See {@link CpuOptions.tsc}. */
  private readonly tscSource: (() => number) | null;
  /** @internal What RDRAND/RDSEED draw from ({@link CpuOptions.random}). */
  readonly random: RandomPool;

  /** Reads TSC: {@link CpuOptions.tsc} or instructions retired times `tscPerInstruction`, plus the offset. */
  readTsc(): number {
    const src = this.tscSource;
    return (src !== null ? src() : this.icount * this.tscPerInstruction) + this.tscOffset;
  }

  /** CPUID lookup. @example cpu.cpuidLookup(0, 0) */
  cpuidLookup(leaf: number, sub: number): [number, number, number, number] {
    return lookupCpuid(this.cpuid, leaf, sub);
  }

  /** Whether paging is on. */
  get paging(): boolean {
    return (this.cr0 & CR0.PG) !== 0;
  }
  /** Long mode active (EFER.LMA). */
  get longMode(): boolean {
    return (this.efer & EFER.LMA) !== 0;
  }
  /** CR4.PAE. */
  get pae(): boolean {
    return (this.cr4 & CR4.PAE) !== 0;
  }
}

/** Views of one 8-byte buffer, indexed by size (1, 2, 4, 8; other indexes unused). */
function outViews(): Uint8Array[] {
  const b = new Uint8Array(8);
  return Array.from({ length: 9 }, (_, n) => b.subarray(0, n));
}
