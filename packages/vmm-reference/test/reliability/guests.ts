/**
 * Hand-assembled raw 64-bit guests for the reliability tests. Each runs at CPL3 as well as at CPL0
 * (`RawPayload.cpl3` gives IOPL 3 and user-accessible page tables), so that a KVM whose CPL0 code is
 * emulated (PVM) runs them at full speed.
 */

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** Bytes of COM1 output one iteration of {@link comFloodGuest} writes. */
export const FLOOD_CHUNK = 4096;

/** The ACPI poweroff tail: `mov dx, 0x600; mov al, SLP_EN | S5; out dx, al; jmp $`. */
const POWEROFF = [0x66, 0xba, 0x00, 0x06, 0xb0, 0x34, 0xee, 0xeb, 0xfe];

/**
 * Floods COM1 with `rep outsb` of 4 KiB chunks: `before` chunks, then a write of 123 to the boot
 * timer (the VMM logs `boot timer: ...` on stderr once, so a test knows the flood is under way
 * without reading the console), then `after` more chunks (forever with 0), then ACPI poweroff
 * (exit code 0). `before` must be at least 1.
 * ```
 *   mov r8d, before          ; 41 b8 imm32
 *   mov r9d, after           ; 41 b9 imm32
 *   mov ebx, 0xc0000000      ; bb 00 00 00 c0   (boot timer)
 * again:
 *   lea rsi, [rip + buf]     ; 48 8d 35 2d 00 00 00
 *   mov ecx, 4096            ; b9 00 10 00 00
 *   mov dx, 0x3f8            ; 66 ba f8 03
 *   rep outsb                ; f3 6e
 *   test r8d, r8d            ; 45 85 c0
 *   jz after                 ; 74 0a
 *   dec r8d                  ; 41 ff c8
 *   jnz again                ; 75 e4
 *   mov byte [rbx], 123      ; c6 03 7b
 *   jmp again                ; eb df
 * after:
 *   test r9d, r9d            ; 45 85 c9
 *   jz again                 ; 74 da   (after = 0: forever)
 *   dec r9d                  ; 41 ff c9
 *   jnz again                ; 75 d5
 *   poweroff                 ; 66 ba 00 06 b0 34 ee eb fe
 * buf: 4096 bytes of text lines
 * ```
 */
export function comFloodGuest(before: number, after: number): Uint8Array {
  if (before < 1) throw new RangeError('comFloodGuest: before must be at least 1');
  const code = [
    ...[0x41, 0xb8, ...le32(before)],
    ...[0x41, 0xb9, ...le32(after)],
    ...[0xbb, ...le32(0xc000_0000)],
    ...[0x48, 0x8d, 0x35, 0x2d, 0x00, 0x00, 0x00],
    ...[0xb9, ...le32(FLOOD_CHUNK)],
    ...[0x66, 0xba, 0xf8, 0x03],
    ...[0xf3, 0x6e],
    ...[0x45, 0x85, 0xc0],
    ...[0x74, 0x0a],
    ...[0x41, 0xff, 0xc8],
    ...[0x75, 0xe4],
    ...[0xc6, 0x03, 0x7b],
    ...[0xeb, 0xdf],
    ...[0x45, 0x85, 0xc9],
    ...[0x74, 0xda],
    ...[0x41, 0xff, 0xc9],
    ...[0x75, 0xd5],
    ...POWEROFF,
  ];
  if (code.length !== 0x45) throw new Error(`comFloodGuest: code is ${code.length} bytes, want 0x45`);
  const line = 'ts-vmm reliability test: guest console flood 0123456789abcdefghijklmnopqrstuvwxyz\r\n';
  const buf = new Uint8Array(FLOOD_CHUNK);
  for (let i = 0; i < buf.length; i++) buf[i] = line.charCodeAt(i % line.length);
  return Uint8Array.from([...code, ...buf]);
}

/** `mov dword [rbx + off], imm32` */
function storeRbx(off: number, imm: number): number[] {
  return off < 0x80 ? [0xc7, 0x43, off, ...le32(imm)] : [0xc7, 0x83, ...le32(off), ...le32(imm)];
}

/**
 * Sets up the first virtio-mmio device (virtio-rng at 0xd0000000 when no disk, net or console is
 * configured) with a descriptor table outside guest RAM and sets DRIVER_OK, so that the device
 * fails (DEVICE_NEEDS_RESET) and the VMM logs a device error; resets it and does it again,
 * `iterations` times (2^32 with 0), then powers off. A guest-driven flood of VMM log lines.
 */
export function deviceErrorLoopGuest(iterations: number): Uint8Array {
  const body = [
    ...storeRbx(0x70, 0), // Status: reset
    ...storeRbx(0x70, 1), // ACKNOWLEDGE
    ...storeRbx(0x70, 3), // DRIVER
    ...storeRbx(0x24, 1), // DriverFeaturesSel 1
    ...storeRbx(0x20, 1), // VIRTIO_F_VERSION_1 (bit 32)
    ...storeRbx(0x70, 0xb), // FEATURES_OK
    ...storeRbx(0x30, 0), // QueueSel 0
    ...storeRbx(0x80, 0xffff_f000), // QueueDescLow: not guest RAM
    ...storeRbx(0x44, 1), // QueueReady
    ...storeRbx(0x70, 0xf), // DRIVER_OK: queue validation fails
  ];
  const back = -(body.length + 5); // dec r8d (3) + jnz (2)
  return Uint8Array.from([
    ...[0x41, 0xb8, ...le32(iterations)], // mov r8d, iterations
    ...[0xbb, ...le32(0xd000_0000)], // mov ebx, 0xd0000000
    ...body,
    ...[0x41, 0xff, 0xc8], // dec r8d
    ...[0x75, back & 0xff], // jnz body
    ...POWEROFF,
  ]);
}
