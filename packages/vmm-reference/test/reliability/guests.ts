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

/**
 * Sets COM1 to 115200 baud 8N1 (divisor 1: the 16550 then paces host input at 11520 characters a
 * second), reads `count` characters by polling LSR, then powers off. A guest that keeps taking
 * serial input at the line's speed while the host floods it.
 * ```
 *   mov dx, 0x3fb; mov al, 0x80; out dx, al  ; 66 ba fb 03 b0 80 ee   LCR: DLAB
 *   mov dx, 0x3f8; mov al, 1; out dx, al     ; 66 ba f8 03 b0 01 ee   DLL = 1
 *   mov dx, 0x3f9; xor eax, eax; out dx, al  ; 66 ba f9 03 31 c0 ee   DLM = 0
 *   mov dx, 0x3fb; mov al, 3; out dx, al     ; 66 ba fb 03 b0 03 ee   LCR: 8N1
 *   mov ecx, count                           ; b9 imm32
 * wait:
 *   mov dx, 0x3fd; in al, dx                 ; 66 ba fd 03 ec         LSR
 *   test al, 1; jz wait                      ; a8 01 74 f7            data ready?
 *   mov dx, 0x3f8; in al, dx                 ; 66 ba f8 03 ec         RBR
 *   dec ecx; jnz wait                        ; ff c9 75 ee
 *   poweroff
 * ```
 */
export function serialReadGuest(count: number): Uint8Array {
  return Uint8Array.from([
    ...[0x66, 0xba, 0xfb, 0x03, 0xb0, 0x80, 0xee],
    ...[0x66, 0xba, 0xf8, 0x03, 0xb0, 0x01, 0xee],
    ...[0x66, 0xba, 0xf9, 0x03, 0x31, 0xc0, 0xee],
    ...[0x66, 0xba, 0xfb, 0x03, 0xb0, 0x03, 0xee],
    ...[0xb9, ...le32(count)],
    ...[0x66, 0xba, 0xfd, 0x03, 0xec],
    ...[0xa8, 0x01, 0x74, 0xf7],
    ...[0x66, 0xba, 0xf8, 0x03, 0xec],
    ...[0xff, 0xc9, 0x75, 0xee],
    ...POWEROFF,
  ]);
}

/**
 * Interrupt-driven serial input, the way a kernel takes it: masks the 8259s, points IDT vector
 * 0x30 at a handler, enables the LAPIC, routes IOAPIC pin 4 to vector 0x30, sets COM1 to 115200
 * baud with its FIFO on and the receive interrupt enabled, then sleeps in `sti; hlt` until the
 * handler (which reads RBR while LSR.DR is set, counting in r15d, then EOIs) has counted `count`
 * characters; then powers off. Needs CPL0 (`hlt`, `lidt`). Assembled from:
 * ```
 * start:
 *   xor r15d, r15d                 # characters received
 *   mov al, 0xff                   # mask both 8259s (the LAPIC/IOAPIC deliver IRQ 4)
 *   out 0x21, al
 *   out 0xa1, al
 *   # IDT entry 0x30 -> isr, at idt (built here: the CS selector is the one we run with)
 *   lea rdi, [rip + idt]
 *   lea rax, [rip + isr]
 *   mov [rdi + 0x300], ax          # offset 15:0
 *   mov cx, cs
 *   mov [rdi + 0x302], cx          # selector
 *   mov word ptr [rdi + 0x304], 0x8e00   # present, DPL0, 64-bit interrupt gate
 *   shr rax, 16
 *   mov [rdi + 0x306], ax          # offset 31:16
 *   shr rax, 16
 *   mov [rdi + 0x308], eax         # offset 63:32
 *   mov dword ptr [rdi + 0x30c], 0
 *   lea rax, [rip + idtr]
 *   mov word ptr [rax], 0x30f      # limit: entries 0..0x30
 *   mov [rax + 2], rdi
 *   lidt [rax]
 *   # LAPIC: software enable, spurious vector 0xff
 *   mov ebx, 0xfee00000
 *   mov dword ptr [rbx + 0xf0], 0x1ff
 *   # IOAPIC pin 4 -> vector 0x30, edge, fixed, to APIC 0
 *   mov ebx, 0xfec00000
 *   mov dword ptr [rbx], 0x18
 *   mov dword ptr [rbx + 0x10], 0x30
 *   mov dword ptr [rbx], 0x19
 *   mov dword ptr [rbx + 0x10], 0
 *   # COM1: 115200 8N1, FIFO on (trigger 1), receive interrupt on, OUT2
 *   mov dx, 0x3fb
 *   mov al, 0x80
 *   out dx, al
 *   mov dx, 0x3f8
 *   mov al, 1
 *   out dx, al
 *   mov dx, 0x3f9
 *   xor eax, eax
 *   out dx, al
 *   mov dx, 0x3fb
 *   mov al, 3
 *   out dx, al
 *   mov dx, 0x3fa
 *   mov al, 0x07
 *   out dx, al
 *   mov dx, 0x3fc
 *   mov al, 0x0b
 *   out dx, al
 *   mov dx, 0x3f9
 *   mov al, 1
 *   out dx, al
 * wait:
 *   cmp r15d, 0x11223344
 *   jae off
 *   sti
 *   hlt
 *   cli
 *   jmp wait
 * off:
 *   mov dx, 0x600
 *   mov al, 0x34
 *   out dx, al
 * done:
 *   hlt
 *   jmp done
 * isr:
 *   push rax
 *   push rdx
 * more:
 *   mov dx, 0x3fd
 *   in al, dx
 *   test al, 1
 *   jz eoi
 *   mov dx, 0x3f8
 *   in al, dx
 *   inc r15d
 *   jmp more
 * eoi:
 *   mov eax, 0xfee000b0
 *   mov dword ptr [rax], 0
 *   pop rdx
 *   pop rax
 *   iretq
 * .align 8
 * idtr:
 *   .quad 0, 0
 * .align 16
 * idt:
 * ```
 */
export function serialIrqGuest(count: number): Uint8Array {
  const code = Uint8Array.from(
    (
      '4531ffb0ffe621e6a1488d3d00010000488d05c300000066898700030000668cc966898f0203000066c7870403000000' +
      '8e48c1e8106689870603000048c1e810898708030000c7870c03000000000000488d05a900000066c7000f0348897802' +
      '0f0118bb0000e0fec783f0000000ff010000bb0000c0fec70318000000c7431030000000c70319000000c74310000000' +
      '0066bafb03b080ee66baf803b001ee66baf90331c0ee66bafb03b003ee66bafa03b007ee66bafc03b00bee66baf903b0' +
      '01ee4181ff443322117305fbf4faebf266ba0006b034eef4ebfd505266bafd03eca801740a66baf803ec41ffc7ebedb8' +
      'b000e0fec700000000005a5848cf6690'
    )
      .match(/../g)!
      .map((h) => Number.parseInt(h, 16)),
  );
  code.set(le32(count), 0xc5); // cmp r15d, imm32
  return code;
}
