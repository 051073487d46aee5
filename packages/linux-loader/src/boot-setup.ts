import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { type AcpiDescription, type AcpiTables, writeAcpiTables } from './acpi/acpi.js';
import type { EntryMode } from './boot-state/cpu.js';
import { loadBzImage } from './bzimage.js';
import { Cmdline } from './cmdline.js';
import { type E820Entry, e820ForMemory } from './e820.js';
import { loadElf } from './elf.js';
import { LoaderError } from './errors.js';
import { guestRangeProblem, rangesOverlap } from './guest-range.js';
import { hex } from './hex.js';
import { placeInitrd } from './initrd.js';
import type { BzImageLoad, ElfLoad } from './kernel-load.js';
import { BootLayout } from './layout.js';
import { detectFormat } from './load.js';
import { writeMpTable } from './mptable.js';
import { extractVmlinux } from './payload.js';
import { writePvhStartInfo } from './pvh.js';
import { parseSetupHeader, setupHeaderBytes } from './setup-header.js';
import { writeZeroPage, ZERO_PAGE_SIZE } from './zero-page.js';

/**
 * How the boot vCPU must be started: the `linux64` or `pvh` {@link EntryMode}, ready for
 * {@link bootSregs} and {@link bootRegs}.
 *
 * @example
 * ```ts
 * const e: BootEntry = setupLinuxBoot(mem, opts).entry; // { kind: 'pvh', entry: 0x1000000 + ..., startInfo: 0x6000 }
 * ```
 */
export type BootEntry = Extract<EntryMode, { kind: 'linux64' | 'pvh' }>;

/**
 * Options for {@link setupLinuxBoot}.
 * @example const o: LinuxBootOptions = { kernel: image, cmdline: 'console=ttyS0', mode: 'pvh', extractPayload: true };
 */
export interface LinuxBootOptions {
  /** A bzImage or an ELF64 vmlinux. */
  kernel: Uint8Array;
  /** The command line (a {@link Cmdline} or a string, checked against the kernel's limit). */
  cmdline: Cmdline | string;
  initrd?: Uint8Array;
  /**
   * `'linux64'`: the 64-bit boot protocol (bzImage or vmlinux); `'pvh'`: the PVH entry of a vmlinux
   * (or of the vmlinux inside a bzImage with `extractPayload`). Default `'linux64'`.
   */
  mode?: 'linux64' | 'pvh';
  /** Boot a bzImage by decompressing its payload on the host and loading the vmlinux ELF. */
  extractPayload?: boolean;
  /** ACPI description; tables go to 0xE0000 and their RSDP into the zero page / start info. */
  acpi?: AcpiDescription;
  /** Write an MP table for this many vCPUs (for guests without ACPI). */
  mptableVcpus?: number;
  /** The memory map; default {@link e820ForMemory}. */
  e820?: readonly E820Entry[];
}

/**
 * What {@link setupLinuxBoot} wrote and how to start the guest.
 * @example const b: LinuxBoot = setupLinuxBoot(mem, o); // b.entry, b.initrd?.address, b.acpi?.rsdpAddress
 */
export interface LinuxBoot {
  entry: BootEntry;
  kernel: BzImageLoad | ElfLoad;
  cmdlineAddress: number;
  initrd?: { address: number; size: number };
  acpi?: AcpiTables;
  e820: readonly E820Entry[];
}

/**
 * Writes everything a Linux guest reads at boot: the kernel (bzImage, or ELF vmlinux — optionally
 * extracted from a bzImage's payload), the command line at 0x20000, the initrd (highest fitting
 * address), ACPI tables and/or an MP table, and the zero page (64-bit protocol) or PVH start info.
 * Returns how to enter the kernel (`entry`). It writes no GDT or page tables and sets no registers:
 * do that with {@link writeGdt}, {@link writeIdentityPageTables}, {@link bootSregs} and
 * {@link bootRegs} (see the README's "Entering the kernel"). Each step checks its ranges before
 * writing, but an error in a later step (say, an initrd that does not fit) leaves the earlier
 * steps' data in memory.
 *
 * @example
 * ```ts
 * const boot = setupLinuxBoot(mem, {
 *   kernel: new Uint8Array(fs.readFileSync(kernelPath)), cmdline: 'console=ttyS0 reboot=k panic=1',
 *   initrd: new Uint8Array(fs.readFileSync('initrd.cpio')),
 *   acpi: { vcpus: 1, serial: [{ port: 0x3f8, irq: 4 }], sleepControl: { space: 'io', address: 0x3c0 },
 *           sleepStatus: { space: 'io', address: 0x3c1 } },
 * });
 * writeGdt(mem);
 * writeIdentityPageTables(mem);
 * vcpu.setSregs(bootSregs(vcpu.getSregs(), boot.entry));
 * vcpu.setRegs(bootRegs(boot.entry)); // linux64: RIP = kernel entry, RSI = zero page
 * ```
 */
