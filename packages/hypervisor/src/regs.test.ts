import { describe, expect, it } from 'vitest';
import { GPR_NAMES, MpState, zeroRegs } from './index.js';

describe('register helpers', () => {
  it('zeroRegs: every general register zero, RFLAGS bit 1 set, a fresh object each call', () => {
    const r = zeroRegs();
    for (const n of GPR_NAMES) expect(r[n]).toBe(0n);
    expect(r.rip).toBe(0n);
    expect(r.rflags).toBe(2n);
    r.rax = 1n;
    expect(zeroRegs().rax).toBe(0n);
    expect(Object.keys(r).sort()).toEqual([...GPR_NAMES, 'rip', 'rflags'].sort());
  });

  it('GPR_NAMES follows the x86 register encoding (rax 0, rsp 4, rdi 7, r15 15)', () => {
    expect(GPR_NAMES.length).toBe(16);
    expect(GPR_NAMES.indexOf('rax')).toBe(0);
    expect(GPR_NAMES.indexOf('rsp')).toBe(4);
    expect(GPR_NAMES.indexOf('rdi')).toBe(7);
    expect(GPR_NAMES.indexOf('r15')).toBe(15);
  });

  it('MpState holds the KVM_MP_STATE_* values', () => {
    expect(MpState).toEqual({ RUNNABLE: 0, UNINITIALIZED: 1, INIT_RECEIVED: 2, HALTED: 3, SIPI_RECEIVED: 4 });
  });
});
