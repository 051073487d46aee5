import { BootLayout } from '../layout.js';

/**
 * Where the boot vCPU's entry state lives in guest physical memory. Pass the same object to
 * {@link writeGdt}, {@link writeIdentityPageTables}, {@link bootSregs} and {@link bootRegs}; each
 * address left out takes its {@link BootLayout} default.
 *
 * @example
 * ```ts
 * const at: EntryLayout = { gdt: 0x1000, pageTables: 0x10000, stack: 0x8000 };
 * writeGdt(mem, at);
 * writeIdentityPageTables(mem, at);
 * vcpu.setSregs(bootSregs(vcpu.getSregs(), entry, at));
 * vcpu.setRegs(bootRegs(entry, at));
 * ```
 */
export interface EntryLayout {
  /** The boot GDT ({@link BOOT_GDT}, 56 bytes). Default {@link BootLayout.GDT} (0x500). */
  gdt?: number;
  /** The (empty, limit 7) IDT that GDTR's partner IDTR points at. Default {@link BootLayout.IDT} (0x600). */
  idt?: number;
  /**
   * The identity page tables: the PML4 (CR3) and the 5 pages after it, 24 KiB in all, 4 KiB aligned.
   * Default {@link BootLayout.PML4} (0x9000).
   */
  pageTables?: number;
  /** RSP (and RBP) at the 64-bit Linux entry. Default {@link BootLayout.BOOT_STACK} (0x8ff0). */
  stack?: number;
}

/** The layout with every default filled in. @example resolveLayout({}).gdt // 0x500 */
export function resolveLayout(l: EntryLayout = {}): Required<EntryLayout> {
  return {
    gdt: l.gdt ?? BootLayout.GDT,
    idt: l.idt ?? BootLayout.IDT,
    pageTables: l.pageTables ?? BootLayout.PML4,
    stack: l.stack ?? BootLayout.BOOT_STACK,
  };
}
