/**
 * Linear-to-physical translation for `Vcpu.translate` (KVM_TRANSLATE): a page walk that reads the
 * guest's page tables without touching accessed/dirty bits or the CPU's TLB.
 *
 * @module
 */
import type { Translation } from '@ts-vmm/hypervisor';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import { CR0, CR4, EFER } from '../constants.js';

/** The control-register state a walk needs. */
export interface PagingState {
  cr0: number;
  cr3: number;
  cr4: number;
  efer: number;
}

const INVALID: Translation = { physicalAddress: 0n, valid: false, writeable: false, usermode: false };

function readEntry(mem: GuestMemory, addr: bigint, wide: boolean): bigint | undefined {
  const a = Number(addr);
  if (!mem.checkRange(a, wide ? 8 : 4)) return undefined;
  return wide ? mem.read64(a) : BigInt(mem.read32(a) >>> 0);
}

/**
 * Walks the page tables for `linear` (4-level, PAE or 32-bit paging; identity when paging is off).
 * `writeable`/`usermode` are the combined R/W and U/S permissions of the walk.
 *
 * @example
 * ```ts
 * const t = walkPageTables(memory, { cr0, cr3, cr4, efer }, 0xffffffff81000000n);
 * if (t.valid) console.log(t.physicalAddress.toString(16));
 * ```
 */
export function walkPageTables(mem: GuestMemory, s: PagingState, linear: bigint): Translation {
  linear = BigInt.asUintN(64, linear);
  if ((s.cr0 & CR0.PG) === 0) {
    return { physicalAddress: linear & 0xffffffffn, valid: true, writeable: true, usermode: true };
  }
  let rw = true;
  let us = true;
  const acc = (e: bigint) => {
    if ((e & 2n) === 0n) rw = false;
    if ((e & 4n) === 0n) us = false;
  };
  const done = (base: bigint, mask: bigint): Translation => ({
    physicalAddress: base | (linear & mask),
    valid: true,
    writeable: rw,
    usermode: us,
  });
  const ADDR = 0x000f_ffff_ffff_f000n;
  if ((s.efer & EFER.LMA) !== 0 || (s.cr4 & CR4.PAE) !== 0) {
    const long = (s.efer & EFER.LMA) !== 0;
    let table = BigInt(s.cr3) & (long ? ADDR : 0xffff_ffe0n);
    const levels = long ? 4 : 3;
    for (let level = levels; level >= 1; level--) {
      const shift = BigInt(12 + 9 * (level - 1));
      const index = level === 3 && !long ? (linear >> 30n) & 3n : (linear >> shift) & 0x1ffn;
      const e = readEntry(mem, table + index * 8n, true);
      if (e === undefined || (e & 1n) === 0n) return INVALID;
      if (long || level < 3) acc(e);
      if ((level === 2 || (level === 3 && long)) && (e & 0x80n) !== 0n) {
        const mask = (1n << shift) - 1n;
        return done(e & ADDR & ~mask, mask);
      }
      if (level === 1) return done(e & ADDR, 0xfffn);
      table = e & ADDR;
    }
    return INVALID;
  }
  const pde = readEntry(mem, (BigInt(s.cr3) & 0xffff_f000n) + ((linear >> 22n) & 0x3ffn) * 4n, false);
  if (pde === undefined || (pde & 1n) === 0n) return INVALID;
  acc(pde);
  if ((pde & 0x80n) !== 0n && (s.cr4 & CR4.PSE) !== 0) return done(pde & 0xffc0_0000n, 0x3f_ffffn);
  const pte = readEntry(mem, (pde & 0xffff_f000n) + ((linear >> 12n) & 0x3ffn) * 4n, false);
  if (pte === undefined || (pte & 1n) === 0n) return INVALID;
  acc(pte);
  return done(pte & 0xffff_f000n, 0xfffn);
}
