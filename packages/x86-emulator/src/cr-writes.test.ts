/**
 * CR0/CR4 writes flush the TLB (and with it the decode caches' links and the WebAssembly
 * dispatcher's cache) only when they change a bit that changes translations: PG/WP, and
 * PGE/PAE/PSE/SMEP/SMAP/PCIDE/PKE/LA57. The test counts the TLB misses of a program that reads a
 * page, writes the control register, and reads the page again, against the same program with NOPs
 * in place of the writes: a flush costs the second read (and the code fetch after it) a miss.
 */
import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { MODE } from './constants.js';
import { Cpu } from './cpu.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from './flat-long-mode.js';

/** mov rbx, [0x800000] */
const READ64 = [0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x80, 0x00];
const CR4_TO_RAX = [0x0f, 0x20, 0xe0];
const RAX_TO_CR4 = [0x0f, 0x22, 0xe0];
const CR0_TO_RAX = [0x0f, 0x20, 0xc0];
const RAX_TO_CR0 = [0x0f, 0x22, 0xc0];
const xorEax = (v: number) => [0x35, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/** TLB misses of READ; `writes`; READ at CPL0 in the flat long-mode image, interpreted. */
function longModeMisses(writes: number[]): { misses: number; cpu: Cpu } {
  const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
  buildFlatImage(mem);
  mem.writeBytes(FLAT.CODE, new Uint8Array([...READ64, ...writes, ...READ64, ...DONE_BYTES]));
  const cpu = new Cpu(mem, { jitThreshold: -1 });
  const s = flatSregs();
  const kds = { ...s.ds, selector: FLAT.KERNEL_DS, dpl: 0 };
  cpu.setSregs({ ...s, cs: { ...s.cs, selector: FLAT.KERNEL_CS, dpl: 0 }, ss: kds, ds: kds, es: kds });
  cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.KERNEL_STACK), rflags: 2n });
  const exit = cpu.run(1000);
  expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
  return { misses: cpu.stats().tlbMisses, cpu };
}

/** Extra misses of the program with `writes` over the same program with NOPs instead. */
function extraMisses(writes: number[]): number {
  return longModeMisses(writes).misses - longModeMisses(writes.map(() => 0x90)).misses;
}

const toggle = (read: number[], bits: number[], write: number[]) => [
  ...read,
  ...bits,
  ...write,
  ...bits,
  ...write,
];

describe('CR0/CR4 writes', () => {
  it('that change no paging bit keep the TLB: CR4 rewritten, CR4.TSD/PCE toggled, CR0.CD/TS/MP toggled', () => {
    expect(extraMisses([...CR4_TO_RAX, ...RAX_TO_CR4])).toBe(0);
    expect(extraMisses(toggle(CR4_TO_RAX, xorEax(1 << 2), RAX_TO_CR4))).toBe(0); // TSD
    expect(extraMisses(toggle(CR4_TO_RAX, xorEax(1 << 8), RAX_TO_CR4))).toBe(0); // PCE
    expect(extraMisses([...CR0_TO_RAX, ...RAX_TO_CR0])).toBe(0);
    expect(extraMisses(toggle(CR0_TO_RAX, xorEax(1 << 30), RAX_TO_CR0))).toBe(0); // CD
    expect(extraMisses(toggle(CR0_TO_RAX, xorEax(1 << 3), RAX_TO_CR0))).toBe(0); // TS
    expect(extraMisses(toggle(CR0_TO_RAX, xorEax(1 << 1), RAX_TO_CR0))).toBe(0); // MP
    const { cpu } = longModeMisses(toggle(CR0_TO_RAX, xorEax(1 << 30), RAX_TO_CR0));
    expect(cpu.cr0 >>> 0).toBe(0x80050033); // the writes took effect
    expect(cpu.mode).toBe(MODE.LONG64);
  });

  it('that change a paging bit flush it: CR4.PGE (a global flush), CR0.WP', () => {
    expect(extraMisses(toggle(CR4_TO_RAX, xorEax(1 << 7), RAX_TO_CR4))).toBeGreaterThan(0);
    expect(extraMisses(toggle(CR0_TO_RAX, xorEax(1 << 16), RAX_TO_CR0))).toBeGreaterThan(0);
  });

  it('toggling CR0.PE with paging off switches the mode and keeps the TLB', () => {
    // real mode at 0x1000: mov bx, [0x2000] ; mov eax, cr0 ; or al, 1 ; mov cr0, eax ; smsw cx ;
    // mov dx, [0x2000] ; and al, 0xfe ; mov cr0, eax ; mov bx, [0x2000] ; hlt
    const run = (pe: boolean) => {
      const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
      const w = (b: number[]) => (pe ? b : b.map(() => 0x90));
      mem.writeBytes(
        0x1000,
        new Uint8Array([
          0x8b,
          0x1e,
          0x00,
          0x20,
          ...CR0_TO_RAX,
          0x0c,
          0x01,
          ...w(RAX_TO_CR0),
          0x0f,
          0x01,
          0xe1,
          0x8b,
          0x16,
          0x00,
          0x20,
          0x24,
          0xfe,
          ...w(RAX_TO_CR0),
          0x8b,
          0x1e,
          0x00,
          0x20,
          0xf4,
        ]),
      );
      mem.write16(0x2000, 0x1234);
      const cpu = new Cpu(mem, { jitThreshold: -1 });
      cpu.resetRealMode(0, 0x1000);
      const exit = cpu.run(1000);
      expect(exit.kind).toBe('hlt');
      const r = cpu.getRegs();
      expect(Number(r.rcx & 1n)).toBe(pe ? 1 : 0); // SMSW saw PE set in between
      expect(Number(r.rdx & 0xffffn)).toBe(0x1234); // read there
      return { misses: cpu.stats().tlbMisses, mode: cpu.mode };
    };
    const toggled = run(true);
    expect(toggled.mode).toBe(MODE.REAL);
    expect(toggled.misses).toBe(run(false).misses);
  });
});
