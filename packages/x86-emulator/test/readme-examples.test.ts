import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { Cpu, EmulatedHypervisor, X86EmulatorError } from '../src/index.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from '../src/testing.js';

describe('README examples', () => {
  it('usage: answers port input, sees the output, stops at HLT', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x100000 }]);
    mem.writeBytes(0x7c00, new Uint8Array([0xe4, 0x60, 0xfe, 0xc0, 0xe6, 0xe9, 0xf4]));
    const cpu = new Cpu(mem, { jitThreshold: 16 });
    cpu.resetRealMode(0, 0x7c00);
    const out: number[] = [];
    let last = '';
    for (;;) {
      const exit = cpu.run(1_000_000);
      last = exit.kind;
      if (exit.kind === 'io-in') exit.data[0] = 0x41;
      else if (exit.kind === 'io-out') out.push(exit.port, exit.data[0]);
      else if (exit.kind === 'instruction-limit') continue;
      else break;
    }
    expect(out).toEqual([0xe9, 0x42]);
    expect(last).toBe('hlt');
  });

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

  it('64-bit code at CPL3 in the flat image of the testing entry', () => {
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

  it('a misuse of the API is an X86EmulatorError with a kind', async () => {
    const memory = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
    const vm = await new EmulatedHypervisor().createVm({ memory });
    vm.createVcpu(0);
    let caught: unknown;
    try {
      vm.createVcpu(0);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(X86EmulatorError);
    expect((caught as X86EmulatorError).kind).toBe('invalid-state');
    expect((caught as X86EmulatorError).message).toBe('EmulatedVm.createVcpu: vCPU 0 already exists');
    vm.close();
  });
});
