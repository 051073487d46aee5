import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { assemble, hasAssembler } from '../test/assemble.js';
import { Cpu } from './cpu.js';

/**
 * Real mode -> 32-bit protected mode (flat GDT, 32-bit paging with a 4 MiB page, then PAE) ->
 * long mode (4-level paging) -> 64-bit code; each stage leaves a result in memory.
 */
const BOOT = `
  .code16
start:
  cli
  xor ax, ax
  mov ds, ax
  mov ss, ax
  mov sp, 0x7000
  mov word ptr [0xc0], offset isr30   # IVT entry 0x30
  mov word ptr [0xc2], 0
  mov word ptr [0x500], 0x1616        # real-mode store
  mov bx, 0x510
  mov si, 4
  mov byte ptr [bx + si], 0x42        # 16-bit addressing: [bx+si]
  int 0x30                            # IVT handler sets [0x520]
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
  mov esp, 0x7000
  mov dword ptr [0x600], 0x32323232
  # 32-bit paging: PDE 0 = 4 MiB page identity, PDE 1 -> 4 MiB page at 8 MiB
  mov dword ptr [0x10000], 0x00000083
  mov dword ptr [0x10004], 0x00800083
  mov eax, cr4
  or eax, 0x10                        # PSE
  mov cr4, eax
  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  mov dword ptr [0x400100], 0x5a5a5a5a  # linear 4 MiB + 0x100 -> physical 8 MiB + 0x100
  mov eax, cr0
  and eax, 0x7fffffff
  mov cr0, eax
  # long mode: PML4 @0x20000 -> PDPT @0x21000 -> PD @0x22000 (2 MiB pages)
  mov dword ptr [0x20000], 0x21003
  mov dword ptr [0x21000], 0x22003
  mov dword ptr [0x22000], 0x000083
  mov dword ptr [0x22008], 0x200083
  mov dword ptr [0x22010], 0x400083
  mov dword ptr [0x22018], 0x600083
  mov eax, cr4
  or eax, 0x20                        # PAE
  mov cr4, eax
  mov eax, 0x20000
  mov cr3, eax
  mov ecx, 0xc0000080
  rdmsr
  or eax, 0x100                       # LME
  wrmsr
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  .byte 0xea
  .long lm64
  .word 0x18
  .code64
lm64:
  mov rax, 0x6464646464646464
  mov [0x700], rax
  lea rbx, [rip + lm64]
  mov [0x708], rbx
  mov rcx, 0xc0000080
  rdmsr
  mov [0x710], eax
  hlt
  .balign 8
gdt:
  .quad 0
  .quad 0x00cf9a000000ffff            # 0x08 code32
  .quad 0x00cf92000000ffff            # 0x10 data
  .quad 0x00af9a000000ffff            # 0x18 code64
gdtr:
  .word 31
  .long gdt
  .code16
isr30:
  mov word ptr [0x520], 0x3030
  iretw
`;

describe.skipIf(!hasAssembler())('mode switches', () => {
  it('goes from real mode through 32-bit paging and PAE to 64-bit long mode', () => {
    const base = 0x8000;
    const mem = GuestMemory.createShared([{ start: 0, size: 0x1000000 }]);
    const code = assemble(
      BOOT.replace('  .code16\nstart:', `  .code16\n  .org ${base}\nstart:`),
      16,
    ).subarray(base);
    mem.writeBytes(base, code);
    const cpu = new Cpu(mem);
    cpu.resetRealMode(0, base);
    const exit = cpu.run(100_000);
    expect(exit.kind).toBe('hlt');
    expect(mem.read16(0x500)).toBe(0x1616);
    expect(mem.read8(0x514)).toBe(0x42);
    expect(mem.read16(0x520)).toBe(0x3030);
    expect(mem.read32(0x600)).toBe(0x32323232);
    expect(mem.read32(0x800100)).toBe(0x5a5a5a5a);
    expect(mem.read32(0x400100)).toBe(0);
    expect(mem.read64(0x700)).toBe(0x6464646464646464n);
    expect(Number(mem.read64(0x708))).toBeGreaterThan(base);
    expect(mem.read32(0x710) & 0x500).toBe(0x500); // LME | LMA
    expect(cpu.code64).toBe(true);
  });

  it('delivers a protected-mode #PF through a 32-bit IDT with CR2 and the error code', () => {
    const src = `
      .code32
      .org 0x8000
    start:
      mov eax, 0x10000
      mov dword ptr [eax], 0x00000083       # 4 MiB identity page, supervisor
      mov eax, cr4
      or eax, 0x10
      mov cr4, eax
      mov eax, 0x10000
      mov cr3, eax
      mov eax, cr0
      or eax, 0x80010000                    # PG | WP
      mov cr0, eax
      lidt [idtr]
      mov eax, [0x00c00004]                 # not present -> #PF(0)
      hlt
    pf:
      pop ebx                               # error code
      mov ecx, cr2
      hlt
      .balign 8
    idt:
      .fill 14, 8, 0
      .word pf, 0x08, 0x8e00, 0
    idtr:
      .word 15 * 8 - 1
      .long idt
    `;
    const bin = assemble(src, 32).subarray(0x8000);
    const mem = GuestMemory.createShared([{ start: 0, size: 0x1000000 }]);
    mem.writeBytes(0x8000, bin);
    // GDT with flat 32-bit segments at 0x7000
    mem.write32(0x7008, 0x0000ffff);
    mem.write32(0x700c, 0x00cf9a00);
    mem.write32(0x7010, 0x0000ffff);
    mem.write32(0x7014, 0x00cf9200);
    const cpu = new Cpu(mem);
    const s = cpu.getSregs();
    const flat = (sel: number, type: number) => ({
      ...s.cs,
      base: 0n,
      limit: 0xffffffff,
      selector: sel,
      type,
      s: 1,
      present: 1,
      dpl: 0,
      db: 1,
      g: 1,
      l: 0,
      unusable: 0,
    });
    cpu.setSregs({
      ...s,
      cs: flat(8, 11),
      ds: flat(0x10, 3),
      es: flat(0x10, 3),
      ss: flat(0x10, 3),
      fs: flat(0x10, 3),
      gs: flat(0x10, 3),
      gdt: { base: 0x7000n, limit: 0x17 },
      cr0: 0x11n,
    });
    cpu.setRegs({ ...cpu.getRegs(), rip: 0x8000n, rsp: 0x7000n, rflags: 2n });
    expect(cpu.run(10_000).kind).toBe('hlt');
    expect(cpu.getRegs().rcx).toBe(0xc00004n);
    expect(cpu.getRegs().rbx).toBe(0n); // not present, read, supervisor
  });
});
