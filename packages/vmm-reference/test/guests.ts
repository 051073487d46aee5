/** Tiny hand-assembled 64-bit guests for the end-to-end tests. */

/** `mov al, v; out 0xf4, al; hlt` — asks for exit code (v << 1) | 1. */
export function debugExitGuest(v: number): Uint8Array {
  return Uint8Array.of(0xb0, v & 0xff, 0xe6, 0xf4, 0xf4);
}

/** `mov al, 0xfe; out 0x64, al; hlt` — i8042 CPU reset. */
export const resetGuest = Uint8Array.of(0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd);

/** `ud2` with an empty IDT: #UD -> #GP -> double fault -> triple fault. */
export const tripleFaultGuest = Uint8Array.of(0x0f, 0x0b);

/** `jmp $` forever. */
export const spinGuest = Uint8Array.of(0xeb, 0xfe);

/** Prints `text` on COM1, then resets through the i8042. */
export function printThenReset(text: string): Uint8Array {
  const code = [
    0x48,
    0x8d,
    0x35,
    0,
    0,
    0,
    0, // lea rsi, [rip+msg]
    0x66,
    0xba,
    0xf8,
    0x03, // mov dx, 0x3f8
    0xac, // lodsb
    0x84,
    0xc0, // test al, al
    0x74,
    0x03, // jz +3
    0xee, // out dx, al
    0xeb,
    0xf8, // jmp lodsb
    0xb0,
    0xfe,
    0xe6,
    0x64, // mov al, 0xfe; out 0x64, al
    0xf4,
    0xeb,
    0xfd, // hlt; jmp hlt
  ];
  const rel = code.length - 7;
  code[3] = rel & 0xff;
  return Uint8Array.from([...code, ...new TextEncoder().encode(text), 0]);
}

/** Waits for a byte on COM1, echoes it back plus one, then powers off through ACPI. */
export const echoGuest = Uint8Array.of(
  0x66,
  0xba,
  0xfd,
  0x03, // mov dx, 0x3fd (LSR)
  0xec, // wait: in al, dx
  0xa8,
  0x01, // test al, 1 (data ready)
  0x74,
  0xfb, // jz wait
  0x66,
  0xba,
  0xf8,
  0x03, // mov dx, 0x3f8
  0xec, // in al, dx
  0xfe,
  0xc0, // inc al
  0xee, // out dx, al
  0x66,
  0xba,
  0x00,
  0x06, // mov dx, 0x600
  0xb0,
  0x34, // mov al, 0x34
  0xee, // out dx, al
  0xf4, // hlt
);

/**
 * A minimal ELF64 "kernel": one PT_LOAD segment at 1 MiB holding `hlt; jmp $-1`, entered there.
 * Enough for the VMM to load it, write the boot data (command line, ACPI, zero page) and stop.
 */
export function tinyElfKernel(): Uint8Array {
  const code = Uint8Array.of(0xf4, 0xeb, 0xfd);
  const at = 0x10_0000;
  const ehsize = 64;
  const phentsize = 56;
  const img = new Uint8Array(ehsize + phentsize + code.length);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0); // \x7fELF, 64-bit, little-endian, version 1
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 0x3e, true); // x86-64
  v.setUint32(20, 1, true);
  v.setBigUint64(24, BigInt(at), true); // e_entry
  v.setBigUint64(32, BigInt(ehsize), true); // e_phoff
  v.setUint16(52, ehsize, true);
  v.setUint16(54, phentsize, true);
  v.setUint16(56, 1, true); // e_phnum
  const p = ehsize;
  v.setUint32(p, 1, true); // PT_LOAD
  v.setUint32(p + 4, 7, true); // RWX
  v.setBigUint64(p + 8, BigInt(ehsize + phentsize), true); // p_offset
  v.setBigUint64(p + 16, BigInt(at), true); // p_vaddr
  v.setBigUint64(p + 24, BigInt(at), true); // p_paddr
  v.setBigUint64(p + 32, BigInt(code.length), true); // p_filesz
  v.setBigUint64(p + 40, BigInt(code.length), true); // p_memsz
  v.setBigUint64(p + 48, 0x1000n, true); // p_align
  img.set(code, ehsize + phentsize);
  return img;
}
