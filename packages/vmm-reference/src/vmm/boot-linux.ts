/**
 * Puts a guest kernel in memory: kernel (a bzImage is unpacked to its vmlinux and entered through
 * PVH when the loader can; else the bzImage 64-bit boot protocol; a multiboot v1 kernel is entered
 * in 32-bit protected mode as QEMU's `-kernel` does), command line, initrd (a multiboot module),
 * E820, ACPI tables (MADT per vCPU, DSDT with COM1 and the virtio-mmio devices, hardware-reduced
 * FADT with the sleep control register), MP table, zero page, PVH start info or multiboot
 * information, GDT and page tables. The boot data goes at the address map's defaults unless the
 * kernel loads there (a kernel at 0x8000): then it moves to free RAM around the kernel's ranges;
 * only the ACPI tables have a fixed place (the BIOS area the guest scans), and a kernel there is
 * refused with both ranges named.
 *
 * @module
 */
import {
  BOOT_GDT,
  type BootDataItem,
  BootLayout,
  bzImagePayload,
  decompressPayload,
  detectCompression,
  detectFormat,
  type EntryLayout,
  type EntryMode,
  e820ForMemory,
  findMultibootHeader,
  HVM_MEMMAP_ENTRY_SIZE,
  HVM_MODLIST_ENTRY_SIZE,
  HVM_START_INFO_SIZE,
  IDENTITY_PAGE_TABLES_SIZE,
  type KernelLoad,
  load,
  loadMultiboot,
  type MultibootModule,
  mpTableSize,
  multibootInfoSize,
  multibootKernelRanges,
  placeBootData,
  placeInitrd,
  type VirtioMmioDevice,
  writeAcpiTables,
  writeGdt,
  writeIdentityPageTables,
  writeMpTable,
  writePvhStartInfo,
  writeZeroPage,
  ZERO_PAGE_SIZE,
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
  /**
   * Where the boot vCPU's GDT, IDT, page tables and stack went: {@link ENTRY_LAYOUT} unless the
   * kernel occupies part of it. Pass it with `entry` to `bootSregs`/`bootRegs`.
   */
  layout: EntryLayout;
  /** Every piece of boot data written, `[start, end)`, with its name. */
  bootData: { name: string; start: number; end: number }[];
  /** One line: format, entry protocol, addresses. */
  summary: string;
  kernel: KernelLoad;
  rsdpAddress: number;
  initrd?: { address: number; size: number };
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** The name the multiboot information gives (`boot_loader_name`). */
export const MULTIBOOT_LOADER_NAME = 'ts-vmm';

/** The string a multiboot kernel finds as the initrd module's command line. */
export const MULTIBOOT_INITRD_STRING = 'initrd';

type Range = { start: number; end: number };

function overlaps(a: Range, b: Range): boolean {
  return a.start < b.end && b.start < a.end;
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
 * Writes everything the guest needs to start; returns the entry state of the boot vCPU and the
 * layout to enter it with.
 *
 * @example
 * ```ts
 * const boot = prepareLinuxBoot(memory, { kernel, initrd, cmdline: 'console=ttyS0', vcpus: 1, virtioDevices: [], serial: true });
 * // vCPU 0: applyVcpuPlan(vcpu, { ..., entry: boot.entry, layout: boot.layout })
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
  const multiboot = format === 'multiboot';
  // The kernel's ranges first (a multiboot kernel is loaded last, with its information structure).
  let kernel: KernelLoad | undefined;
  let kernelRanges: Range[];
  try {
    if (multiboot) kernelRanges = multibootKernelRanges(image);
    else {
      kernel = load(image, memory);
      // An ELF kernel is its segments; a bzImage also needs up to init_size (it decompresses there).
      kernelRanges =
        kernel.format === 'bzimage'
          ? [...kernel.written, { start: kernel.kernelLoad, end: kernel.kernelEnd }]
          : kernel.written;
    }
  } catch (e) {
    throw new VmmError('boot', `cannot load the kernel: ${(e as Error).message}`, { cause: e });
  }
  const acpiArea = { start: BootLayout.ACPI_START, end: BootLayout.ACPI_END };
  const onAcpi = kernelRanges.find((r) => overlaps(r, acpiArea));
  if (onAcpi)
    throw new VmmError(
      'boot',
      `the kernel's range [${hex(onAcpi.start)}, ${hex(onAcpi.end)}) overlaps the ACPI tables at [${hex(acpiArea.start)}, ${hex(acpiArea.end)}), the BIOS area where the guest looks for the RSDP: they cannot move, so the kernel must load elsewhere`,
    );

  const e820 = e820ForMemory(memory);
  const cmd = new TextEncoder().encode(`${spec.cmdline}\0`);
  const mode: EntryMode['kind'] = multiboot
    ? 'multiboot'
    : kernel?.format === 'elf' && kernel.pvhEntry !== undefined && spec.preferPvh !== false
      ? 'pvh'
      : 'linux64';
  const modules = spec.initrd ? 1 : 0;
  const items: BootDataItem[] = [
    { name: 'boot GDT', size: BOOT_GDT.length * 8, align: 8, preferred: GDT_ADDR },
    { name: 'boot IDT', size: 8, align: 8, preferred: BootLayout.IDT },
    { name: 'kernel command line', size: cmd.length, align: 16, preferred: CMDLINE_ADDR },
  ];
  if (mode === 'linux64')
    items.push(
      { name: 'page tables', size: IDENTITY_PAGE_TABLES_SIZE, align: 0x1000, preferred: PML4_ADDR },
      { name: 'boot stack', size: 0x1000, align: 16, preferred: BOOT_STACK_TOP + 0x10 - 0x1000 },
      { name: 'zero page', size: ZERO_PAGE_SIZE, align: 0x1000, preferred: ZERO_PAGE_ADDR },
    );
  else if (mode === 'pvh')
    items.push({
      name: 'PVH start info',
      size: HVM_START_INFO_SIZE + modules * HVM_MODLIST_ENTRY_SIZE + e820.length * HVM_MEMMAP_ENTRY_SIZE,
      align: 8,
      preferred: BootLayout.PVH_START_INFO,
    });
  else
    items.push(
      {
        name: 'multiboot information',
        size: multibootInfoSize({
          e820,
          modules: new Array<MultibootModule>(modules).fill({ start: 0, end: 0 }),
          bootLoaderName: MULTIBOOT_LOADER_NAME,
        }),
        align: 8,
        preferred: BootLayout.MULTIBOOT_INFO,
      },
      { name: 'initrd module string', size: MULTIBOOT_INITRD_STRING.length + 1, align: 1 },
    );
  let at: number[];
  try {
    at = placeBootData(
      e820,
      items,
      kernelRanges.map((r) => ({ ...r, what: 'the kernel' })),
    );
  } catch (e) {
    throw new VmmError('boot', `cannot place the boot data: ${(e as Error).message}`, { cause: e });
  }
  const placed = items.map((item, i) => ({ name: item.name, start: at[i], end: at[i] + item.size }));
  const addr = (name: string) => placed.find((p) => p.name === name)!.start;
  const moved = items.filter((item, i) => item.preferred !== undefined && item.preferred !== at[i]);

  const layout: EntryLayout = {
    gdt: addr('boot GDT'),
    idt: addr('boot IDT'),
    pageTables: mode === 'linux64' ? addr('page tables') : PML4_ADDR,
    stack: mode === 'linux64' ? addr('boot stack') + 0x1000 - 0x10 : BOOT_STACK_TOP,
  };
  writeGdt(memory, layout);
  memory.fill(layout.idt!, 8, 0);
  if (mode === 'linux64') writeIdentityPageTables(memory, layout);

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
  const extraIrqs = spec.virtioDevices.map((d) => d.irq);
  const mpArea = {
    start: BootLayout.MPTABLE,
    end: BootLayout.MPTABLE + mpTableSize(spec.vcpus, extraIrqs.length),
  };
  // The MP table is a fallback for acpi=off (ACPI describes the machine): left out where the kernel is.
  const mpOnKernel = kernelRanges.find((r) => overlaps(r, mpArea));
  if (!mpOnKernel) {
    try {
      writeMpTable(memory, { vcpus: spec.vcpus, extraIrqs });
    } catch {
      // as above
    }
  }

  const cmdlineAt = addr('kernel command line');
  memory.writeBytes(cmdlineAt, cmd);
  const cmdline = { address: cmdlineAt, size: cmd.length - 1 };

  let initrd: { address: number; size: number } | undefined;
  if (spec.initrd) {
    const addrMax = kernel?.format === 'bzimage' ? kernel.setupHeader.initrdAddrMax : undefined;
    let initrdAt: number;
    try {
      initrdAt = placeInitrd(memory, {
        size: spec.initrd.length,
        addrMax,
        avoid: [...kernelRanges, ...placed],
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
    memory.writeBytes(initrdAt, spec.initrd);
    initrd = { address: initrdAt, size: spec.initrd.length };
  }

  let entry: EntryMode;
  if (mode === 'multiboot') {
    const moduleString = addr('initrd module string');
    memory.writeBytes(moduleString, new TextEncoder().encode(`${MULTIBOOT_INITRD_STRING}\0`));
    try {
      kernel = loadMultiboot(image, memory, {
        e820,
        cmdlineAddress: cmdlineAt,
        infoAddress: addr('multiboot information'),
        modules: initrd
          ? [{ start: initrd.address, end: initrd.address + initrd.size, cmdline: moduleString }]
          : [],
        bootLoaderName: MULTIBOOT_LOADER_NAME,
      });
    } catch (e) {
      throw new VmmError('boot', `cannot load the kernel: ${(e as Error).message}`, { cause: e });
    }
    entry = { kind: 'multiboot', entry: kernel.entry, info: kernel.ebx };
    const fields = findMultibootHeader(image)?.address ? 'address fields' : 'ELF32';
    how += `multiboot (${fields}) 32-bit entry ${hex(kernel.entry)}, info ${hex(kernel.ebx)}`;
  } else if (mode === 'pvh' && kernel?.format === 'elf' && kernel.pvhEntry !== undefined) {
    const info = writePvhStartInfo(memory, {
      address: addr('PVH start info'),
      memmap: e820,
      cmdlineAddress: cmdlineAt,
      rsdpAddress: acpi.rsdpAddress,
      modules: initrd ? [initrd] : [],
    });
    entry = { kind: 'pvh', entry: kernel.pvhEntry, startInfo: info.address };
    how += `PVH entry ${hex(kernel.pvhEntry)}`;
  } else {
    const k = kernel!;
    const zeroPage = addr('zero page');
    writeZeroPage(memory, {
      address: zeroPage,
      setupHeader: k.format === 'bzimage' ? k.setupHeaderBytes : undefined,
      e820,
      cmdline,
      initrd,
      rsdpAddress: acpi.rsdpAddress,
    });
    entry = { kind: 'linux64', entry: k.entry, zeroPage };
    how += `64-bit boot protocol entry ${hex(k.entry)}`;
  }
  const movedNote = moved.length
    ? `; boot data moved off the kernel: ${moved.map((m) => `${m.name} ${hex(addr(m.name))}`).join(', ')}`
    : '';
  const mpNote = mpOnKernel ? '; no MP table (the kernel is at its place)' : '';
  const loaded: KernelLoad = kernel!; // every entry branch loaded it
  const summary = `kernel: ${how}; loaded ${hex(loaded.kernelLoad)}-${hex(loaded.kernelEnd)}${
    initrd ? `; initrd ${hex(initrd.address)} (${initrd.size} bytes)` : ''
  }; ACPI RSDP ${hex(acpi.rsdpAddress)}${movedNote}${mpNote}`;
  return { entry, layout, bootData: placed, summary, kernel: loaded, rsdpAddress: acpi.rsdpAddress, initrd };
}
