import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { Cpu } from './cpu.js';

/** Runs 16-bit real-mode bytes followed by `pushf ; hlt`, returns AX and FLAGS. */
function real(bytes: number[]): { ax: number; flags: number } {
  const mem = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
  mem.writeBytes(0x1000, new Uint8Array([...bytes, 0x9c, 0xf4]));
  const cpu = new Cpu(mem);
  cpu.resetRealMode(0, 0x1000);
  cpu.setReg(4, 0x8000);
  expect(cpu.run(100).kind).toBe('hlt');
  return { ax: cpu.R16[0], flags: mem.read16(0x7ffe) };
}

// These are checked against the manual: this host's KVM does not execute them natively.
describe('BCD instructions (SDM examples)', () => {
  it('DAA after adding packed BCD 79 + 35 gives 14 with CF (SDM example)', () => {
    const r = real([0xb0, 0x79, 0x04, 0x35, 0x27]); // mov al,0x79 ; add al,0x35 ; daa
    expect(r.ax & 0xff).toBe(0x14);
    expect(r.flags & 1).toBe(1);
  });

  it('DAS after subtracting packed BCD 35 - 47 gives 88 with CF (SDM example)', () => {
    const r = real([0xb0, 0x35, 0x2c, 0x47, 0x2f]); // mov al,0x35 ; sub al,0x47 ; das
    expect(r.ax & 0xff).toBe(0x88);
    expect(r.flags & 1).toBe(1);
  });

  it('AAA adjusts an unpacked BCD sum and carries into AH', () => {
    const r = real([0xb8, 0x08, 0x00, 0x04, 0x09, 0x37]); // mov ax,8 ; add al,9 ; aaa
    expect(r.ax).toBe(0x0107);
    expect(r.flags & 0x11).toBe(0x11); // CF and AF
  });

  it('AAM and AAD set SF/ZF/PF from AL only', () => {
    const m = real([0xb0, 0x64, 0xd4, 0x0a]); // mov al,100 ; aam 10 -> AH=10, AL=0
    expect(m.ax).toBe(0x0a00);
    expect(m.flags & 0x40).toBe(0x40); // ZF from AL = 0, although AX != 0
    const d = real([0xb8, 0x07, 0x09, 0xd5, 0x0a]); // mov ax,0x0907 ; aad 10 -> AL = 97
    expect(d.ax).toBe(97);
    expect(d.flags & 0xc0).toBe(0); // SF = ZF = 0
  });

  it('AAM 0 raises #DE', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
    mem.writeBytes(0x1000, new Uint8Array([0xd4, 0x00, 0xf4]));
    mem.write16(0, 0x2000); // IVT[0] -> 0000:2000 (hlt)
    mem.write8(0x2000, 0xf4);
    const cpu = new Cpu(mem);
    cpu.resetRealMode(0, 0x1000);
    cpu.setReg(4, 0x8000);
    expect(cpu.run(10).kind).toBe('hlt');
    expect(cpu.rip).toBe(0x2001);
    expect(mem.read16(0x7ffa)).toBe(0x1000); // the faulting IP was pushed
  });
});
