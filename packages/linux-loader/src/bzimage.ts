import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { HIGH_MEMORY_START } from './e820.js';
import { LoaderError } from './errors.js';
import { guestRangeProblem } from './guest-range.js';
import { hex } from './hex.js';
import type { BzImageLoad } from './kernel-load.js';
import {
  LoadFlags,
  parseSetupHeader,
  protocol,
  type SetupHeader,
  setupHeaderBytes,
  XLoadFlags,
} from './setup-header.js';

/**
 * Offset of `startup_64` from the protected-mode kernel's load address (64-bit boot protocol).
 * @example k.entry - k.kernelLoad; // BZIMAGE_ENTRY64_OFFSET (0x200) for a loadBzImage() result
 */
export const BZIMAGE_ENTRY64_OFFSET = 0x200;

/**
 * Options for {@link loadBzImage}.
 * @example loadBzImage(image, mem, { loadAddress: 0x200000 } satisfies BzImageOptions);
 */
export interface BzImageOptions {
  /**
   * Where to put the protected-mode kernel. Default: `pref_address` for a relocatable kernel (or the
   * lowest `kernel_alignment`-aligned address at or above 1 MiB where `init_size` fits), 1 MiB otherwise.
   */
  loadAddress?: number;
}

/**
 * Loads a bzImage for the 64-bit boot protocol: validates the setup header (magic, protocol ≥ 2.06,
 * XLF_KERNEL_64, LOADED_HIGH, alignment, sizes), copies the protected-mode kernel into guest memory
 * and returns the entry and the setup header bytes for the zero page. Writes nothing on error.
 *
 * @example
 * ```ts
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 * import { loadBzImage } from '@ts-vmm/linux-loader';
 * const mem = GuestMemory.createShared([{ start: 0, size: 256 << 20 }]);
 * const k = loadBzImage(fs.readFileSync('/boot/vmlinuz'), mem);
 * // start the vCPU in long mode at k.entry with RSI = zero page
 * ```
 */
export function loadBzImage(
  image: Uint8Array,
  memory: GuestMemoryAccess,
  options: BzImageOptions = {},
): BzImageLoad {
  const hdr = parseSetupHeader(image);
  check64BitBootable(hdr);
  const need = Math.max(hdr.kernelSize, hdr.initSize);
  const load = options.loadAddress ?? defaultLoadAddress(hdr, memory, need);
  if (options.loadAddress !== undefined && hdr.relocatable && load % hdr.kernelAlignment !== 0) {
    throw new LoaderError(
      'invalid-argument',
      `bzImage: load address ${hex(load)} is not aligned to the kernel's kernel_alignment ${hex(hdr.kernelAlignment)}`,
    );
  }
  const why = guestRangeProblem(memory, load, need);
  if (why) {
    throw new LoaderError(
      'no-space',
      `bzImage: the kernel needs ${hex(need)} bytes (max of its ${hex(hdr.kernelSize)}-byte code and init_size ${hex(hdr.initSize)}) at ${hex(load)}, but ${why}`,
    );
  }
  memory.writeBytes(load, image.subarray(hdr.kernelOffset, hdr.kernelOffset + hdr.kernelSize));
  return {
    format: 'bzimage',
    kernelLoad: load,
    kernelEnd: load + need,
    entry: load + BZIMAGE_ENTRY64_OFFSET,
    entry32: load,
    written: [{ start: load, end: load + hdr.kernelSize }],
    setupHeader: hdr,
    setupHeaderBytes: setupHeaderBytes(image, hdr),
  };
}

/** Throws unless the header allows the 64-bit boot protocol. @example check64BitBootable(parseSetupHeader(img)) */
export function check64BitBootable(hdr: SetupHeader): void {
  if (hdr.version < 0x206) {
    throw new LoaderError(
      'unsupported',
      `bzImage: boot protocol ${protocol(hdr.version)} is too old for 64-bit boot (need 2.06+)`,
    );
  }
  if (hdr.version >= 0x20c && (hdr.xloadflags & XLoadFlags.KERNEL_64) === 0) {
    throw new LoaderError(
      'unsupported',
      `bzImage: xloadflags ${hex(hdr.xloadflags)} lacks XLF_KERNEL_64: the kernel has no 64-bit entry`,
    );
  }
  if ((hdr.loadflags & LoadFlags.LOADED_HIGH) === 0) {
    throw new LoaderError('unsupported', 'bzImage: loadflags lacks LOADED_HIGH (a zImage, not a bzImage)');
  }
  if (hdr.initSize !== 0 && hdr.initSize < hdr.kernelSize) {
    throw new LoaderError(
      'bad-image',
      `bzImage: init_size ${hex(hdr.initSize)} is smaller than the ${hex(hdr.kernelSize)}-byte kernel`,
    );
  }
}

function defaultLoadAddress(hdr: SetupHeader, memory: GuestMemoryAccess, need: number): number {
  if (!hdr.relocatable) return HIGH_MEMORY_START;
  const align = hdr.kernelAlignment;
  const pref = hdr.prefAddress;
  if (pref >= HIGH_MEMORY_START && pref % align === 0 && memory.checkRange(pref, need)) return pref;
  const first = Math.ceil(HIGH_MEMORY_START / align) * align;
  for (const r of memory.regions) {
    let a = Math.max(first, Math.ceil(r.start / align) * align);
    for (; a + need <= r.start + r.size && a < 2 ** 32; a += align) {
      if (memory.checkRange(a, need)) return a;
    }
  }
  return pref >= HIGH_MEMORY_START ? pref : first; // reported as not fitting by the caller
}
