import { describe, expect, it } from 'vitest';
import { assemble, hasAssembler } from '../test/assemble.js';
import { flatCpu } from '../test/flat-cpu.js';
import { DONE_BYTES, FLAT } from './flat-long-mode.js';
import { readExtended, writeExtended } from './x87.js';

function run(src: string) {
  const { cpu, mem } = flatCpu(new Uint8Array([...assemble(src), ...DONE_BYTES]), new Uint8Array(0), {});
  const exit = cpu.run(10_000);
  expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
  return { mem, cpu };
}

describe('x87', () => {
  it('converts 80-bit extended reals exactly for doubles', () => {
    const b = new Uint8Array(10);
    for (const v of [1, -2.5, Math.PI, 1e-310, 1e300, 0, Number.POSITIVE_INFINITY]) {
      writeExtended(v, b, 0);
      expect(readExtended(b, 0)).toBe(v);
    }
    writeExtended(1, b, 0);
    expect([...b]).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
  });

  it.skipIf(!hasAssembler())(
    'runs FILD/FLD/FADD/FMUL/FDIV/FSQRT/FISTP/FSTP, FUCOMI and the control/status words',
    () => {
      const { mem, cpu } = run(`
      fninit
      mov dword ptr [r15], 7
      fild dword ptr [r15]
      fld1
      faddp st(1), st
      fmul st, st(0)
      fsqrt
      fistp dword ptr [r15 + 4]
      mov rax, 0x4009000000000000
      mov [r15 + 8], rax
      fld qword ptr [r15 + 8]
      fld1
      fdivp st(1), st
      fstp qword ptr [r15 + 16]
      fld1
      fldz
      fucomip st, st(1)
      setb bl
      fstp st(0)
      fnstsw ax
      mov [r15 + 24], ax
      fnstcw [r15 + 26]
      mov word ptr [r15 + 28], 0x0c7f
      fldcw [r15 + 28]
      mov dword ptr [r15 + 32], 0x40200000
      fld dword ptr [r15 + 32]
      fistp dword ptr [r15 + 36]
    `);
      expect(mem.read32(FLAT.DATA + 4)).toBe(8);
      const dv = new DataView(mem.readBytes(FLAT.DATA + 16, 8).buffer);
      expect(dv.getFloat64(0, true)).toBe(3.125);
      expect(cpu.getRegs().rbx & 0xffn).toBe(1n); // 0 < 1: CF from FUCOMIP
      expect(mem.read16(FLAT.DATA + 24) & 0x3800).toBe(0); // stack empty again: TOP = 0
      expect(mem.read16(FLAT.DATA + 26)).toBe(0x37f);
      expect(mem.read32(FLAT.DATA + 36)).toBe(2); // 2.5 truncated (RC = toward zero)
    },
  );

  it.skipIf(!hasAssembler())('FXSAVE writes the 512-byte layout and FXRSTOR reads it back', () => {
    const { mem } = run(`
      fninit
      fld1
      mov eax, 0x1234
      movd xmm3, eax
      mov dword ptr [r15 + 0x800], 0x1f80
      ldmxcsr [r15 + 0x800]
      fxsave [r15 + 0x400]
      pxor xmm3, xmm3
      fxrstor [r15 + 0x400]
      movd [r15 + 0x900], xmm3
    `);
    const img = mem.readBytes(FLAT.DATA + 0x400, 512);
    const dv = new DataView(img.buffer);
    expect(dv.getUint16(0, true)).toBe(0x37f); // FCW
    expect((dv.getUint16(2, true) >> 11) & 7).toBe(7); // TOP after one push
    expect(img[4]).toBe(0x80); // abridged tag: physical register 7 valid
    expect(dv.getUint32(24, true)).toBe(0x1f80); // MXCSR
    expect(dv.getUint32(28, true)).toBe(0xffff); // MXCSR_MASK
    expect(readExtended(img, 32)).toBe(1); // ST0
    expect(dv.getUint32(160 + 3 * 16, true)).toBe(0x1234); // XMM3
    expect(mem.read32(FLAT.DATA + 0x900)).toBe(0x1234);
  });
});
