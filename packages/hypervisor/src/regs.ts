import type { Regs } from './types.js';

/** The 16 general-purpose register names of {@link Regs}, in encoding order (rax = 0 ... r15 = 15). */
export const GPR_NAMES = [
  'rax',
  'rcx',
  'rdx',
  'rbx',
  'rsp',
  'rbp',
  'rsi',
  'rdi',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
] as const;

/**
 * General registers all zero but RFLAGS' always-one bit 1, as after reset.
 * @example vcpu.setRegs({ ...zeroRegs(), rip: 0x100000n })
 */
export function zeroRegs(): Regs {
  const r = { rip: 0n, rflags: 2n } as Regs;
  for (const name of GPR_NAMES) r[name] = 0n;
  return r;
}
