// Legacy-mode conformance (issue 20, items 11-14 and 16): 16-bit stacks, segment limits and types,
// call gates and virtual-8086 mode, each as a small guest program with the SDM's expectations, run
// on the emulator's interpreter and with every block compiled (WebAssembly and JavaScript). This
// host's KVM (PVM) cannot run these modes, so they are emulator-only (see legacy.ts).
import { describe, expect, it } from 'vitest';
import { hasAssembler } from './assemble.js';
import { LEGACY, type LegacyOutcome, type LegacySide, runLegacy } from './legacy.js';

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
    asm: `
      DESC 0x40, 0x0000ffff, 0x00cf9000
      mov ax, 0x40
      mov fs, ax
      add dword ptr fs:[${D}], 1`,
    expect: (o) => expectFault(o, 13, 0),
  },
  {
    name: 'REP STOSD into a read-only ES raises #GP(0)',
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
    name: 'a PUSH past the bottom of an expand-down stack (16-bit, limit 0x0fff) raises #SS(0)',
    asm: `
      DESC 0x58, 0x00000fff, 0x00009600
      mov ax, 0x58
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
];

if (!hasAssembler()) console.log('skipped: GNU as not available: legacy-mode conformance programs');

describe.skipIf(!hasAssembler())('legacy-mode conformance programs', () => {
  for (const c of checks) {
    it.each(SIDES)(`${c.name} (%s)`, (side) => {
      c.expect(runLegacy(c.asm, side));
    });
  }
});
