/**
 * Identity page tables for the 64-bit boot protocol: the first 4 GiB mapped with 2 MiB pages
 * (PML4 -> one PDPT -> four page directories), enough for the kernel's early code and the MMIO hole.
 *
 * @module
 */
import type { GuestMemory } from '@ts-vmm/vm-memory';
import { PD_ADDR, PDPT_ADDR, PML4_ADDR } from './address-map.js';

const PRESENT = 1n;
const WRITABLE = 2n;
const USER = 4n;
const PAGE_SIZE_BIT = 0x80n;

/**
 * Writes the tables and returns the CR3 value. With `user`, pages are user-accessible (for probes
 * that run code at CPL3).
 *
 * @example
 * ```ts
 * const cr3 = writeIdentityPageTables(memory);
 * sregs.cr3 = BigInt(cr3);
 * ```
 */
export function writeIdentityPageTables(memory: GuestMemory, options: { user?: boolean } = {}): number {
  const u = options.user ? USER : 0n;
  memory.fill(PML4_ADDR, 0x1000 * 6, 0);
  memory.write64(PML4_ADDR, BigInt(PDPT_ADDR) | PRESENT | WRITABLE | u);
  for (let g = 0; g < 4; g++) {
    const pd = PD_ADDR + g * 0x1000;
    memory.write64(PDPT_ADDR + g * 8, BigInt(pd) | PRESENT | WRITABLE | u);
    for (let i = 0; i < 512; i++) {
      const phys = BigInt(g) * 0x4000_0000n + BigInt(i) * 0x20_0000n;
      memory.write64(pd + i * 8, phys | PRESENT | WRITABLE | PAGE_SIZE_BIT | u);
    }
  }
  return PML4_ADDR;
}

/**
 * Walks the tables written by {@link writeIdentityPageTables} (4-level, 2 MiB leaves) to translate a
 * linear address; returns undefined when unmapped. For tests and debugging.
 * @example translate(memory, PML4_ADDR, 0x1234_5678) // 0x1234_5678
 */
export function translate(memory: GuestMemory, cr3: number, linear: number): number | undefined {
  const l = BigInt(linear);
  const pml4e = memory.read64(cr3 + Number((l >> 39n) & 511n) * 8);
  if (!(pml4e & PRESENT)) return undefined;
  const pdpte = memory.read64(Number(pml4e & 0xf_ffff_ffff_f000n) + Number((l >> 30n) & 511n) * 8);
  if (!(pdpte & PRESENT)) return undefined;
  if (pdpte & PAGE_SIZE_BIT) return Number((pdpte & 0xf_ffff_c000_0000n) | (l & 0x3fff_ffffn));
  const pde = memory.read64(Number(pdpte & 0xf_ffff_ffff_f000n) + Number((l >> 21n) & 511n) * 8);
  if (!(pde & PRESENT)) return undefined;
  if (pde & PAGE_SIZE_BIT) return Number((pde & 0xf_ffff_ffe0_0000n) | (l & 0x1f_ffffn));
  return undefined;
}
