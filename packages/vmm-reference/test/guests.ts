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
