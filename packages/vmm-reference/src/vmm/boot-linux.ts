/**
 * Puts a Linux guest in memory: kernel (a bzImage is unpacked to its vmlinux and entered through
 * PVH when the loader can; else the bzImage 64-bit boot protocol), command line, initrd, E820,
 * ACPI tables (MADT per vCPU, DSDT with COM1 and the virtio-mmio devices, hardware-reduced FADT
 * with the sleep control register), MP table, zero page or PVH start info, GDT and page tables.
 *
 * @module
 */
import {
  BootLayout,
  bzImagePayload,
  decompressPayload,
  detectCompression,
  detectFormat,
  type EntryLayout,
  type EntryMode,
  e820ForMemory,
  type KernelLoad,
  load,
  placeInitrd,
  type VirtioMmioDevice,
  writeAcpiTables,
  writeGdt,
  writeIdentityPageTables,
  writeMpTable,
  writePvhStartInfo,
  writeZeroPage,
} from '@ts-vmm/linux-loader';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import {
  ACPI_RESET_PORT,
  ACPI_RESET_VALUE,
  ACPI_SLEEP_CONTROL_PORT,
  ACPI_SLEEP_STATUS_PORT,
  BOOT_STACK_TOP,
  CMDLINE_ADDR,
  COM1_IRQ,
  COM1_PORT,
  GDT_ADDR,
  IOAPIC_ADDR,
  PML4_ADDR,
  ZERO_PAGE_ADDR,
} from './address-map.js';
import { VmmError } from './errors.js';

/**
 * Where this machine keeps the boot vCPU's GDT, page tables and stack (its address map), for
 * linux-loader's `writeGdt`, `writeIdentityPageTables`, `bootSregs` and `bootRegs`.
 */
export const ENTRY_LAYOUT: EntryLayout = { gdt: GDT_ADDR, pageTables: PML4_ADDR, stack: BOOT_STACK_TOP };

/** What to boot. */
export interface LinuxBootSpec {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  /** The complete command line. */
  cmdline: string;
  vcpus: number;
  virtioDevices: readonly VirtioMmioDevice[];
  /**
   * Describe the virtio-mmio devices in the DSDT (default true). False for `--discovery cmdline`,
   * where the command line alone names them (the MP table still lists their interrupts).
   */
  acpiVirtio?: boolean;
  /** Describe COM1 in the DSDT. */
  serial: boolean;
  /** Prefer PVH entry through the unpacked vmlinux (default true). */
  preferPvh?: boolean;
}

