import { LoaderError } from './errors.js';
import { hex } from './hex.js';
import { ImageReader } from './image-reader.js';

/**
 * `HdrS`, the setup header signature at offset 0x202.
 * @example new DataView(image.buffer).getUint32(0x202, true) === SETUP_HEADER_MAGIC; // "HdrS"
 */
export const SETUP_HEADER_MAGIC = 0x53726448;
/**
 * Offset of the setup header inside a bzImage and inside the zero page.
 * @example zeroPage.set(k.setupHeaderBytes, SETUP_HEADER_OFFSET);
 */
export const SETUP_HEADER_OFFSET = 0x1f1;
/**
 * End of the setup header as of boot protocol 2.15 (`kernel_info_offset` ends at 0x26c).
 * @example parseSetupHeader(image).headerEnd <= SETUP_HEADER_END; // true
 */
export const SETUP_HEADER_END = 0x26c;

/**
 * `loadflags` bits.
 * @example parseSetupHeader(image).loadflags & LoadFlags.LOADED_HIGH; // 1 for a bzImage
 */
export const LoadFlags = {
  LOADED_HIGH: 0x01,
  KASLR_FLAG: 0x02,
  QUIET_FLAG: 0x20,
  KEEP_SEGMENTS: 0x40,
  CAN_USE_HEAP: 0x80,
} as const;

/**
 * `xloadflags` bits.
 * @example parseSetupHeader(image).xloadflags & XLoadFlags.KERNEL_64; // 1 with a 64-bit entry
 */
export const XLoadFlags = {
  KERNEL_64: 0x01,
  CAN_BE_LOADED_ABOVE_4G: 0x02,
  EFI_HANDOVER_32: 0x04,
  EFI_HANDOVER_64: 0x08,
  EFI_KEXEC: 0x10,
  FIVE_LEVEL: 0x20,
  FIVE_LEVEL_ENABLED: 0x40,
} as const;

/**
 * The fields of the Linux x86 boot protocol setup header (Documentation/arch/x86/boot.rst) that a
 * loader reads. Offsets in comments are from the start of the image / zero page.
 *
 * @example
 * ```ts
 * const h = parseSetupHeader(bzImage);
 * console.log(h.version.toString(16), h.prefAddress.toString(16));
 * ```
 */
export interface SetupHeader {
  /** 0x1f1: size of the real-mode setup in 512-byte sectors (0 in the file means 4). */
  setupSects: number;
  /** 0x1f4: protected-mode code size in 16-byte paragraphs. */
  syssize: number;
  /** 0x1fe: 0xAA55. */
  bootFlag: number;
  /** 0x206: protocol version, e.g. 0x20f for 2.15. */
  version: number;
  /** 0x210 */
  typeOfLoader: number;
  /** 0x211 */
  loadflags: number;
  /** 0x214: the 32-bit entry of a kernel loaded at the default address. */
  code32Start: number;
  /** 0x22c: highest address the initrd may occupy (inclusive). */
  initrdAddrMax: number;
  /** 0x230: required alignment of a relocatable kernel. */
  kernelAlignment: number;
  /** 0x234 */
  relocatable: boolean;
  /** 0x235: log2 of the minimum alignment. */
  minAlignment: number;
  /** 0x236 */
  xloadflags: number;
  /** 0x238: maximum command line length, without the terminating NUL. */
  cmdlineSize: number;
  /** 0x248: offset of the compressed payload from the start of the protected-mode code. */
  payloadOffset: number;
  /** 0x24c */
  payloadLength: number;
  /** 0x258: preferred load address. */
  prefAddress: number;
  /** 0x260: memory the kernel needs from its load address to decompress and start. */
  initSize: number;
  /** 0x264 */
  handoverOffset: number;
  /** Offset in the image (and zero page) one past the last header byte: `0x202 + byte[0x201]`, at most 0x26c. */
  headerEnd: number;
  /** Offset of the protected-mode kernel in the image: `(setupSects + 1) * 512`. */
  kernelOffset: number;
  /** Bytes of protected-mode kernel in the image. */
  kernelSize: number;
}

/**
 * Parses and validates the setup header of a bzImage, checking every offset and size against the
 * image length. Throws {@link LoaderError}.
 *
 * @example
 * ```ts
 * const hdr = parseSetupHeader(fs.readFileSync('vmlinuz'));
 * hdr.xloadflags & XLoadFlags.KERNEL_64; // 1 for a kernel with a 64-bit entry
 * ```
 */
