import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cpu } from './cpu.js';
import { decodeOne } from './decoder.js';
import { GuestFault } from './fault.js';
import { buildFlatImage, FLAT, flatSregs } from './flat-long-mode.js';

function cpuAt(mode: 64 | 32 | 16) {
  const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
  buildFlatImage(mem);
  const cpu = new Cpu(mem);
  if (mode === 64) cpu.setSregs(flatSregs());
  else if (mode === 16) cpu.resetRealMode(0, 0x1000);
  else {
    const s = flatSregs();
    s.cs = { ...s.cs, l: 0, db: 1 };
    s.efer = 0n;
    s.cr0 = 0x11n;
    s.cr4 = 0x600n;
    cpu.setSregs(s);
  }
  return { mem, cpu };
}

describe('decoder', () => {
  it('decodes operand sizes, REX and RIP-relative displacements', () => {
    const { mem, cpu } = cpuAt(64);
    mem.writeBytes(FLAT.CODE, new Uint8Array([0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00]));
    const i = decodeOne(cpu, FLAT.CODE, FLAT.CODE);
    expect(i.len).toBe(7);
    expect(i.sz).toBe(8);
    expect(i.ripRel).toBe(true);
    expect(i.disp).toBe(0x10);
    expect(i.next).toBe(FLAT.CODE + 7);
  });

  it('uses 16-bit ModRM tables in real mode', () => {
    const { mem, cpu } = cpuAt(16);
    mem.writeBytes(0x1000, new Uint8Array([0x8b, 0x42, 0x04])); // mov ax, [bp+si+4]
    const i = decodeOne(cpu, 0x1000, 0x1000);
    expect(i.len).toBe(3);
    expect(i.sz).toBe(2);
    expect(i.asz).toBe(2);
    expect(i.seg).toBe(2); // SS for BP-based addressing
    expect(i.disp).toBe(4);
  });

  it('never throws anything but a guest fault and never reads past 15 bytes (random bytes, all modes)', () => {
    for (const mode of [64, 32, 16] as const) {
      const { mem, cpu } = cpuAt(mode);
      const base = mode === 16 ? 0x1000 : FLAT.CODE;
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
          mem.writeBytes(base, bytes);
          try {
            const i = decodeOne(cpu, base, base);
            expect(i.len).toBeGreaterThan(0);
            expect(i.len).toBeLessThanOrEqual(15);
          } catch (e) {
            expect(e).toBeInstanceOf(GuestFault);
          }
        }),
        { numRuns: 3000 },
      );
    }
  });
});
