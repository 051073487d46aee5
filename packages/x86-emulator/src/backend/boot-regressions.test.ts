// Regression tests for CPU bugs found while booting Linux on the emulated backend (hand-encoded
// instructions in flat long mode). Each names the kernel code that hit it.

import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { Cpu } from '../cpu.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from '../flat-long-mode.js';

function run(code: number[], regs: Partial<Record<'rax' | 'rcx' | 'rdx' | 'rsi' | 'r11', bigint>> = {}) {
  const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
  buildFlatImage(mem);
  mem.writeBytes(FLAT.CODE, new Uint8Array([...code, ...DONE_BYTES]));
  const cpu = new Cpu(mem);
  cpu.setSregs(flatSregs());
  cpu.setRegs({
    ...zeroRegs(),
    ...regs,
    rip: BigInt(FLAT.CODE),
    rsp: BigInt(FLAT.USER_STACK),
    rflags: 0x202n,
  });
  const exit = cpu.run(1000);
  expect(exit.kind).toBe('mmio-write');
  return cpu.getRegs();
}

describe('CPU fixes found by the Linux boot', () => {
  it('LEA computes exact 64-bit sums beyond 2^53 (strscpy word-at-a-time has_zero)', () => {
    // lea r8, [rsi + r11] ; lea rdx, [rcx - 1]
    const r = run([0x4e, 0x8d, 0x04, 0x1e, 0x48, 0x8d, 0x51, 0xff], {
      rsi: 0x6f6cn,
      r11: 0xfefe_fefe_fefe_feffn,
      rcx: 0x8080_8080_8080_0000n,
    });
    expect(r.r8).toBe(0xfefe_fefe_feff_6e6bn);
    expect(r.rdx).toBe(0x8080_8080_807f_ffffn);
  });

  it('LEA with a scaled index and a negative displacement wraps modulo 2^64', () => {
    // lea rax, [rcx + rdx*8 - 8]
    const r = run([0x48, 0x8d, 0x44, 0xd1, 0xf8], {
      rcx: 0xffff_ffff_ffff_fff0n,
      rdx: 0x2000_0000_0000_0003n,
    });
    expect(r.rax).toBe(BigInt.asUintN(64, 0xffff_ffff_ffff_fff0n + 0x2000_0000_0000_0003n * 8n - 8n));
  });
});
