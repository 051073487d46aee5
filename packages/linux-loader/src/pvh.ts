import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { type E820Entry, validateE820 } from './e820.js';
import { LoaderError } from './errors.js';
import { guestRangeProblem } from './guest-range.js';
import { hex } from './hex.js';
import { BootLayout } from './layout.js';

/**
 * `hvm_start_info.magic`.
 * @example mem.read32(pvh.address) === XEN_HVM_START_MAGIC_VALUE; // after writePvhStartInfo
 */
export const XEN_HVM_START_MAGIC_VALUE = 0x336ec578;
/**
 * Sizes of the PVH structures (xen/include/public/arch-x86/hvm/start_info.h).
 * @example pvh.modlistAddress - pvh.address; // HVM_START_INFO_SIZE (56)
 */
export const HVM_START_INFO_SIZE = 56;
/**
 * Size of one `hvm_modlist_entry`.
 * @example pvh.memmapAddress - pvh.modlistAddress; // modules x HVM_MODLIST_ENTRY_SIZE
 */
export const HVM_MODLIST_ENTRY_SIZE = 32;
/**
 * Size of one `hvm_memmap_table_entry`.
 * @example pvh.end - pvh.memmapAddress; // memory map entries x HVM_MEMMAP_ENTRY_SIZE
 */
export const HVM_MEMMAP_ENTRY_SIZE = 24;

/**
 * A module (the initrd) for the PVH module list.
 * @example const initrdModule: PvhModule = { address: 0x4000000, size: 1 << 20 };
 */
export interface PvhModule {
  address: number;
  size: number;
  /** Guest address of the module's NUL-terminated command line, 0 for none. */
  cmdlineAddress?: number;
}

/**
 * What to put in the PVH start info.
 * @example writePvhStartInfo(mem, { memmap: e820ForMemory(mem), cmdlineAddress: 0x20000 } satisfies PvhStartInfoOptions);
 */
export interface PvhStartInfoOptions {
  /** Where `hvm_start_info` goes (EBX at the PVH entry). Default 0x6000. */
  address?: number;
  /** The memory map (version 1 field `memmap_paddr`). */
  memmap: readonly E820Entry[];
  /** Guest address of the NUL-terminated command line. */
  cmdlineAddress?: number;
  /** RSDP address (`rsdp_paddr`); 0 lets the kernel scan for it. */
  rsdpAddress?: number;
  /** Modules; the first one is the initrd for Linux. */
  modules?: readonly PvhModule[];
}

/**
 * Where {@link writePvhStartInfo} put things.
 * @example const l: PvhStartInfoLayout = writePvhStartInfo(mem, { memmap: e820ForMemory(mem) }); // EBX = l.address
 */
export interface PvhStartInfoLayout {
  /** `hvm_start_info`: put this in EBX. */
  address: number;
  modlistAddress: number;
  memmapAddress: number;
  /** One past the last byte written. */
  end: number;
}

/**
 * Writes a version-1 `hvm_start_info` (magic 0x336ec578) followed by the module list
 * (`hvm_modlist_entry`) and the memory map (`hvm_memmap_table_entry`), for entering an ELF vmlinux at
 * its PVH entry in 32-bit protected mode with EBX = the returned `address`. Validates the whole range
 * first; throws {@link LoaderError}.
 *
 * @example
 * ```ts
 * const pvh = writePvhStartInfo(mem, { memmap: e820ForMemory(mem), cmdlineAddress: 0x20000,
 *   rsdpAddress: acpi.rsdpAddress, modules: [{ address: initrdAt, size: initrd.length }] });
 * // EBX = pvh.address, EIP = k.pvhEntry
 * ```
 */
export function writePvhStartInfo(memory: GuestMemoryAccess, o: PvhStartInfoOptions): PvhStartInfoLayout {
  const at = o.address ?? BootLayout.PVH_START_INFO;
  const modules = o.modules ?? [];
  validateE820(o.memmap, 0xffff);
  const modlist = at + HVM_START_INFO_SIZE;
  const memmap = modlist + modules.length * HVM_MODLIST_ENTRY_SIZE;
  const end = memmap + o.memmap.length * HVM_MEMMAP_ENTRY_SIZE;
  if (!Number.isSafeInteger(at) || at < 0 || at % 8 !== 0) {
    throw new LoaderError('invalid-argument', `PVH start info address ${hex(at)} must be 8-byte aligned`);
  }
  if (end > 2 ** 32)
    throw new LoaderError(
      'invalid-argument',
      `PVH start info [${hex(at)}, ${hex(end)}) must lie below 4 GiB`,
    );
  const why = guestRangeProblem(memory, at, end - at);
  if (why) throw new LoaderError('no-space', `PVH start info: ${why}`);
  const buf = new Uint8Array(end - at);
  const v = new DataView(buf.buffer);
  v.setUint32(0, XEN_HVM_START_MAGIC_VALUE, true);
  v.setUint32(4, 1, true); // version
  v.setUint32(8, 0, true); // flags
  v.setUint32(12, modules.length, true);
  v.setBigUint64(16, modules.length ? BigInt(modlist) : 0n, true);
  v.setBigUint64(24, BigInt(addr('command line', o.cmdlineAddress ?? 0)), true);
  v.setBigUint64(32, BigInt(addr('RSDP', o.rsdpAddress ?? 0)), true);
  v.setBigUint64(40, BigInt(memmap), true);
  v.setUint32(48, o.memmap.length, true);
  modules.forEach((m, i) => {
    const off = modlist - at + i * HVM_MODLIST_ENTRY_SIZE;
    v.setBigUint64(off, BigInt(addr('module address', m.address)), true);
    v.setBigUint64(off + 8, BigInt(addr('module size', m.size)), true);
    v.setBigUint64(off + 16, BigInt(addr('module command line', m.cmdlineAddress ?? 0)), true);
  });
  o.memmap.forEach((e, i) => {
    const off = memmap - at + i * HVM_MEMMAP_ENTRY_SIZE;
    v.setBigUint64(off, BigInt(e.addr), true);
    v.setBigUint64(off + 8, BigInt(e.size), true);
    v.setUint32(off + 16, e.type, true);
  });
  memory.writeBytes(at, buf);
  return { address: at, modlistAddress: modlist, memmapAddress: memmap, end };
}

function addr(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new LoaderError('invalid-argument', `PVH ${what} ${n} is not a valid value`);
  return n;
}