/** Where the guest starts and how it was loaded. */
export interface LinuxBoot {
  entry: EntryMode;
  /** One line: format, entry protocol, addresses. */
  summary: string;
  kernel: KernelLoad;
  rsdpAddress: number;
  initrd?: { address: number; size: number };
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Payload formats the kernel decompresses itself that linux-loader does not decode. */
const SELF_DECOMPRESSED = new Set(['bzip2', 'lzma', 'xz', 'lzo']);

/**
 * A bzImage's vmlinux, unpacked from its payload; or no vmlinux when the kernel must decompress
 * itself (a boot protocol without payload fields, a bzip2/lzma/xz/lzo payload), so the caller
 * boots the bzImage as it is. A payload that should unpack here and does not (a corrupt or
 * truncated LZ4/gzip/zstd stream, a magic no kernel compressor writes) is a boot error: the same
 * bytes would only fail again in the kernel's own decompressor, with nothing on the console.
 */
function unpackBzImage(image: Uint8Array): { vmlinux?: Uint8Array; how: string } {
  let payload: Uint8Array;
  try {
    payload = bzImagePayload(image);
  } catch (e) {
    return { how: `bzImage (${(e as Error).message}; the kernel decompresses itself), ` };
  }
  const compression = detectCompression(payload);
  if (SELF_DECOMPRESSED.has(compression))
    return {
      how: `bzImage payload is ${compression} (not unpacked here; the kernel decompresses itself), `,
    };
  try {
    return { vmlinux: decompressPayload(payload), how: 'bzImage unpacked to vmlinux, ' };
  } catch (e) {
    const what = compression === 'unknown' ? '' : ` (${compression})`;
    throw new VmmError('boot', `cannot unpack the bzImage payload${what}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/**
 * Writes everything the guest needs to start; returns the entry state of the boot vCPU.
 *
 * @example
 * ```ts
 * const boot = prepareLinuxBoot(memory, { kernel, initrd, cmdline: 'console=ttyS0', vcpus: 1, virtioDevices: [], serial: true });
 * // vCPU 0: applyVcpuPlan(vcpu, { ..., entry: boot.entry })
 * ```
 */
export function prepareLinuxBoot(memory: GuestMemory, spec: LinuxBootSpec): LinuxBoot {
  let image = spec.kernel;
  let how = '';
  let format: string;
  try {
    format = detectFormat(image);
  } catch (e) {
    throw new VmmError('boot', `cannot load the kernel: ${(e as Error).message}`, { cause: e });
  }
  if (spec.preferPvh !== false && format === 'bzimage') {
    const unpacked = unpackBzImage(image);
    if (unpacked.vmlinux) image = unpacked.vmlinux;
    how = unpacked.how;
  }
  let kernel: KernelLoad;
  try {
    kernel = load(image, memory);
  } catch (e) {
    throw new VmmError('boot', `cannot load the kernel: ${(e as Error).message}`, { cause: e });
  }
  if (kernel.format === 'multiboot')
    throw new VmmError('boot', 'multiboot kernels are not supported by the reference VMM');

  writeGdt(memory, ENTRY_LAYOUT);
  writeIdentityPageTables(memory, ENTRY_LAYOUT);

  const acpi = writeAcpiTables(memory, {
    vcpus: spec.vcpus,
    ioapic: { address: IOAPIC_ADDR },
    virtioDevices: spec.acpiVirtio === false ? [] : spec.virtioDevices,
    serial: spec.serial ? [{ port: COM1_PORT, irq: COM1_IRQ }] : [],
    sleepControl: { space: 'io', address: ACPI_SLEEP_CONTROL_PORT },
    sleepStatus: { space: 'io', address: ACPI_SLEEP_STATUS_PORT },
    reset: { register: { space: 'io', address: ACPI_RESET_PORT }, value: ACPI_RESET_VALUE },
    legacy: { i8042: true, rtc: true },
  });
  try {
    writeMpTable(memory, { vcpus: spec.vcpus, extraIrqs: spec.virtioDevices.map((d) => d.irq) });
  } catch {
    // The MP table is a fallback for acpi=off; ACPI describes the machine.
  }

  const cmd = new TextEncoder().encode(`${spec.cmdline}\0`);
  memory.writeBytes(CMDLINE_ADDR, cmd);
  const cmdline = { address: CMDLINE_ADDR, size: cmd.length - 1 };
  const e820 = e820ForMemory(memory);

  let initrd: { address: number; size: number } | undefined;
  if (spec.initrd) {
    const addrMax = kernel.format === 'bzimage' ? kernel.setupHeader.initrdAddrMax : undefined;
    let at: number;
    try {
      at = placeInitrd(memory, {
        size: spec.initrd.length,
        addrMax,
        avoid: [{ start: kernel.kernelLoad, end: kernel.kernelEnd }],
      });
    } catch (e) {
      throw new VmmError(
        'boot',
        `cannot place the initrd (${spec.initrd.length} bytes): ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    memory.writeBytes(at, spec.initrd);
    initrd = { address: at, size: spec.initrd.length };
  }

  let entry: EntryMode;
  if (kernel.format === 'elf' && kernel.pvhEntry !== undefined && spec.preferPvh !== false) {
    const info = writePvhStartInfo(memory, {
      address: BootLayout.PVH_START_INFO,
      memmap: e820,
      cmdlineAddress: CMDLINE_ADDR,
      rsdpAddress: acpi.rsdpAddress,
      modules: initrd ? [initrd] : [],
    });
    entry = { kind: 'pvh', entry: kernel.pvhEntry, startInfo: info.address };
    how += `PVH entry ${hex(kernel.pvhEntry)}`;
  } else {
    writeZeroPage(memory, {
      address: ZERO_PAGE_ADDR,
      setupHeader: kernel.format === 'bzimage' ? kernel.setupHeaderBytes : undefined,
      e820,
      cmdline,
      initrd,
      rsdpAddress: acpi.rsdpAddress,
    });
    entry = { kind: 'linux64', entry: kernel.entry, zeroPage: ZERO_PAGE_ADDR };
    how += `64-bit boot protocol entry ${hex(kernel.entry)}`;
  }
  const summary = `kernel: ${how}; loaded ${hex(kernel.kernelLoad)}-${hex(kernel.kernelEnd)}${
    initrd ? `; initrd ${hex(initrd.address)} (${initrd.size} bytes)` : ''
  }; ACPI RSDP ${hex(acpi.rsdpAddress)}`;
  return { entry, summary, kernel, rsdpAddress: acpi.rsdpAddress, initrd };
}
