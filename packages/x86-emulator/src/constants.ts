/**
 * Architectural constants: RFLAGS bits, control-register bits, segment indices, exception vectors.
 *
 * @example
 * ```ts
 * import { RFLAGS } from '@ts-vmm/x86-emulator';
 * const interruptsOn = (rflags & RFLAGS.IF) !== 0;
 * ```
 */
export const RFLAGS = {
  CF: 1 << 0,
  FIXED: 1 << 1,
  PF: 1 << 2,
  AF: 1 << 4,
  ZF: 1 << 6,
  SF: 1 << 7,
  TF: 1 << 8,
  IF: 1 << 9,
  DF: 1 << 10,
  OF: 1 << 11,
  IOPL: 3 << 12,
  NT: 1 << 14,
  RF: 1 << 16,
  VM: 1 << 17,
  AC: 1 << 18,
  VIF: 1 << 19,
  VIP: 1 << 20,
  ID: 1 << 21,
} as const;

/** The six arithmetic flags, kept lazily. */
export const ARITH_FLAGS = 0x8d5;

/** CR0 bits. */
export const CR0 = {
  PE: 1 << 0,
  MP: 1 << 1,
  EM: 1 << 2,
  TS: 1 << 3,
  ET: 1 << 4,
  NE: 1 << 5,
  WP: 1 << 16,
  AM: 1 << 18,
  NW: 1 << 29,
  CD: 1 << 30,
  PG: 1 << 31,
} as const;

/** CR4 bits. */
export const CR4 = {
  VME: 1 << 0,
  PVI: 1 << 1,
  TSD: 1 << 2,
  DE: 1 << 3,
  PSE: 1 << 4,
  PAE: 1 << 5,
  MCE: 1 << 6,
  PGE: 1 << 7,
  PCE: 1 << 8,
  OSFXSR: 1 << 9,
  OSXMMEXCPT: 1 << 10,
  UMIP: 1 << 11,
  FSGSBASE: 1 << 16,
  PCIDE: 1 << 17,
  OSXSAVE: 1 << 18,
  SMEP: 1 << 20,
  SMAP: 1 << 21,
} as const;

/** EFER bits. */
export const EFER = { SCE: 1 << 0, LME: 1 << 8, LMA: 1 << 10, NXE: 1 << 11 } as const;

/** Segment register indices as encoded in instructions. */
export const SEG = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5, LDTR: 6, TR: 7 } as const;

/** Exception vectors. */
export const VEC = {
  DE: 0,
  DB: 1,
  NMI: 2,
  BP: 3,
  OF: 4,
  BR: 5,
  UD: 6,
  NM: 7,
  DF: 8,
  TS: 10,
  NP: 11,
  SS: 12,
  GP: 13,
  PF: 14,
  MF: 16,
  AC: 17,
  MC: 18,
  XM: 19,
} as const;

/** Page-fault error code bits. */
export const PFERR = { P: 1, W: 2, U: 4, RSVD: 8, I: 16 } as const;

/** Execution modes derived from CR0.PE, EFER.LMA, CS.L/D and RFLAGS.VM. */
export const MODE = { REAL: 0, PROT16: 1, PROT32: 2, LONG64: 3, VM86: 4 } as const;
