/**
 * Identity page tables for the Linux 64-bit entry: the first 4 GiB mapped with 2 MiB pages
 * (PML4 -> one PDPT -> four page directories), enough for the kernel's early code and the MMIO hole.
 *
 * @module
 */
import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { LoaderError } from '../errors.js';
import { guestRangeProblem } from '../guest-range.js';
import { hex } from '../hex.js';
import { type EntryLayout, resolveLayout } from './entry-layout.js';

const PRESENT = 1n;
const WRITABLE = 2n;
const USER = 4n;
const PAGE_SIZE_BIT = 0x80n;

/** Bytes {@link writeIdentityPageTables} writes: PML4, PDPT and four page directories. @example IDENTITY_PAGE_TABLES_SIZE // 0x6000 */
export const IDENTITY_PAGE_TABLES_SIZE = 6 * 0x1000;

/**
 * Writes page tables that identity-map the first 4 GiB with 2 MiB pages at `layout.pageTables`
 * (default 0x9000; the PML4 there, the PDPT in the next page, the four page directories after it,
 * 24 KiB in all) and returns the CR3 value, which {@link bootSregs} also sets for the same layout.
 * With `user`, the pages are user-accessible (for code entered at CPL3). Throws {@link LoaderError}
 * (`'invalid-argument'` for an address that is not 4 KiB aligned, `'no-space'` for one not backed
 * by guest memory) before writing anything.
 *
 * @example
 * ```ts
 * const cr3 = writeIdentityPageTables(mem); // 0x9000
 * translate(mem, cr3, 0xfee0_0000); // 0xfee0_0000
 * ```
 */
export function writeIdentityPageTables(
  memory: GuestMemoryAccess,
  options: EntryLayout & { user?: boolean } = {},
): number {
  const pml4 = resolveLayout(options).pageTables;
  if (!Number.isSafeInteger(pml4) || pml4 < 0 || pml4 % 0x1000 !== 0) {
    throw new LoaderError('invalid-argument', `page tables at ${hex(pml4)} must be 4 KiB aligned`);
  }
  const why = guestRangeProblem(memory, pml4, IDENTITY_PAGE_TABLES_SIZE);
  if (why) throw new LoaderError('no-space', `identity page tables at ${hex(pml4)}: ${why}`);
  const u = options.user ? USER : 0n;
  const pdpt = pml4 + 0x1000;
  memory.fill(pml4, IDENTITY_PAGE_TABLES_SIZE, 0);
  memory.write64(pml4, BigInt(pdpt) | PRESENT | WRITABLE | u);
  for (let g = 0; g < 4; g++) {
    const pd = pdpt + 0x1000 * (g + 1);
    memory.write64(pdpt + g * 8, BigInt(pd) | PRESENT | WRITABLE | u);
    for (let i = 0; i < 512; i++) {
      const phys = BigInt(g) * 0x4000_0000n + BigInt(i) * 0x20_0000n;
      memory.write64(pd + i * 8, phys | PRESENT | WRITABLE | PAGE_SIZE_BIT | u);
    }
  }
  return pml4;
}

/**
 * Walks 4-level page tables (4 KiB tables, 1 GiB or 2 MiB leaves, as {@link writeIdentityPageTables}
 * writes them) to translate a linear address; returns `undefined` when it is unmapped (or mapped by
 * a 4 KiB page). For tests and debugging.
 *
 * @example
 * ```ts
 * translate(mem, writeIdentityPageTables(mem), 0x1234_5678); // 0x1234_5678
 * ```
 */
export function translate(memory: GuestMemoryAccess, cr3: number, linear: number): number | undefined {
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
