/**
 * Legacy-mode conformance programs: small guest programs for the 16- and 32-bit parts of the
 * architecture (16-bit stacks, segment limits and types, call gates, virtual-8086 mode), run on a
 * bare emulated {@link Cpu} from real mode. A preamble (at 0x8000) loads a GDT, an IDT whose 32
 * vectors end at a recording stub, and a 32-bit TSS, enters 32-bit protected mode at CPL0 with flat
 * segments (CS 0x08, DS/ES/SS/FS/GS 0x10, ESP 0x7000) and runs the program; the program ends with
 * HLT at CPL0. An exception ends it at the stub, which records the vector at {@link LEGACY.VECTOR},
 * the six dwords on top of the handler's stack (error code first for vectors that push one) at
 * {@link LEGACY.FRAME} and ESP at {@link LEGACY.ESP}, then halts.
 *
 * These run on the emulator and, as an oracle, under QEMU TCG ({@link runLegacyQemu}), not under
 * KVM: this host's KVM (PVM) runs guests at CPL3 in long mode and cannot run real mode, 16-bit
 * protected mode, ring transitions through gates or virtual-8086 mode.
 *
 * GDT (at {@link LEGACY.GDT}): 0x08 code32 DPL0, 0x10 data32 DPL0, 0x18 code16 DPL0 (base 0, limit
 * 0xffff), 0x20 data16 DPL0 (limit 0xffff), 0x28 32-bit TSS at {@link LEGACY.TSS} (256 vectors, the first 32 set; ESP0 0x7000,
 * SS0 0x10, I/O bitmap at TSS+0x68 allowing every port but 0x80), 0x30 code32 DPL3, 0x38 data32
 * DPL3; entries from 0x40 are the program's (the `DESC` macro writes one, `CGATE` a call gate).
 * `IDTSET vec, label[, type]` installs a handler, `TO_RING3 label` IRETs to CPL3 (CS 0x33, SS 0x3b,
 * ESP 0x6000), `TO_V86 label, cs, ss, sp, ds, eflags` IRETs to virtual-8086 mode (EFLAGS gets VM).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Cpu, type CpuExit } from '../src/cpu.js';
import { assemble } from './assemble.js';

/** Fixed addresses of the legacy image. */
export const LEGACY = {
  GDT: 0x1000,
  IDT: 0x2000,
  /** Vector of the exception that ended the program (0xffffffff: none). */
  VECTOR: 0x500,
  /** Six dwords from the handler's ESP. */
  FRAME: 0x504,
  /** The handler's ESP. */
  ESP: 0x520,
  /** Scratch data for programs (4 KiB). */
  DATA: 0x3000,
  CODE: 0x8000,
  TSS: 0x20000,
  RAM: 0x200000,
} as const;

