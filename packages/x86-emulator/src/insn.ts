/**
 * A decoded instruction: everything the executor needs, computed once per decode and cached in a
 * basic block. Fields are plain numbers so instances share one hidden class.
 *
 * A booted Linux keeps a few hundred thousand of these alive, so the record holds only what the
 * executors read: the raw bytes are not kept (they are `len` bytes at `ip` in guest memory, and an
 * undefined opcode carries its own in `UndefinedOpcode.bytes`).
 *
 * @example
 * ```ts
 * const i = block.insns[0];
 * i.fn(cpu, i); // executes it
 * ```
 */
import type { Cpu } from './cpu.js';

/** An instruction executor. */
export type Handler = (c: Cpu, i: Insn) => void;

/** One decoded instruction. */
export class Insn {
  /** Executor. */
  fn: Handler;
  /** Offset (RIP value) of the instruction. */
  ip = 0;
  /** Offset of the next instruction (the RIP value while it executes). */
  next = 0;
  /** Length in bytes. */
  len = 0;
  /** Index inside its block. */
  idx = 0;
  /** Sub-operation (ALU kind, condition code, group /reg). */
  op = 0;
  /** Operand size in bytes. */
  sz = 4;
  /** Address size in bytes. */
  asz = 8;
  /** ModRM.reg (with REX.R), or the register coded in the opcode. */
  reg = 0;
  /** ModRM.rm register (with REX.B) when `mem` is false. */
  rm = 0;
  /** Byte-register index into `Cpu.R8` for `reg` (8-bit operands). */
  regB = 0;
  /** Byte-register index into `Cpu.R8` for `rm`. */
  rmB = 0;
  /** The r/m operand is memory. */
  mem = false;
  /** Base register * 2 (index into `Cpu.R`), or -1. */
  base = -1;
  /** Index register * 2, or -1. */
  index = -1;
  /** Index scale (1, 2, 4, 8). */
  scale = 1;
  disp = 0;
  /** RIP-relative addressing. */
  ripRel = false;
  /** Segment for the memory operand. */
  seg = 3;
  /** Immediate (sign-extended where the encoding says so; low half for 64-bit). */
  imm = 0;
  /** High half of a 64-bit immediate. */
  immH = 0;
  /** Second immediate (ENTER, far pointers). */
  imm2 = 0;
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  rep = 0;
  /** Mandatory-prefix selector for SSE: 0 none, 1 = 66, 2 = F3, 3 = F2. */
  pfx = 0;
  /** Opcode (0x0F-prefixed opcodes are 0x100 + byte, 0F38/0F3A: 0x200/0x300 + byte). */
  opc = 0;

  constructor(fn: Handler) {
    this.fn = fn;
  }
}
