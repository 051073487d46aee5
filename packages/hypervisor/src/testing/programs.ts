/**
 * The test guest programs (hand-assembled x86 machine code, each listing its assembly).
 *
 * @module
 */
import { DATA_ADDRESS, type GuestProgram, MMIO_BASE } from './guests.js';

const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** Port the guests use to say "done" (`out 0x10, al`). */
export const DONE_PORT = 0x10;
/** Port the guests read from and write to in the IO round trip. */
export const ECHO_PORT = 0x10;
/** Port the irq guest uses to report it is ready for the interrupt. */
export const READY_PORT = 0x11;

/**
 * Real mode: reads a byte from `port`, adds 1, writes it back to `port`, halts.
 * ```
 * mov dx, port ; in al, dx ; add al, 1 ; out dx, al ; hlt
 * ```
 * @example loadGuest(mem, vcpu, ioEchoGuest(0x10));
 */
export function ioEchoGuest(port = ECHO_PORT): GuestProgram {
  return { mode: 'real', code: Uint8Array.of(0xba, ...u16(port), 0xec, 0x04, 0x01, 0xee, 0xf4) };
}

/**
 * Protected mode (32-bit, flat, no paging): a 4-byte MMIO read at `MMIO_BASE`, writes the value + 1
 * to `MMIO_BASE + 4`, writes the byte 0x5a to `MMIO_BASE + 8`, halts.
 * ```
 * mov eax, [MMIO_BASE] ; add eax, 1 ; mov [MMIO_BASE+4], eax ; mov byte [MMIO_BASE+8], 0x5a ; hlt
 * ```
 */
export function mmioGuest32(): GuestProgram {
  return {
    mode: 'protected',
    code: Uint8Array.of(
      0xa1, ...u32(MMIO_BASE),
      0x83, 0xc0, 0x01,
      0xa3, ...u32(MMIO_BASE + 4),
      0xc6, 0x05, ...u32(MMIO_BASE + 8), 0x5a,
      0xf4,
    ), // biome-ignore format: assembly
  };
}

/**
 * Long mode (CPL0, paging): an 8-byte MMIO read at `MMIO_BASE`, writes value + 1 to `MMIO_BASE + 8`,
 * writes the word 0x1234 to `MMIO_BASE + 16`, halts.
 * ```
 * mov ebx, MMIO_BASE ; mov rax, [rbx] ; add rax, 1 ; mov [rbx+8], rax ; mov word [rbx+16], 0x1234 ; hlt
 * ```
 */
export function mmioGuest64(): GuestProgram {
  return {
    mode: 'long',
    code: Uint8Array.of(
      0xbb, ...u32(MMIO_BASE),
      0x48, 0x8b, 0x03,
      0x48, 0x83, 0xc0, 0x01,
      0x48, 0x89, 0x43, 0x08,
      0x66, 0xc7, 0x43, 0x10, 0x34, 0x12,
      0xf4,
    ), // biome-ignore format: assembly
  };
}

/** Vector the irq guest programs the PIC to use for IRQ `irq` (base 0x20). */
export const IRQ_VECTOR_BASE = 0x20;

/**
 * Real mode, for an in-kernel irqchip: programs the master PIC (vector base 0x20, only `irq`
 * unmasked), reports `out READY_PORT, 1`, then `sti; hlt` in a loop. The interrupt handler does
 * `out 0x10, 0x42`, EOIs the PIC and returns.
 */
export function irqGuest(irq: number): GuestProgram {
  const handler = 0x1100;
  const ivt = new Uint8Array(4);
  ivt.set([...u16(handler), ...u16(0)]);
  return {
    mode: 'real',
    code: Uint8Array.of(
      0xfa, // cli
      0xb0, 0x11, 0xe6, 0x20, // ICW1
      0xb0, IRQ_VECTOR_BASE, 0xe6, 0x21, // ICW2: vector base
      0xb0, 0x04, 0xe6, 0x21, // ICW3
      0xb0, 0x01, 0xe6, 0x21, // ICW4: 8086 mode
      0xb0, ~(1 << irq) & 0xff, 0xe6, 0x21, // OCW1: unmask irq
      0xb0, 0x01, 0xe6, READY_PORT, // out READY_PORT, 1
      0xfb, // sti
      0xf4, // hlt
      0xeb, 0xfd, // jmp hlt
    ), // biome-ignore format: assembly
    extra: [
      { address: (IRQ_VECTOR_BASE + irq) * 4, bytes: ivt },
      { address: handler, bytes: Uint8Array.of(0xb0, 0x42, 0xe6, DONE_PORT, 0xb0, 0x20, 0xe6, 0x20, 0xcf) },
    ],
  };
}