const PREAMBLE = `
.macro DESC sel, lo, hi
  mov dword ptr [${LEGACY.GDT} + \\sel], \\lo
  mov dword ptr [${LEGACY.GDT} + \\sel + 4], \\hi
.endm
.macro CGATE sel, label, tsel, attr
  mov eax, offset \\label
  mov word ptr [${LEGACY.GDT} + \\sel], ax
  mov word ptr [${LEGACY.GDT} + \\sel + 2], \\tsel
  shr eax, 16
  mov word ptr [${LEGACY.GDT} + \\sel + 6], ax
  mov word ptr [${LEGACY.GDT} + \\sel + 4], \\attr
.endm
.macro TO_RING3 label
  push 0x3b
  push 0x6000
  push 0x2
  push 0x33
  push offset \\label
  iretd
.endm
.macro TO_V86 label, cs, ss, sp, ds, eflags
  push 0
  push 0
  push \\ds
  push \\ds
  push \\ss
  push \\sp
  push \\eflags
  push \\cs
  push offset \\label - \\cs * 16
  iretd
.endm
.macro IDTSET vec, label, type=0x8e00
  mov eax, offset \\label
  mov word ptr [${LEGACY.IDT} + \\vec * 8], ax
  mov word ptr [${LEGACY.IDT} + \\vec * 8 + 2], 0x08
  shr eax, 16
  mov word ptr [${LEGACY.IDT} + \\vec * 8 + 6], ax
  mov word ptr [${LEGACY.IDT} + \\vec * 8 + 4], \\type
.endm
  .code16
  .org ${LEGACY.CODE}
  cli
  xor ax, ax
  mov ds, ax
  lgdt [gdtr]
  mov eax, cr0
  or eax, 1
  mov cr0, eax
  .byte 0x66, 0xea
  .long pm32
  .word 0x08
  .code32
pm32:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov fs, ax
  mov gs, ax
  mov esp, 0x7000
  # GDT from the template
  mov esi, offset gdt
  mov edi, ${LEGACY.GDT}
  mov ecx, 16
  rep movsd
  lgdt [gdtr2]
  # IDT: 32 interrupt gates to the stubs
  mov edi, ${LEGACY.IDT}
  mov eax, offset stubs
  xor ecx, ecx
1:mov edx, eax
  and edx, 0xffff
  or edx, 0x80000
  mov [edi + ecx * 8], edx
  mov edx, eax
  and edx, 0xffff0000
  or edx, 0x8e00
  mov [edi + ecx * 8 + 4], edx
  add eax, 16
  inc ecx
  cmp ecx, 32
  jb 1b
  lidt [idtr]
  # TSS: ESP0/SS0, I/O bitmap base 0x68, bitmap all 0 but port 0x80, terminator
  mov edi, ${LEGACY.TSS}
  mov ecx, (0x68 + 8192 + 1) / 4 + 1
  xor eax, eax
  rep stosd
  mov dword ptr [${LEGACY.TSS} + 4], 0x7000
  mov dword ptr [${LEGACY.TSS} + 8], 0x10
  mov word ptr [${LEGACY.TSS} + 0x66], 0x68
  mov byte ptr [${LEGACY.TSS} + 0x68 + 0x10], 1
  mov byte ptr [${LEGACY.TSS} + 0x68 + 8192], 0xff
  mov ax, 0x28
  ltr ax
  mov dword ptr [${LEGACY.VECTOR}], 0xffffffff
  xor eax, eax
  xor ecx, ecx
  xor edx, edx
  xor esi, esi
  xor edi, edi
  jmp program
  .balign 16
stubs:
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .balign 16
  push \\v
  jmp stub_common
  .endr
  # the vector, then DS, EAX, ECX of the interrupted code on the handler's stack
stub_common:
  push ds
  push eax
  push ecx
  mov ax, 0x10
  mov ds, ax
  mov eax, [esp + 12]
  mov [${LEGACY.VECTOR}], eax
  xor ecx, ecx
2:mov eax, [esp + 16 + ecx * 4]
  mov [${LEGACY.FRAME} + ecx * 4], eax
  inc ecx
  cmp ecx, 6
  jb 2b
  lea eax, [esp + 16]
  mov [${LEGACY.ESP}], eax
  pop ecx
  pop eax
  hlt
  jmp stub_common
  .balign 8
gdt:
  .quad 0
  .quad 0x00cf9a000000ffff
  .quad 0x00cf92000000ffff
  .quad 0x00009a000000ffff
  .quad 0x000092000000ffff
  .quad 0x0000890000002069 | (${LEGACY.TSS} & 0xffffff) << 16
  .quad 0x00cffa000000ffff
  .quad 0x00cff2000000ffff
gdtr:
  .word 63
  .long gdt
gdtr2:
  .word 255
  .long ${LEGACY.GDT}
idtr:
  .word 256 * 8 - 1
  .long ${LEGACY.IDT}
program:
`;

/** How a legacy program is run: the interpreter, or every block compiled to WebAssembly or JavaScript. */
export type LegacySide = 'interpreter' | 'compiled (wasm)' | 'compiled (js)';

/** What a legacy program left. */
export interface LegacyOutcome {
  /** How the run ended (QEMU: `hlt` when the CPU was halted at the end, else `instruction-limit`). */
  exit: CpuExit;
  mem: GuestMemory;
  /** The exception vector recorded by the stub, or -1. */
  vector: number;
  /** Dword `k` of the handler's stack at the stub (error code first where one is pushed). */
  frame: (k: number) => number;
  /** A 32-bit general register (0 EAX, 1 ECX, 2 EDX, 3 EBX, 4 ESP, 5 EBP, 6 ESI, 7 EDI). */
  r32: (n: number) => number;
  /** The port writes on the way (the run continues after each); null where not recorded (QEMU). */
  outs: { port: number; value: number }[] | null;
}

/** Assembles `asm` (32-bit code after the preamble; `.code16` inside is fine) and runs it on `side`. */
export function runLegacy(asm: string, side: LegacySide = 'interpreter'): LegacyOutcome {
  const code = legacyImage(asm);
  const spec = [{ start: 0, size: LEGACY.RAM }];
  const mem = side === 'compiled (js)' ? GuestMemory.createShared(spec) : GuestMemory.createWasm(spec);
  mem.writeBytes(LEGACY.CODE, code);
  const cpu =
    side === 'interpreter'
      ? new Cpu(mem, { jitThreshold: -1 })
      : new Cpu(mem, { jitThreshold: 0, jitAsync: false, jit: side === 'compiled (js)' ? 'js' : 'wasm' });
  cpu.resetRealMode(0, LEGACY.CODE);
  const outs: { port: number; value: number }[] = [];
  let exit = cpu.run(1_000_000);
  for (let n = 0; n < 100 && exit.kind === 'io-out'; n++) {
    outs.push({ port: exit.port, value: exit.data.reduce((v, b, k) => v + b * 2 ** (8 * k), 0) });
    exit = cpu.run(1_000_000);
  }
  const v = mem.read32(LEGACY.VECTOR);
  return {
    exit,
    mem,
    vector: v === 0xffffffff ? -1 : v,
    frame: (k) => mem.read32(LEGACY.FRAME + 4 * k),
    r32: (n) => cpu.R[n * 2] >>> 0,
    outs,
  };
}