export function parseSetupHeader(image: Uint8Array): SetupHeader {
  const r = new ImageReader(image, 'bzImage');
  if (image.length < 0x206 || r.u32(0x202, 'header') !== SETUP_HEADER_MAGIC) {
    const got = image.length >= 0x206 ? hex(r.u32(0x202, 'header')) : 'nothing (image too short)';
    throw new LoaderError('bad-image', `bzImage: no "HdrS" setup header magic at 0x202 (found ${got})`);
  }
  const version = r.u16(0x206, 'version');
  if (version < 0x200) {
    throw new LoaderError(
      'unsupported',
      `bzImage: boot protocol ${protocol(version)} is too old (need 2.00+)`,
    );
  }
  const jumpLen = r.u8(0x201, 'jump');
  const headerEnd = Math.min(0x202 + jumpLen, SETUP_HEADER_END);
  r.need(SETUP_HEADER_OFFSET, headerEnd - SETUP_HEADER_OFFSET, 'setup header');
  // A field exists when the protocol version has it and it lies inside the header the image declares.
  const f = <T>(minVersion: number, read: () => T, otherwise: T, end: number): T =>
    version >= minVersion && end <= headerEnd ? read() : otherwise;
  let setupSects = r.u8(0x1f1, 'setup_sects');
  if (setupSects === 0) setupSects = 4;
  const syssize = r.u32(0x1f4, 'syssize');
  const kernelOffset = (setupSects + 1) * 512;
  if (kernelOffset >= image.length) {
    throw new LoaderError(
      'bad-image',
      `bzImage: setup_sects=${setupSects} puts the protected-mode kernel at ${hex(kernelOffset)}, past the end of the ${image.length}-byte image`,
    );
  }
  const hdr: SetupHeader = {
    setupSects,
    syssize,
    bootFlag: r.u16(0x1fe, 'boot_flag'),
    version,
    typeOfLoader: r.u8(0x210, 'type_of_loader'),
    loadflags: r.u8(0x211, 'loadflags'),
    code32Start: r.u32(0x214, 'code32_start'),
    initrdAddrMax: f(0x203, () => r.u32(0x22c, 'initrd_addr_max'), 0x37ffffff, 0x230),
    kernelAlignment: f(0x205, () => r.u32(0x230, 'kernel_alignment'), 0, 0x234),
    relocatable: f(0x205, () => r.u8(0x234, 'relocatable_kernel') !== 0, false, 0x235),
    minAlignment: f(0x20a, () => r.u8(0x235, 'min_alignment'), 0, 0x236),
    xloadflags: f(0x20c, () => r.u16(0x236, 'xloadflags'), 0, 0x238),
    cmdlineSize: f(0x206, () => r.u32(0x238, 'cmdline_size'), 255, 0x23c),
    payloadOffset: f(0x208, () => r.u32(0x248, 'payload_offset'), 0, 0x24c),
    payloadLength: f(0x208, () => r.u32(0x24c, 'payload_length'), 0, 0x250),
    prefAddress: f(0x20a, () => r.u64(0x258, 'pref_address'), 0x100000, 0x260),
    initSize: f(0x20a, () => r.u32(0x260, 'init_size'), 0, 0x264),
    handoverOffset: f(0x20b, () => r.u32(0x264, 'handover_offset'), 0, 0x268),
    headerEnd,
    kernelOffset,
    kernelSize: image.length - kernelOffset,
  };
  if (hdr.bootFlag !== 0xaa55) {
    throw new LoaderError('bad-image', `bzImage: boot_flag is ${hex(hdr.bootFlag)}, expected 0xaa55`);
  }
  if (syssize === 0 || syssize * 16 > image.length - kernelOffset + 15) {
    throw new LoaderError(
      'bad-image',
      `bzImage: syssize=${hex(syssize)} paragraphs (${syssize * 16} bytes) does not match the ${image.length - kernelOffset} bytes after the setup code`,
    );
  }
  hdr.kernelSize = Math.min(syssize * 16, image.length - kernelOffset);
  if (version >= 0x205 && hdr.relocatable) {
    const a = hdr.kernelAlignment;
    if (a === 0 || (a & (a - 1)) !== 0) {
      throw new LoaderError('bad-image', `bzImage: kernel_alignment ${hex(a)} is not a power of two`);
    }
  }
  if (version >= 0x208 && hdr.payloadLength > 0) {
    const end = kernelOffset + hdr.payloadOffset + hdr.payloadLength;
    if (end > image.length) {
      throw new LoaderError(
        'bad-image',
        `bzImage: payload [${hex(hdr.payloadOffset)}, +${hex(hdr.payloadLength)}) ends at image offset ${hex(end)}, past the ${image.length}-byte image`,
      );
    }
  }
  return hdr;
}

/** The setup header bytes (0x1f1 up to the header end) to copy into the zero page. @example setupHeaderBytes(img, hdr).length */
export function setupHeaderBytes(image: Uint8Array, hdr: SetupHeader): Uint8Array {
  return image.slice(SETUP_HEADER_OFFSET, hdr.headerEnd);
}

/** Formats a protocol version: 0x20f → "2.15". @example protocol(0x20f) // '2.15' */
export function protocol(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}

/**
 * The kernel version string the setup header points at (`kernel_version` + 0x200), or `undefined`
 * when the image has none or it is malformed.
 *
 * @example kernelVersionString(bzImage) // '6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP ...'
 */
export function kernelVersionString(image: Uint8Array): string | undefined {
  const hdr = parseSetupHeader(image);
  if (hdr.version < 0x200 || image.length < 0x210) return undefined;
  const ptr = image[0x20e] | (image[0x20f] << 8);
  if (ptr === 0) return undefined;
  const start = ptr + 0x200;
  let end = start;
  while (end < image.length && end < start + 512 && image[end] !== 0) end++;
  if (end >= image.length || image[end] !== 0) return undefined;
  return new TextDecoder('latin1').decode(image.subarray(start, end));
}
