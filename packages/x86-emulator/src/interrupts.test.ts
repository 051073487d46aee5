import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { Cpu } from './cpu.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from './flat-long-mode.js';

function realMode(code: number[], at = 0x7c00) {
  const mem = GuestMemory.createShared([{ start: 0, size: 0x100000 }]);
  mem.writeBytes(at, new Uint8Array(code));
  const cpu = new Cpu(mem);
  cpu.resetRealMode(0, at);
  cpu.setReg(4, 0x7000);
  return { mem, cpu };
}

describe('interrupts, exits and faults', () => {
  it('injects an external interrupt only with IF set, after the STI shadow, and wakes HLT', () => {
    // IVT 0x20 -> 0x0000:0x0600 (mov byte [0x500], 1 ; iret)
    const { mem, cpu } = realMode([0xfb, 0xf4, 0xf4]); // sti ; hlt ; hlt
    mem.writeBytes(0x600, new Uint8Array([0xc6, 0x06, 0x00, 0x05, 0x01, 0xcf]));
    mem.write16(0x20 * 4, 0x600);
    mem.write16(0x20 * 4 + 2, 0);
    expect(cpu.run(100).kind).toBe('hlt');
    expect(cpu.interruptWindowOpen).toBe(true);
    cpu.injectInterrupt(0x20);
    expect(cpu.run(100).kind).toBe('hlt'); // handler ran, returned to the second hlt
    expect(mem.read8(0x500)).toBe(1);
    expect(cpu.rip).toBe(0x7c03);
  });

  it('keeps the STI shadow while the instruction after STI stops for port input', () => {
    // cli ; sti ; in al, 0x71 ; hlt   -- handler: mov [0x500], al ; iret
    const { mem, cpu } = realMode([0xfa, 0xfb, 0xe4, 0x71, 0xf4]);
    mem.writeBytes(0x600, new Uint8Array([0xa2, 0x00, 0x05, 0xcf]));
    mem.write16(0x20 * 4, 0x600);
    mem.write16(0x20 * 4 + 2, 0);
    cpu.injectInterrupt(0x20);
    const exit = cpu.run(100);
    expect(exit).toMatchObject({ kind: 'io-in', port: 0x71 });
    if (exit.kind !== 'io-in') throw new Error('unreachable');
    exit.data[0] = 0x5a;
    expect(cpu.run(100).kind).toBe('hlt');
    expect(mem.read8(0x500)).toBe(0x5a); // taken after the IN completed, not between STI and IN
  });

  it('keeps an interrupt pending while IF = 0', () => {
    const { mem, cpu } = realMode([0xfa, 0x90, 0x90, 0xf4]); // cli ; nop ; nop ; hlt
    mem.write16(0x20 * 4, 0x600);
    cpu.injectInterrupt(0x20);
    expect(cpu.run(100).kind).toBe('hlt');
    expect(cpu.pendingIrq).toBe(0x20);
    expect(cpu.interruptWindowOpen).toBe(false);
  });

  it('stops for port input and completes the instruction with the supplied value', () => {
    const { cpu } = realMode([0xe4, 0x71, 0xf4]); // in al, 0x71 ; hlt
    const exit = cpu.run(100);
    expect(exit).toMatchObject({ kind: 'io-in', port: 0x71, size: 1 });
    if (exit.kind !== 'io-in') throw new Error('unreachable');
    exit.data[0] = 0x5a;
    expect(cpu.run(100).kind).toBe('hlt');
    expect(cpu.R8[0]).toBe(0x5a);
  });

  it('reports an MMIO write with its data and does not repeat it on resume', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
    buildFlatImage(mem);
    // mov dword [0x30000800], 0x11223344 ; then the end marker
    mem.writeBytes(
      FLAT.CODE,
      new Uint8Array([0xc7, 0x04, 0x25, 0x00, 0x08, 0x00, 0x30, 0x44, 0x33, 0x22, 0x11, ...DONE_BYTES]),
    );
    const cpu = new Cpu(mem);
    cpu.setSregs(flatSregs());
    cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.USER_STACK), rflags: 0x202n });
    const e = cpu.run(100);
    expect(e).toMatchObject({ kind: 'mmio-write', address: 0x30000800, size: 4 });
    if (e.kind === 'mmio-write') expect([...e.data]).toEqual([0x44, 0x33, 0x22, 0x11]);
    expect(cpu.run(100)).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
  });

  it('reports unimplemented opcodes with their bytes when asked', () => {
    const { cpu } = realMode([0x0f, 0x38, 0x00, 0xc1]); // pshufb (SSSE3, not implemented)
    cpu.reportUd = true;
    const e = cpu.run(10);
    expect(e.kind).toBe('internal-error');
    if (e.kind === 'internal-error') {
      expect([...(e.bytes ?? [])].slice(0, 2)).toEqual([0x0f, 0x38]);
      expect(e.message).toContain('0f 38');
    }
  });

  it('escalates a fault during delivery to #DF and a fault during #DF to a triple fault (shutdown)', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
    buildFlatImage(mem);
    mem.writeBytes(FLAT.CODE, new Uint8Array([0x0f, 0x0b])); // ud2
    const cpu = new Cpu(mem);
    const s = flatSregs();
    cpu.setSregs({ ...s, idt: { base: BigInt(FLAT.IDT), limit: 7 * 16 - 1 } }); // #UD present, #GP/#DF beyond the limit
    cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.USER_STACK), rflags: 0x202n });
    // #UD gate exists: delivery works
    expect(cpu.run(10)).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + 6 });
    // now make the #UD gate not present: #NP during delivery -> #DF (beyond the limit: #GP) -> triple fault
    mem.write32(FLAT.IDT + 6 * 16 + 4, mem.read32(FLAT.IDT + 6 * 16 + 4) & ~0x8000);
    cpu.setSregs({ ...s, idt: { base: BigInt(FLAT.IDT), limit: 7 * 16 - 1 } });
    cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.USER_STACK), rflags: 0x202n });
    expect(cpu.run(10).kind).toBe('shutdown');
  });

  it('runs real-mode BCD and 16-bit string instructions', () => {
    // mov al, 0x19 ; add al, 0x28 ; daa ; mov [0x500], al ; push ds ; pop es ; mov si, 0x500 ; mov di, 0x510 ;
    // mov cx, 1 ; rep movsb ; hlt
    const { mem, cpu } = realMode([
      0xb0, 0x19, 0x04, 0x28, 0x27, 0xa2, 0x00, 0x05, 0x1e, 0x07, 0xbe, 0x00, 0x05, 0xbf, 0x10, 0x05, 0xb9,
      0x01, 0x00, 0xf3, 0xa4, 0xf4,
    ]);
    expect(cpu.run(100).kind).toBe('hlt');
    expect(mem.read8(0x500)).toBe(0x47);
    expect(mem.read8(0x510)).toBe(0x47);
  });
});