export function setupLinuxBoot(memory: GuestMemoryAccess, o: LinuxBootOptions): LinuxBoot {
  const mode = o.mode ?? 'linux64';
  const format = detectFormat(o.kernel);
  if (format === 'multiboot')
    throw new LoaderError(
      'unsupported',
      'setupLinuxBoot takes a bzImage or an ELF64 vmlinux; use loadMultiboot()',
    );
  const e820 = o.e820 ?? e820ForMemory(memory);
  let header: Uint8Array | undefined;
  let cmdlineSize = 2047;
  let initrdAddrMax = 0x7fffffff;
  let kernel: BzImageLoad | ElfLoad;
  if (format === 'bzimage') {
    const hdr = parseSetupHeader(o.kernel);
    header = setupHeaderBytes(o.kernel, hdr);
    cmdlineSize = hdr.cmdlineSize;
    initrdAddrMax = hdr.initrdAddrMax;
  }
  if (format === 'bzimage' && !o.extractPayload) {
    if (mode === 'pvh')
      throw new LoaderError(
        'unsupported',
        'PVH boot needs an ELF vmlinux: pass extractPayload: true for a bzImage',
      );
    kernel = loadBzImage(o.kernel, memory);
  } else {
    const elf = format === 'bzimage' ? extractVmlinux(o.kernel) : o.kernel;
    kernel = loadElf(elf, memory);
    if (mode === 'pvh' && !kernel.pvhBootCapable) {
      throw new LoaderError(
        'unsupported',
        'the vmlinux has no XEN_ELFNOTE_PHYS32_ENTRY note: PVH boot is not possible',
      );
    }
  }
  const kernelRange = { start: kernel.kernelLoad, end: kernel.kernelEnd };

  const line = typeof o.cmdline === 'string' ? Cmdline.parse(o.cmdline, cmdlineSize + 1) : o.cmdline;
  if (line.byteLength > cmdlineSize + 1) {
    throw new LoaderError(
      'bad-cmdline',
      `command line of ${line.byteLength} bytes exceeds the kernel's cmdline_size ${cmdlineSize} + NUL`,
    );
  }
  const cmdlineAddress = BootLayout.CMDLINE;
  const bytes = line.toBytes();
  const why = guestRangeProblem(memory, cmdlineAddress, bytes.length);
  if (why) throw new LoaderError('no-space', `command line at ${hex(cmdlineAddress)}: ${why}`);
  if (rangesOverlap(kernelRange, { start: cmdlineAddress, end: cmdlineAddress + bytes.length })) {
    throw new LoaderError('no-space', `command line at ${hex(cmdlineAddress)} overlaps the kernel`);
  }
  memory.writeBytes(cmdlineAddress, bytes);

  let initrd: LinuxBoot['initrd'];
  if (o.initrd && o.initrd.length > 0) {
    const address = placeInitrd(memory, {
      size: o.initrd.length,
      addrMax: initrdAddrMax,
      avoid: [kernelRange],
    });
    memory.writeBytes(address, o.initrd);
    initrd = { address, size: o.initrd.length };
  }
  const acpi = o.acpi ? writeAcpiTables(memory, o.acpi) : undefined;
  if (o.mptableVcpus !== undefined) writeMpTable(memory, { vcpus: o.mptableVcpus });

  let entry: BootEntry;
  if (mode === 'pvh') {
    const pvh = writePvhStartInfo(memory, {
      memmap: e820,
      cmdlineAddress,
      rsdpAddress: acpi?.rsdpAddress,
      modules: initrd ? [{ address: initrd.address, size: initrd.size }] : [],
    });
    entry = { kind: 'pvh', entry: (kernel as ElfLoad).pvhEntry!, startInfo: pvh.address };
  } else {
    const zpAt = BootLayout.ZERO_PAGE;
    if (rangesOverlap(kernelRange, { start: zpAt, end: zpAt + ZERO_PAGE_SIZE })) {
      throw new LoaderError('no-space', `zero page at ${hex(zpAt)} overlaps the kernel`);
    }
    const zp = writeZeroPage(memory, {
      address: zpAt,
      setupHeader: header,
      e820,
      cmdline: { address: cmdlineAddress, size: bytes.length - 1 },
      initrd,
      rsdpAddress: acpi?.rsdpAddress,
    });
    entry = { kind: 'linux64', entry: kernel.entry, zeroPage: zp };
  }
  return { entry, kernel, cmdlineAddress, initrd, acpi, e820 };
}
