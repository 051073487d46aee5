import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { type BzImageOptions, loadBzImage } from './bzimage.js';
import { e820ForMemory } from './e820.js';
import { type ElfOptions, loadElf } from './elf.js';
import { LoaderError } from './errors.js';
import type { KernelFormat, KernelLoad } from './kernel-load.js';
import { findMultibootHeader, loadMultiboot, type MultibootOptions } from './multiboot.js';
import { SETUP_HEADER_MAGIC } from './setup-header.js';

/**
 * Identifies a kernel image: a bzImage (setup header magic `HdrS` at 0x202), an ELF64 vmlinux, or a
 * multiboot v1 kernel (header in the first 8 KiB). Throws {@link LoaderError} `unknown-format` otherwise.
 *
 * @example detectFormat(fs.readFileSync('/boot/vmlinuz')) // 'bzimage'
 */
export function detectFormat(image: Uint8Array): KernelFormat {
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length >= 0x206 && v.getUint32(0x202, true) === SETUP_HEADER_MAGIC) return 'bzimage';
  const isElf = image.length >= 5 && v.getUint32(0, true) === 0x464c457f;
  if (isElf && image[4] === 2) return 'elf';
  let mb: ReturnType<typeof findMultibootHeader>;
  try {
    mb = findMultibootHeader(image);
  } catch {
    mb = { offset: 0, flags: 0 }; // a header with a bad checksum: let loadMultiboot report it
  }
  if (mb) return 'multiboot';
  if (isElf) {
    throw new LoaderError(
      'unsupported',
      'image is an ELF32 file without a multiboot header: only ELF64 vmlinux and multiboot ELF32 kernels load',
    );
  }
  const head = Array.from(image.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new LoaderError(
    'bad-image',
    `image (${image.length} bytes, starting ${head || 'empty'}) is neither a bzImage, an ELF64 vmlinux nor a multiboot kernel`,
  );
}

/**
 * Options for {@link load}: those of each format's loader.
 * @example load(image, mem, { loadAddress: 0x200000, multiboot: { cmdlineAddress: 0x20000 } } satisfies LoadOptions);
 */
export interface LoadOptions extends BzImageOptions, ElfOptions {
  /** Multiboot only; `e820` defaults to {@link e820ForMemory} of the memory. */
  multiboot?: Partial<MultibootOptions>;
}

/**
 * Loads any supported kernel image into guest memory, detecting its format. Writes nothing when it
 * throws ({@link LoaderError}).
 *
 * @example
 * ```ts
 * import { load } from '@ts-vmm/linux-loader';
 * const k = load(image, mem);
 * if (k.format === 'bzimage') writeZeroPage(mem, { setupHeader: k.setupHeaderBytes, e820: e820ForMemory(mem) });
 * ```
 */
export function load(image: Uint8Array, memory: GuestMemoryAccess, options: LoadOptions = {}): KernelLoad {
  const format = detectFormat(image);
  switch (format) {
    case 'bzimage':
      return loadBzImage(image, memory, { loadAddress: options.loadAddress });
    case 'elf':
      return loadElf(image, memory, { loadOffset: options.loadOffset, machines: options.machines });
    case 'multiboot':
      return loadMultiboot(image, memory, {
        ...options.multiboot,
        e820: options.multiboot?.e820 ?? e820ForMemory(memory),
      });
  }
}
