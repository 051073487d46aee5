import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { buildFlatImage, Cpu, DONE_BYTES, FLAT, flatSregs, zeroRegs } from '../src/index.js';

describe('README examples', () => {
  it('real-mode port output then HLT', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
    mem.writeBytes(0x7c00, new Uint8Array([0xb0, 0x41, 0xe6, 0xe9, 0xf4]));
    const cpu = new Cpu(mem);
    cpu.resetRealMode(0, 0x7c00);
    const exit = cpu.run(100);
    expect(exit).toMatchObject({ kind: 'io-out', port: 0xe9, size: 1 });
    if (exit.kind === 'io-out') expect(String.fromCharCode(exit.data[0])).toBe('A');
    expect(cpu.run(100).kind).toBe('hlt');
  });

  it('64-bit code at CPL3 in the flat image', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
    buildFlatImage(mem);
    mem.writeBytes(
      FLAT.CODE,
      new Uint8Array([0x48, 0xc7, 0xc0, 6, 0, 0, 0, 0x48, 0x6b, 0xc0, 7, ...DONE_BYTES]),
    );
    const cpu = new Cpu(mem);
    cpu.setSregs(flatSregs());
    cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.USER_STACK), rflags: 0x202n });
    expect(cpu.run(1000).kind).toBe('mmio-write');
    expect(cpu.getRegs().rax).toBe(42n);
  });
});