/** Port the ioeventfd guest writes to. */
export const IOEVENT_PORT = 0x30;
/** MMIO address the ioeventfd guest writes to. */
export const IOEVENT_MMIO = MMIO_BASE + 0x1000;

/**
 * Protected mode: three `out IOEVENT_PORT, 7`, three 4-byte writes of 9 to `IOEVENT_MMIO`, then
 * `out DONE_PORT, 1; hlt`.
 */
export function ioEventGuest(): GuestProgram {
  const out7 = [0xb0, 0x07, 0xe6, IOEVENT_PORT];
  const mmio9 = [0xc7, 0x05, ...u32(IOEVENT_MMIO), ...u32(9)];
  return {
    mode: 'protected',
    code: Uint8Array.of(
      ...out7,
      ...out7,
      ...out7,
      ...mmio9,
      ...mmio9,
      ...mmio9,
      0xb0,
      0x01,
      0xe6,
      DONE_PORT,
      0xf4,
    ),
  };
}

/** Pages the dirty-log guest writes. */
export const DIRTY_PAGES = [0x3000, 0x5000, DATA_ADDRESS + 0x2000];

/** Protected mode: writes a dword to each of {@link DIRTY_PAGES}, halts. */
export function dirtyGuest(): GuestProgram {
  const code: number[] = [];
  for (const p of DIRTY_PAGES) code.push(0xc7, 0x05, ...u32(p + 0x10), ...u32(0xabcd));
  code.push(0xf4);
  return { mode: 'protected', code: Uint8Array.from(code) };
}

/**
 * Real mode, for single-stepping: `mov ax, 1; inc ax; inc ax; out 0x10, al; hlt` at 0x1000.
 * {@link STEP_RIPS} lists the address of each instruction.
 */
export function stepGuest(): GuestProgram {
  return { mode: 'real', code: Uint8Array.of(0xb8, 0x01, 0x00, 0x40, 0x40, 0xe6, DONE_PORT, 0xf4) };
}
/** Instruction addresses of {@link stepGuest}. */
export const STEP_RIPS = [0x1000, 0x1003, 0x1004, 0x1005, 0x1007];

/**
 * Long mode at CPL3: increments the qword at `address` `count` times, then `out port, al`.
 * ```
 * mov ecx, count ; mov ebx, address
 * l: inc qword [rbx] ; dec rcx ; jnz l
 * mov dx, port ; out dx, al ; jmp $
 * ```
 */
export function counterGuest(address: number, count: number, port = DONE_PORT, entry?: number): GuestProgram {
  return {
    mode: 'long-user',
    entry,
    code: Uint8Array.of(
      0xb9, ...u32(count),
      0xbb, ...u32(address),
      0x48, 0xff, 0x03,
      0x48, 0xff, 0xc9,
      0x75, 0xf8,
      0x66, 0xba, ...u16(port),
      0xee,
      0xeb, 0xfe,
    ), // biome-ignore format: assembly
  };
}

/** Long mode at CPL3: `jmp $` forever (native speed under PVM); only a kick stops it. */
export function spinGuest(): GuestProgram {
  return { mode: 'long-user', code: Uint8Array.of(0xeb, 0xfe) };
}

/**
 * Long mode at CPL3, for benchmarks: `count` exits of one kind, then `out 0x11, al`.
 * - `pio`: `l: out 0x10, al ; dec ecx ; jnz l`
 * - `mmio`: `l: mov [rbx], eax ; dec ecx ; jnz l` with rbx = MMIO_BASE
 */
export function exitLoopGuest(kind: 'pio' | 'mmio', count: number): GuestProgram {
  const body = kind === 'pio' ? [0xe6, DONE_PORT] : [0x89, 0x03];
  return {
    mode: 'long-user',
    code: Uint8Array.of(
      0xb9, ...u32(count),
      0xbb, ...u32(MMIO_BASE),
      ...body,
      0xff, 0xc9,
      0x75, 0xfa,
      0xe6, READY_PORT,
      0xeb, 0xfe,
    ), // biome-ignore format: assembly
  };
}
