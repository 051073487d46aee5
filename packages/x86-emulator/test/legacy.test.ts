// Legacy-mode conformance (issue 20, items 11-14 and 16): 16-bit stacks, segment limits and types,
// call gates and virtual-8086 mode, each as a small guest program with the SDM's expectations, run
// on the emulator's interpreter and with every block compiled (WebAssembly and JavaScript), and
// under QEMU TCG as an independent oracle where QEMU is installed (`qemu: '<reason>'` says why a
// program is not run there). This host's KVM (PVM) cannot run these modes (see legacy.ts).
import { describe, expect, it } from 'vitest';
import { hasAssembler } from './assemble.js';
import { hasQemu, LEGACY, type LegacyOutcome, type LegacySide, runLegacy, runLegacyQemu } from './legacy.js';

const QEMU_NO_SEG_CHECKS = 'QEMU TCG does not check data accesses against segment limits and types';
const SIDES: LegacySide[] = ['interpreter', 'compiled (wasm)', 'compiled (js)'];
const D = LEGACY.DATA;

function expectHalt(o: LegacyOutcome): void {
  expect(o.vector, `exception ${o.vector} at 0x${o.frame(1).toString(16)}`).toBe(-1);
  expect(o.exit.kind).toBe('hlt');
}

/** Expects exception `vector` with error code `error` (vectors that push one). */
function expectFault(o: LegacyOutcome, vector: number, error?: number): void {
  expect(o.vector).toBe(vector);
  if (error !== undefined) expect(o.frame(0)).toBe(error);
}

interface Check {
  name: string;
  asm: string;
  /** A reason: not run under QEMU TCG (the oracle) because QEMU does not implement what it checks. */
  qemu?: string;
  expect: (o: LegacyOutcome) => void;
}

