/**
 * The tiny built-in guest of `ts-vmm demo`: 64-bit code that prints a greeting on COM1 and powers
 * off through the ACPI sleep control register. Hand-assembled, position independent.
 *
 * @module
 */

import { SLP_EN } from '@ts-vmm/devices';
import { ACPI_SLEEP_CONTROL_PORT, COM1_PORT } from './address-map.js';

/** The line the demo guest prints. */
export const DEMO_GREETING = 'Hello from a ts-vmm guest: 64-bit long mode, COM1 at 0x3f8.';

/**
 * The machine code.
 * ```
 *   lea rsi, [rip + msg]      ; 48 8d 35 rel32
 *   mov dx, 0x3f8             ; 66 ba f8 03
 * next:
 *   lodsb                     ; ac
 *   test al, al               ; 84 c0
 *   jz done                   ; 74 03
 *   out dx, al                ; ee
 *   jmp next                  ; eb f8
 * done:
 *   mov dx, 0x600             ; 66 ba 00 06
 *   mov al, SLP_EN | (5 << 2) ; b0 34
 *   out dx, al                ; ee
 *   hlt                       ; f4
 *   jmp done                  ; eb f6
 * msg: db greeting, 13, 10, 0
 * ```
 * @example vmm.loadRaw(demoGuest())
 */
export function demoGuest(greeting = DEMO_GREETING): Uint8Array {
  const code = [
    0x48,
    0x8d,
    0x35,
    0,
    0,
    0,
    0,
    0x66,
    0xba,
    COM1_PORT & 0xff,
    COM1_PORT >> 8,
    0xac,
    0x84,
    0xc0,
    0x74,
    0x03,
    0xee,
    0xeb,
    0xf8,
    0x66,
    0xba,
    ACPI_SLEEP_CONTROL_PORT & 0xff,
    ACPI_SLEEP_CONTROL_PORT >> 8,
    0xb0,
    SLP_EN | (5 << 2),
    0xee,
    0xf4,
    0xeb,
    0xf6,
  ];
  const rel = code.length - 7;
  code[3] = rel & 0xff;
  code[4] = (rel >> 8) & 0xff;
  const msg = new TextEncoder().encode(`${greeting}\r\n`);
  return Uint8Array.from([...code, ...msg, 0]);
}

/**
 * A CPL3 speed-probe loop: `mov rcx, n; l: dec rcx; jnz l; out 0x80, al; jmp $-2`.
 * @example probeLoop(1_000_000)
 */
export function probeLoop(iterations: number): Uint8Array {
  const n = iterations >>> 0;
  return Uint8Array.of(
    0x48,
    0xc7,
    0xc1,
    n & 0xff,
    (n >> 8) & 0xff,
    (n >> 16) & 0xff,
    (n >>> 24) & 0xff, // mov rcx, imm32
    0x48,
    0xff,
    0xc9, // dec rcx
    0x75,
    0xfb, // jnz -5
    0xe6,
    0x80, // out 0x80, al
    0xeb,
    0xfc, // jmp -4 (back to out)
  );
}