/** The program's image (loaded at {@link LEGACY.CODE}): the preamble, `asm`, a final HLT. */
function legacyImage(asm: string): Uint8Array {
  return assemble(`${PREAMBLE}\n${asm}\n  hlt\n`, 16).subarray(LEGACY.CODE);
}

let qemu: boolean | undefined;

/** Whether QEMU (`qemu-system-x86_64`, TCG) is here to run legacy programs as an oracle. */
export function hasQemu(): boolean {
  if (qemu === undefined) {
    try {
      execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
      qemu = true;
    } catch {
      qemu = false;
    }
  }
  return qemu;
}

/**
 * Runs `asm` under QEMU with TCG (an independent implementation of the same architecture): a 64 KiB
 * firmware image copies the program to {@link LEGACY.CODE} and jumps there from the reset vector;
 * once the CPU halts (or after `timeoutMs`), the monitor dumps the registers and the first 2 MiB of
 * memory. Port writes are not recorded (`outs` is null).
 */
export async function runLegacyQemu(asm: string, timeoutMs = 5000): Promise<LegacyOutcome> {
  const image = legacyImage(asm);
  if (image.length > 0x7000)
    throw new Error(`legacy image of ${image.length} bytes does not fit the firmware`);
  const loader = assemble(
    `.code16
  cli
  xor ax, ax
  mov es, ax
  mov ax, 0xf000
  mov ds, ax
  mov si, 0x100
  mov di, ${LEGACY.CODE}
  mov cx, ${image.length}
  cld
  rep movsb
  ljmp 0, ${LEGACY.CODE}`,
    16,
  );
  const rom = new Uint8Array(0x10000);
  rom.set(loader, 0);
  rom.set(image, 0x100);
  rom.set([0xea, 0x00, 0x00, 0x00, 0xf0], 0xfff0); // jmp f000:0000
  const dir = mkdtempSync(join(tmpdir(), 'legacy-qemu-'));
  try {
    writeFileSync(join(dir, 'rom.bin'), rom);
    const dump = join(dir, 'mem.bin');
    const q = spawn(
      'qemu-system-x86_64',
      [
        '-accel',
        'tcg',
        '-bios',
        join(dir, 'rom.bin'),
        '-m',
        '4',
        '-display',
        'none',
        '-nodefaults',
        '-monitor',
        'stdio',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    q.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise<void>((resolve) => q.on('close', () => resolve()));
    const ask = async (cmd: string, until: RegExp, ms: number): Promise<string> => {
      const from = out.length;
      q.stdin.write(`${cmd}\n`);
      for (let t = 0; t < ms && !until.test(out.slice(from)); t += 10)
        await new Promise((r) => setTimeout(r, 10));
      return out.slice(from);
    };
    let regs = '';
    let halted = false;
    for (let t = 0; t < timeoutMs; t += 50) {
      regs = await ask('info registers', /HLT=\d/, 2000);
      halted = /HLT=1/.test(regs);
      if (halted) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await ask(`pmemsave 0 ${LEGACY.RAM} "${dump}"`, /\(qemu\)/, 5000);
    for (let t = 0; t < 5000 && !(existsSync(dump) && statSync(dump).size === LEGACY.RAM); t += 10)
      await new Promise((r) => setTimeout(r, 10));
    q.stdin.write('quit\n');
    const kill = setTimeout(() => q.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(kill);
    const mem = GuestMemory.createShared([{ start: 0, size: LEGACY.RAM }]);
    mem.writeBytes(0, new Uint8Array(readFileSync(dump)));
    const names = ['EAX', 'ECX', 'EDX', 'EBX', 'ESP', 'EBP', 'ESI', 'EDI'];
    const r = names.map((n) => {
      const m = new RegExp(`${n}=([0-9a-f]{8})`).exec(regs);
      if (m === null) throw new Error(`QEMU gave no ${n} in: ${regs}`);
      return Number.parseInt(m[1], 16);
    });
    const v = mem.read32(LEGACY.VECTOR);
    return {
      exit: halted ? { kind: 'hlt' } : { kind: 'instruction-limit' },
      mem,
      vector: v === 0xffffffff ? -1 : v,
      frame: (k) => mem.read32(LEGACY.FRAME + 4 * k),
      r32: (n) => r[n],
      outs: null,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
