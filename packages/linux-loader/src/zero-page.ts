import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { E820_MAX_ENTRIES_ZEROPAGE, type E820Entry, validateE820 } from './e820.js';
import { LoaderError } from './errors.js';
import { guestRangeProblem } from './guest-range.js';
import { hex } from './hex.js';
import { BootLayout } from './layout.js';
import { LoadFlags, SETUP_HEADER_END, SETUP_HEADER_MAGIC, SETUP_HEADER_OFFSET } from './setup-header.js';

/**
 * Byte offsets in `struct boot_params` (arch/x86/include/uapi/asm/bootparam.h).
 * @example mem.read32(0x7000 + BootParamsOffset.CMD_LINE_PTR); // 0x20000 after setupLinuxBoot
 */
export const BootParamsOffset = {
  ACPI_RSDP_ADDR: 0x070,
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  E820_ENTRIES: 0x1e8,
  SENTINEL: 0x1ef,
  HDR: 0x1f1,
  SETUP_SECTS: 0x1f1,
  VID_MODE: 0x1fa,
  BOOT_FLAG: 0x1fe,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  CMD_LINE_PTR: 0x228,
  KERNEL_ALIGNMENT: 0x230,
  CMDLINE_SIZE: 0x238,
  E820_TABLE: 0x2d0,
} as const;

/**
 * Size of the zero page.
 * @example buildZeroPage({ e820: [] }).length; // ZERO_PAGE_SIZE (4096)
 */
export const ZERO_PAGE_SIZE = 0x1000;

/**
 * What to put in the zero page.
 * @example const zp: ZeroPageOptions = { e820: e820ForMemory(mem), cmdline: { address: 0x20000, size: 30 }, rsdpAddress: 0xe0000 };
 */
export interface ZeroPageOptions {
  /**
   * The kernel's setup header bytes (0x1f1 onwards, from {@link loadBzImage}). Without it (an ELF
   * vmlinux entered through the 64-bit protocol) a minimal header is written: boot flag, `HdrS`,
   * kernel_alignment 16 MiB, cmdline_size.
   */
  setupHeader?: Uint8Array;
  /** The memory map (at most 128 entries). */
  e820: readonly E820Entry[];
  /** Where the NUL-terminated command line is and its length without the NUL. */
  cmdline?: { address: number; size: number };
  /** Where the initrd is. */
  initrd?: { address: number; size: number };
  /** RSDP address for `acpi_rsdp_addr` (boot protocol 2.14+ kernels use it instead of scanning). */
  rsdpAddress?: number;
  /** Extra `loadflags` bits to set (LOADED_HIGH is always set). */
  loadflags?: number;
}

/**
 * Builds a 4 KiB zero page (`struct boot_params`): setup header at 0x1f1 with type_of_loader 0xff,
 * command line pointer (cmd_line_ptr + ext_cmd_line_ptr), initrd (ramdisk_image/size + ext_*),
 * E820 map (count at 0x1e8, table at 0x2d0), and acpi_rsdp_addr at 0x70. Throws {@link LoaderError}.
 *
 * @example
 * ```ts
 * const zp = buildZeroPage({ setupHeader: k.setupHeaderBytes, e820: e820ForMemory(mem),
 *   cmdline: { address: 0x20000, size: cmdline.byteLength - 1 } });
 * mem.writeBytes(0x7000, zp);
 * ```
 */
export function buildZeroPage(o: ZeroPageOptions): Uint8Array {
  const zp = new Uint8Array(ZERO_PAGE_SIZE);
  const v = new DataView(zp.buffer);
  if (o.setupHeader) {
    const max = SETUP_HEADER_END - SETUP_HEADER_OFFSET;
    if (o.setupHeader.length > max) {
      throw new LoaderError(
        'invalid-argument',
        `setup header of ${o.setupHeader.length} bytes is longer than ${max}`,
      );
    }
    zp.set(o.setupHeader, SETUP_HEADER_OFFSET);
  } else {
    v.setUint16(BootParamsOffset.BOOT_FLAG, 0xaa55, true);
    v.setUint32(BootParamsOffset.HEADER, SETUP_HEADER_MAGIC, true);
    v.setUint32(BootParamsOffset.KERNEL_ALIGNMENT, 0x0100_0000, true);
    v.setUint32(BootParamsOffset.CMDLINE_SIZE, o.cmdline?.size ?? 0, true);
  }
  zp[BootParamsOffset.TYPE_OF_LOADER] = 0xff;
  zp[BootParamsOffset.LOADFLAGS] |= LoadFlags.LOADED_HIGH | ((o.loadflags ?? 0) & 0xff);
  if (o.cmdline) {
    const { address, size } = o.cmdline;
    u64Field('command line address', address);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new LoaderError('invalid-argument', `command line size ${size} is invalid`);
    v.setUint32(BootParamsOffset.CMD_LINE_PTR, address % 2 ** 32, true);
    v.setUint32(BootParamsOffset.EXT_CMD_LINE_PTR, Math.floor(address / 2 ** 32), true);
  }
  if (o.initrd) {
    const { address, size } = o.initrd;
    u64Field('initrd address', address);
    u64Field('initrd size', size);
    v.setUint32(BootParamsOffset.RAMDISK_IMAGE, address % 2 ** 32, true);
    v.setUint32(BootParamsOffset.EXT_RAMDISK_IMAGE, Math.floor(address / 2 ** 32), true);
    v.setUint32(BootParamsOffset.RAMDISK_SIZE, size % 2 ** 32, true);
    v.setUint32(BootParamsOffset.EXT_RAMDISK_SIZE, Math.floor(size / 2 ** 32), true);
  }
  if (o.rsdpAddress !== undefined) {
    u64Field('RSDP address', o.rsdpAddress);
    v.setBigUint64(BootParamsOffset.ACPI_RSDP_ADDR, BigInt(o.rsdpAddress), true);
  }
  validateE820(o.e820, E820_MAX_ENTRIES_ZEROPAGE);
  zp[BootParamsOffset.E820_ENTRIES] = o.e820.length;
  o.e820.forEach((e, i) => {
    const at = BootParamsOffset.E820_TABLE + i * 20;
    v.setBigUint64(at, BigInt(e.addr), true);
    v.setBigUint64(at + 8, BigInt(e.size), true);
    v.setUint32(at + 16, e.type, true);
  });
  return zp;
}

function u64Field(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new LoaderError('invalid-argument', `${what} ${n} is not a valid address/size`);
  if (n >= 2 ** 64) throw new LoaderError('invalid-argument', `${what} ${hex(n)} does not fit 64 bits`);
}

/**
 * Builds the zero page ({@link buildZeroPage}) and writes it at `address` (default 0x7000).
 * Returns the address for RSI.
 *
 * @example
 * ```ts
 * const rsi = writeZeroPage(mem, { setupHeader: k.setupHeaderBytes, e820: e820ForMemory(mem),
 *   cmdline: { address: BootLayout.CMDLINE, size: line.length } });
 * ```
 */
export function writeZeroPage(memory: GuestMemoryAccess, o: ZeroPageOptions & { address?: number }): number {
  const at = o.address ?? BootLayout.ZERO_PAGE;
  const zp = buildZeroPage(o);
  const why = guestRangeProblem(memory, at, ZERO_PAGE_SIZE);
  if (why) throw new LoaderError('no-space', `zero page at ${hex(at)}: ${why}`);
  memory.writeBytes(at, zp);
  return at;
}
