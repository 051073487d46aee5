/**
 * EFER writes flush the TLB only when they change NXE, the one EFER bit that changes what a
 * translation allows (LME can change only with paging off and LMA only with CR0.PG, whose writes
 * flush; SCE changes no translation). As `cr-writes.test.ts` does for CR0/CR4, the test counts the
 * TLB misses of a program that reads a page, writes EFER, and reads the page again, against the
 * same program with NOPs in place of the writes: a flush costs the second read a miss.
 */
import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { EFER } from './constants.js';
import { Cpu } from './cpu.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from './flat-long-mode.js';

/** mov rbx, [0x800000] */
const READ64 = [0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x80, 0x00];
/** mov ecx, 0xc0000080 ; rdmsr */
const READ_EFER = [0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32];
const WRMSR = [0x0f, 0x30];
const xorEax = (v: number) => [0x35, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/** TLB misses of READ; `writes`; READ at CPL0 in the flat long-mode image, interpreted. */
function longModeMisses(writes: number[], efer?: number): { misses: number; cpu: Cpu } {
  const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
  buildFlatImage(mem);
  mem.writeBytes(FLAT.CODE, new Uint8Array([...READ64, ...writes, ...READ64, ...DONE_BYTES]));
  const cpu = new Cpu(mem, { jitThreshold: -1 });
  const s = flatSregs();
  const kds = { ...s.ds, selector: FLAT.KERNEL_DS, dpl: 0 };
  cpu.setSregs({
    ...s,
    cs: { ...s.cs, selector: FLAT.KERNEL_CS, dpl: 0 },
    ss: kds,
    ds: kds,
    es: kds,
    efer: BigInt(efer ?? Number(s.efer)),
  });
  cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.KERNEL_STACK), rflags: 2n });
  const exit = cpu.run(1000);
  expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
  return { misses: cpu.stats().tlbMisses, cpu };
}

/** Extra misses of the program with `writes` over the same program with NOPs instead. */
function extraMisses(writes: number[], efer?: number): number {
  return (
    longModeMisses(writes, efer).misses -
    longModeMisses(
      writes.map(() => 0x90),
      efer,
    ).misses
  );
}

describe('EFER writes', () => {
  /** The flat image's EFER (SCE, LME, LMA, NXE), and the same without NXE. */
  const base = Number(flatSregs().efer);
  const noNx = base & ~EFER.NXE;

  it('that keep NXE keep the TLB: EFER rewritten unchanged, SCE set and cleared', () => {
    expect(extraMisses([...READ_EFER, ...WRMSR])).toBe(0);
    expect(extraMisses([...READ_EFER, ...WRMSR], noNx)).toBe(0);
    const sce = [...READ_EFER, ...xorEax(EFER.SCE), ...WRMSR];
    expect(extraMisses([...sce, ...xorEax(EFER.SCE), ...WRMSR])).toBe(0);
    // the write took effect (SCE cleared), long mode stays active
    expect(longModeMisses(sce).cpu.efer).toBe(base & ~EFER.SCE);
  });

  it('that change NXE flush it (the NX bit of every translation changes meaning)', () => {
    expect(extraMisses([...READ_EFER, ...xorEax(EFER.NXE), ...WRMSR])).toBeGreaterThan(0);
    expect(extraMisses([...READ_EFER, ...xorEax(EFER.NXE), ...WRMSR], noNx)).toBeGreaterThan(0);
  });
});