const checks: Check[] = [
  {
    name: 'the harness reaches 32-bit protected mode at CPL0 and halts',
    asm: `
      mov ebx, 0x1234
      mov eax, cs`,
    expect: (o) => {
      expectHalt(o);
      expect(o.r32(3)).toBe(0x1234);
      expect(o.r32(0) & 0xffff).toBe(0x08);
    },
  },
  {
    name: 'an exception ends at the stub with its vector and error code',
    asm: `
      mov ax, 0x4b
      mov ds, ax`,
    expect: (o) => expectFault(o, 13, 0x48),
  },
  // ---------------------------------------------------------------- 11. PUSHAD on a 16-bit stack
  {
    name: 'PUSHAD on a 16-bit stack stores the whole ESP (SDM PUSHA/PUSHAD: Temp <- ESP)',
    asm: `
      mov ax, 0x20
      mov ss, ax
      mov esp, 0x12346000
      mov ebx, 0x0b0b0b0b
      pushad
      mov edi, esp
      mov ax, 0x10
      mov ss, ax
      mov esp, 0x7000`,
    expect: (o) => {
      expectHalt(o);
      expect(o.mem.read32(0x6000 - 20)).toBe(0x12346000); // the ESP slot
      expect(o.mem.read32(0x6000 - 16)).toBe(0x0b0b0b0b); // EBX before it
      expect(o.r32(7)).toBe(0x12345fe0); // SP moved by 32, the upper half of ESP kept
    },
  },
  {
    name: 'PUSHAW on a 16-bit stack stores SP',
    asm: `
      mov ax, 0x20
      mov ss, ax
      mov esp, 0x12346000
      pushaw
      mov edi, esp
      mov ax, 0x10
      mov ss, ax
      mov esp, 0x7000`,
    expect: (o) => {
      expectHalt(o);
      expect(o.mem.read16(0x6000 - 10)).toBe(0x6000);
      expect(o.r32(7)).toBe(0x12345ff0);
    },
  },
  // ---------------------------------------------------------------- 12. POP SS across stack sizes
  {
    name: 'POP SS from a 32-bit stack to a 16-bit one moves ESP by the old (32-bit) width',
    asm: `
      mov dword ptr [0x1fffc], 0x20
      mov esp, 0x1fffc
      pop ss
      mov ebx, esp
      mov ax, 0x10
      mov ss, ax
      mov esp, 0x7000`,
    expect: (o) => {
      expectHalt(o);
      expect(o.r32(3)).toBe(0x20000);
    },
  },
  {
    name: 'POP SS from a 16-bit stack to a 32-bit one moves only SP (wrapping at 64 KiB)',
    asm: `
      mov ax, 0x20
      mov ss, ax
      mov dword ptr [0xfffc], 0x10
      mov esp, 0x1234fffc
      pop ss
      mov ebx, esp
      mov esp, 0x7000`,
    expect: (o) => {
      expectHalt(o);
      expect(o.r32(3)).toBe(0x12340000);
    },
  },
  // ---------------------------------------------------------------- 16. ENTER on a 16-bit stack
  {
    name: 'ENTER (32-bit operands, level 2) on a 16-bit stack reads the outer frame at SS:[(BP - 4) & 0xffff]',
    asm: `
      mov ax, 0x20
      mov ss, ax
      mov dword ptr [0x0004], 0x11111111
      mov dword ptr [0x10004], 0x22222222
      mov esp, 0x6000
      mov ebp, 0x00010008
      enter 0, 2
      mov ebx, esp
      mov ecx, ebp
      mov ax, 0x10
      mov ss, ax
      mov esp, 0x7000`,
    expect: (o) => {
      expectHalt(o);
      expect(o.mem.read32(0x5ffc)).toBe(0x00010008); // the old EBP
      expect(o.mem.read32(0x5ff8)).toBe(0x11111111); // from SS:0004, not 0x10004
      expect(o.mem.read32(0x5ff4)).toBe(0x5ffc); // the frame pointer
      expect(o.r32(1)).toBe(0x5ffc);
      expect(o.r32(3)).toBe(0x5ff4);
    },
  },
  {
    name: 'ENTER (16-bit operands, level 2) with BP = 0 reads the outer frame at SS:FFFE',
    asm: `
      mov ax, 0x20
      mov ss, ax
      mov word ptr [0xfffe], 0x3333
      mov esp, 0x6000
      xor ebp, ebp
      enterw 4, 2
      mov ebx, esp
      mov ecx, ebp
      mov ax, 0x10
      mov ss, ax
      mov esp, 0x7000`,
    expect: (o) => {
      expectHalt(o);
      expect(o.mem.read16(0x5ffc)).toBe(0x3333);
      expect(o.mem.read16(0x5ffa)).toBe(0x5ffe);
      expect(o.r32(1)).toBe(0x5ffe);
      expect(o.r32(3)).toBe(0x5ff6);
    },
  },
  {
    name: 'ENTER whose final SP is outside SS raises #SS(0) before changing ESP, EBP or memory',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x60, 0x00000fff, 0x00009201
      mov ax, 0x60
      mov ss, ax
      mov esp, 0x40
      mov ebp, 0x1234
      enterw 0x60, 0`,
    expect: (o) => {
      expectFault(o, 12, 0);
      expect(o.mem.read32(LEGACY.ESP) + 16).toBe(0x40); // ESP unchanged at the fault
      expect(o.r32(5)).toBe(0x1234);
    },
  },
  // ---------------------------------------------------------------- 14. segment limits and types
  {
    name: 'a write through a read-only data segment raises #GP(0); reads through it work',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x40, 0x0000ffff, 0x00cf9000
      mov dword ptr [${D}], 0x77
      mov ax, 0x40
      mov es, ax
      mov ebx, es:[${D}]
      mov eax, 5
      mov es:[${D}], eax`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.r32(3)).toBe(0x77);
      expect(o.mem.read32(D)).toBe(0x77);
    },
  },
  {
    name: 'a read-modify-write (ADD) through a read-only data segment raises #GP(0)',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x40, 0x0000ffff, 0x00cf9000
      mov ax, 0x40
      mov fs, ax
      add dword ptr fs:[${D}], 1`,
    expect: (o) => expectFault(o, 13, 0),
  },
  ...[
    'shl dword ptr es:[ebx], 1',
    'bts dword ptr es:[ebx], 3',
    'xadd es:[ebx], eax',
    'cmpxchg es:[ebx], ecx',
    'inc byte ptr es:[ebx]',
    'setz es:[ebx]',
    'pop dword ptr es:[ebx]',
  ].map(
    (insn): Check => ({
      name: `${insn} through a read-only data segment raises #GP(0); BT reads through it`,
      qemu: QEMU_NO_SEG_CHECKS,
      asm: `
        DESC 0x40, 0x0000ffff, 0x00cf9000
        mov dword ptr [${D}], 0x10
        mov ax, 0x40
        mov es, ax
        mov ebx, ${D}
        bt dword ptr es:[ebx], 4
        setc dl
        push eax
        ${insn}`,
      expect: (o) => {
        expectFault(o, 13, 0);
        expect(o.r32(2) & 0xff).toBe(1);
        expect(o.mem.read32(D)).toBe(0x10);
      },
    }),
  ),
  ...[
    'movdqu es:[ebx], xmm0',
    'movss es:[ebx], xmm0',
    'movq es:[ebx], mm0',
    'fstp dword ptr es:[ebx]',
    'fnstcw es:[ebx]',
    'stmxcsr es:[ebx]',
  ].map(
    (insn): Check => ({
      name: `${insn} (SSE, MMX, x87 store) through a read-only data segment raises #GP(0)`,
      qemu: QEMU_NO_SEG_CHECKS,
      asm: `
        DESC 0x40, 0x0000ffff, 0x00cf9000
        mov eax, cr4
        or eax, 0x200
        mov cr4, eax
        fninit
        fld1
        mov dword ptr [${D}], 0x10
        mov ax, 0x40
        mov es, ax
        mov ebx, ${D}
        ${insn}`,
      expect: (o) => {
        expectFault(o, 13, 0);
        expect(o.mem.read32(D)).toBe(0x10);
      },
    }),
  ),
  {
    name: 'a 16-byte SSE load is checked against the limit with its own size (MOVDQU at limit - 7 raises #GP(0))',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x48, 0x0000001f, 0x00409200
      mov eax, cr4
      or eax, 0x200
      mov cr4, eax
      mov ax, 0x48
      mov es, ax
      movdqu xmm1, es:[0x10]
      mov edx, 1
      movdqu xmm0, es:[0x18]`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.r32(2)).toBe(1);
    },
  },
  {
    name: 'an INT whose frame does not fit its expand-down stack segment raises #SS, which cannot be delivered either: a triple fault, nothing written',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x48, 0x00000fff, 0x00409600
      IDTSET 0x30, 2f
      mov dword ptr [0x0ffc], 0x5a5a5a5a
      mov ax, 0x48
      mov ss, ax
      mov esp, 0x1008
      int 0x30
    2:mov ebx, 0x77
      hlt`,
    expect: (o) => {
      expect(o.exit.kind).toBe('shutdown');
      expect(o.r32(3)).not.toBe(0x77);
      expect(o.mem.read32(0x0ffc)).toBe(0x5a5a5a5a);
    },
  },
  {
    name: 'REP STOSD into a read-only ES raises #GP(0)',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x40, 0x0000ffff, 0x00cf9000
      mov ax, 0x40
      mov es, ax
      mov edi, ${D}
      mov ecx, 64
      mov eax, 0x12
      rep stosd`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.mem.read32(D)).toBe(0);
    },
  },
  {
    name: 'a write through CS (readable code) raises #GP(0); a read through it works',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      mov dword ptr [${D}], 0x99
      mov ebx, cs:[${D}]
      mov cs:[${D}], eax`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.r32(3)).toBe(0x99);
    },
  },
  {
    name: 'a read through an execute-only CS raises #GP(0)',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x48, 0x0000ffff, 0x00cf9800
      ljmp 0x48, offset 1f
    1:mov ebx, 1
      mov eax, cs:[${D}]`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.r32(3)).toBe(1);
    },
  },
  {
    name: 'a dword at limit - 2 of a byte-granular data segment raises #GP(0); the last dword and byte inside work',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x50, 0x30000fff, 0x00409200
      mov dword ptr [${D} + 0xffc], 0x44332211
      mov ax, 0x50
      mov ds, ax
      mov ebx, [0xffc]
      movzx ecx, byte ptr [0xfff]
      mov eax, [0xffd]`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.r32(3)).toBe(0x44332211);
      expect(o.r32(1)).toBe(0x44);
    },
  },
  {
    name: 'an SS-based access beyond the SS limit raises #SS(0)',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x50, 0x30000fff, 0x00409200
      mov ax, 0x50
      mov ss, ax
      mov esp, 0x800
      mov ebx, [esp + 0x7fc]
      mov eax, [esp + 0x7fe]`,
    expect: (o) => expectFault(o, 12, 0),
  },
  {
    // at CPL3, so the #SS is delivered on the TSS's ring-0 stack (on the same stack its frame
    // would not fit either: a triple fault)
    name: 'a PUSH past the bottom of an expand-down stack (16-bit, limit 0x0fff) raises #SS(0)',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x58, 0x00000fff, 0x0000f600
      TO_RING3 1f
    1:mov ax, 0x5b
      mov ss, ax
      mov esp, 0x1020
      push eax
      mov ebx, esp
      mov esp, 0x1002
      push eax`,
    expect: (o) => {
      expectFault(o, 12, 0);
      expect(o.r32(3)).toBe(0x101c);
    },
  },
  {
    name: 'expand-down (B = 0): offsets above the limit up to 0xffff work, at the limit or crossing 0xffff raise #GP(0)',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x58, 0x00000fff, 0x00009600
      mov dword ptr [${D}], 0x1234
      mov ax, 0x58
      mov es, ax
      mov ebx, es:[${D}]
      mov esi, 1
      mov eax, es:[0xfffe]`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.r32(3)).toBe(0x1234);
      expect(o.r32(6)).toBe(1);
    },
  },
  {
    name: 'expand-down (B = 1): offsets up to 0xffffffff work (wrapping the base), at or below the limit raise #GP(0)',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      DESC 0x58, 0x30040fff, 0x00409600
      mov dword ptr [${D}], 0x4321
      mov ax, 0x58
      mov es, ax
      mov ebx, es:[0xfffffffc]
      mov esi, 1
      mov eax, es:[0xfff]`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.r32(3)).toBe(0x4321);
      expect(o.r32(6)).toBe(1);
    },
  },
  {
    name: 'an access through a null selector raises #GP(0)',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      xor eax, eax
      mov es, ax
      mov esi, 1
      mov eax, es:[${D}]`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.r32(6)).toBe(1);
    },
  },
  {
    name: 'a 16-bit data segment: a word at offset 0xffff raises #GP(0)',
    qemu: QEMU_NO_SEG_CHECKS,
    asm: `
      mov ax, 0x20
      mov ds, ax
      mov bx, [0xfffe]
      mov esi, 1
      mov ax, [0xffff]`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.r32(6)).toBe(1);
    },
  },
  // ---------------------------------------------------------------- 13. call gates
  {
    name: 'CALL through a 32-bit call gate from CPL3 to CPL0: TSS stack, 2 dword parameters copied, RETF 8 back to CPL3',
    asm: `
      CGATE 0x40, 2f, 0x08, 0xec02
      TO_RING3 1f
    1:mov ax, 0x3b
      mov ds, ax
      push 0x1111
      push 0x2222
      lcall 0x43, 0
      mov edi, esp
      mov ebp, es
      mov ecx, cs
      hlt
    2:mov ebx, esp
      mov esi, ${D}
      mov eax, [esp + 4]
      mov [esi], eax
      mov eax, [esp + 8]
      mov [esi + 4], eax
      mov eax, [esp + 12]
      mov [esi + 8], eax
      mov eax, [esp + 16]
      mov [esi + 12], eax
      mov eax, [esp + 20]
      mov [esi + 16], eax
      mov eax, cs
      mov [esi + 20], eax
      mov eax, ss
      mov [esi + 24], eax
      mov ax, 0x10
      mov es, ax
      retf 8`,
    expect: (o) => {
      expectFault(o, 13, 0); // the HLT at CPL3
      expect(o.frame(2)).toBe(0x33);
      expect(o.r32(3)).toBe(0x7000 - 24); // ESP0 from the TSS less the six dwords
      const d = (k: number) => o.mem.read32(D + 4 * k);
      expect([d(0), d(1), d(2), d(3), d(4)]).toEqual([0x33, 0x2222, 0x1111, 0x5ff8, 0x3b]);
      expect(d(5) & 0xffff).toBe(0x08);
      expect(d(6) & 0xffff).toBe(0x10);
      expect(o.r32(7)).toBe(0x6000); // RETF 8 released the parameters on the outer stack
      expect(o.r32(5) & 0xffff).toBe(0); // ES (DPL0) became null on the way out
      expect(o.r32(1) & 0xffff).toBe(0x33);
    },
  },
  {
    name: 'CALL through a 16-bit call gate at the same privilege pushes 16-bit CS:IP; RETFW returns',
    asm: `
      CGATE 0x40, 2f, 0x08, 0x8400
      mov edx, 0x0f0f0f0f
      lcall 0x40, 0
    1:mov edi, esp
      hlt
    2:mov ebx, esp
      movzx ecx, word ptr [esp + 2]
      movzx edx, word ptr [esp]
      retfw`,
    expect: (o) => {
      expectHalt(o);
      expect(o.r32(3)).toBe(0x7000 - 4);
      expect(o.r32(1)).toBe(0x08);
      expect(o.r32(7)).toBe(0x7000);
    },
  },
  {
    name: 'CALL through a 16-bit call gate from CPL3: word parameters and the outer SS:SP as words on the inner stack',
    asm: `
      CGATE 0x40, 2f, 0x08, 0xe401
      TO_RING3 1f
    1:pushw 0xabcd
      lcall 0x43, 0
      mov edi, esp
      hlt
    2:mov ebx, esp
      mov esi, ${D}
      movzx eax, word ptr ss:[esp + 2]
      mov ss:[esi], eax
      movzx eax, word ptr ss:[esp + 4]
      mov ss:[esi + 4], eax
      movzx eax, word ptr ss:[esp + 6]
      mov ss:[esi + 8], eax
      movzx eax, word ptr ss:[esp + 8]
      mov ss:[esi + 12], eax
      retfw 2`,
    expect: (o) => {
      expectFault(o, 13, 0);
      expect(o.frame(2)).toBe(0x33);
      expect(o.r32(3)).toBe(0x7000 - 10);
      const d = (k: number) => o.mem.read32(D + 4 * k);
      expect([d(0), d(1), d(2), d(3)]).toEqual([0x33, 0xabcd, 0x5ffe, 0x3b]);
      expect(o.r32(7)).toBe(0x6000);
    },
  },
  {
    name: 'JMP through a call gate at the same privilege: no push, at the gate target',
    asm: `
      CGATE 0x40, 2f, 0x08, 0x8c00
      ljmp 0x40, 0x1234
      mov esi, 1
    2:mov edi, esp
      mov ebx, 7`,
    expect: (o) => {
      expectHalt(o);
      expect(o.r32(6)).toBe(0);
      expect(o.r32(3)).toBe(7);
      expect(o.r32(7)).toBe(0x7000);
    },
  },
  {
    name: 'JMP through a call gate to a more privileged non-conforming segment raises #GP(target selector)',
    asm: `
      CGATE 0x40, 2f, 0x08, 0xec00
      TO_RING3 1f
    1:ljmp 0x43, 0
    2:mov ebx, 1`,
    expect: (o) => {
      expectFault(o, 13, 0x08);
      expect(o.r32(3)).toBe(0);
    },
  },
  {
    name: 'CALL from CPL3 through a DPL0 call gate raises #GP(gate selector)',
    asm: `
      CGATE 0x40, 2f, 0x08, 0x8c00
      TO_RING3 1f
    1:lcall 0x40, 0
    2:mov ebx, 1`,
    expect: (o) => {
      expectFault(o, 13, 0x40);
      expect(o.r32(3)).toBe(0);
    },
  },
  // ---------------------------------------------------------------- 13. virtual-8086 mode
  {
    name: 'V86: IRETD with VM = 1 enters real-mode addressing at CPL3; INT n (IOPL 3) reaches a DPL0 handler with GS/FS/DS/ES/SS/ESP on the TSS stack and DS null; IRETD returns',
    asm: `
      IDTSET 0x21, 3f, 0xee00
      TO_V86 1f, 0x0800, 0x0500, 0x0100, 0x0300, 0x23002
      .code16
    1:mov word ptr [0x10], 0x5555
      cli
      sti
      mov ax, 0x77
      int 0x21
      mov word ptr [0x12], ax
      mov bx, ss
      mov cx, sp
      hlt
      .code32
    3:mov esi, ${D} + 0x100
      mov ebx, esp
      mov ecx, 9
    4:mov eax, ss:[esp + ecx * 4 - 4]
      mov ss:[esi + ecx * 4 - 4], eax
      loop 4b
      mov eax, ds
      mov ss:[esi + 36], eax
      mov eax, cs
      mov ss:[esi + 40], eax
      mov eax, 0x99
      iretd`,
    expect: (o) => {
      expectFault(o, 13, 0); // the HLT in V86 mode
      expect(o.frame(2)).toBe(0x0800);
      expect(o.frame(3) & 0x20000).toBe(0x20000);
      expect(o.frame(5)).toBe(0x0500);
      expect(o.mem.read16(0x3010)).toBe(0x5555); // DS = 0x300: linear 0x3000 + 0x10
      expect(o.mem.read16(0x3012)).toBe(0x99); // EAX from the handler
      expect(o.r32(3) & 0xffff).toBe(0x0500);
      expect(o.r32(1) & 0xffff).toBe(0x0100);
      const d = (k: number) => o.mem.read32(D + 0x100 + 4 * k);
      expect(d(1)).toBe(0x0800); // CS
      expect(d(2) & 0x20000).toBe(0x20000); // EFLAGS.VM
      expect([d(3), d(4), d(5), d(6), d(7), d(8)]).toEqual([0x100, 0x500, 0x300, 0x300, 0, 0]);
      expect(d(9) & 0xffff).toBe(0); // DS null in the handler
      expect(d(10) & 0xffff).toBe(0x08);
      expect(o.mem.read32(D + 0x100 - 4)).toBe(0); // nothing below the frame written by the copy
    },
  },
  {
    name: 'V86 with IOPL 3: PUSHF, POPF and a real-mode style IRET run in V86 mode; POPF keeps IOPL',
    asm: `
      TO_V86 1f, 0x0800, 0x0500, 0x0100, 0x0300, 0x23002
      .code16
    1:pushf
      pop ax
      push 0x0402
      popf
      pushf
      pop bx
      pushf
      push cs
      push offset 2f - 0x8000
      iret
      mov si, 1
    2:mov cx, sp
      hlt
      .code32`,
    expect: (o) => {
      expectFault(o, 13, 0); // the HLT
      expect(o.r32(0) & 0xffff).toBe(0x3002); // IOPL 3 visible, VM not in the 16-bit image
      expect(o.r32(3) & 0xffff).toBe(0x3402); // DF set, IOPL unchanged at CPL3
      expect(o.r32(6)).toBe(0);
      expect(o.r32(1) & 0xffff).toBe(0x100);
      expect(o.frame(3) & 0x23400).toBe(0x23400);
    },
  },
  {
    name: 'V86: an exception (#UD) goes to the ring-0 handler with the V86 frame (error-code-less)',
    asm: `
      TO_V86 1f, 0x0800, 0x0500, 0x0100, 0x0300, 0x23002
      .code16
    1:mov ax, 1
      ud2
      .code32`,
    expect: (o) => {
      expectFault(o, 6);
      expect(o.mem.read16(0x8000 + o.frame(0))).toBe(0x0b0f); // EIP: the UD2
      expect(o.frame(1)).toBe(0x0800);
      expect(o.frame(2) & 0x20000).toBe(0x20000);
      expect(o.frame(3)).toBe(0x100);
      expect(o.frame(4)).toBe(0x500);
      expect(o.frame(5)).toBe(0x300); // ES
    },
  },
  ...['cli', 'sti', 'pushf', 'popf', 'int 0x21', 'iret', 'pushfd', 'iretd'].map(
    (insn): Check => ({
      name: `V86 with IOPL 0: ${insn} raises #GP(0) at the instruction`,
      asm: `
        TO_V86 1f, 0x0800, 0x0500, 0x0100, 0x0300, 0x20002
        .code16
      1:nop
      2:${insn}
        .code32
      3:`,
      expect: (o) => {
        expectFault(o, 13, 0);
        expect(o.frame(2)).toBe(0x0800);
        // the EIP pushed is the faulting instruction's: 1 byte after the label 1 (the NOP)
        const ip = o.frame(1);
        expect(o.mem.read8(0x8000 + ip - 1)).toBe(0x90);
      },
    }),
  ),
  {
    name: 'V86: I/O goes by the TSS bitmap whatever IOPL: OUT to 0x81 passes, OUT to 0x80 (bit set) and a word OUT at 0x7f raise #GP(0)',
    asm: `
      TO_V86 1f, 0x0800, 0x0500, 0x0100, 0x0300, 0x20002
      .code16
    1:mov al, 0x42
      out 0x81, al
      mov dx, 0x7f
      mov si, 1
      out dx, ax
      .code32`,
    expect: (o) => {
      expectFault(o, 13, 0);
      if (o.outs !== null) expect(o.outs).toEqual([{ port: 0x81, value: 0x42 }]);
      expect(o.r32(6) & 0xffff).toBe(1);
    },
  },
  {
    name: 'V86: OUT to a port whose bitmap bit is set raises #GP(0) even with IOPL 3',
    asm: `
      TO_V86 1f, 0x0800, 0x0500, 0x0100, 0x0300, 0x23002
      .code16
    1:out 0x80, al
      .code32`,
    expect: (o) => {
      expectFault(o, 13, 0);
      if (o.outs !== null) expect(o.outs).toEqual([]);
    },
  },
  {
    name: 'protected mode at CPL3 with IOPL 0: the TSS bitmap allows 0x81 and refuses 0x80',
    asm: `
      TO_RING3 1f
    1:mov al, 7
      out 0x81, al
      out 0x80, al`,
    expect: (o) => {
      expectFault(o, 13, 0);
      if (o.outs !== null) expect(o.outs).toEqual([{ port: 0x81, value: 7 }]);
    },
  },
];

if (!hasAssembler()) console.log('skipped: GNU as not available: legacy-mode conformance programs');

if (hasAssembler() && !hasQemu())
  console.log('skipped: qemu-system-x86_64 not available: legacy programs run on the emulator only');

describe.skipIf(!hasAssembler())('legacy-mode conformance programs', () => {
  for (const c of checks) {
    it.each(SIDES)(`${c.name} (%s)`, (side) => {
      c.expect(runLegacy(c.asm, side));
    });
    if (c.qemu === undefined && hasQemu())
      it(`${c.name} (qemu tcg)`, async () => {
        c.expect(await runLegacyQemu(c.asm));
      }, 30_000);
  }
});
