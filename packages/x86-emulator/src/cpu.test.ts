import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { assemble, hasAssembler } from '../test/assemble.js';
import { Cpu } from './cpu.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from './flat-long-mode.js';

function longModeCpu(code: Uint8Array) {
  const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
  buildFlatImage(mem);
  mem.writeBytes(FLAT.CODE, new Uint8Array([...code, ...DONE_BYTES]));
  const cpu = new Cpu(mem);
  cpu.setSregs(flatSregs());
  cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.USER_STACK), rflags: 0x202n });
  return { mem, cpu };
}

describe('Cpu in long mode (hand-encoded)', () => {
  it('runs mov/add/loop and stops at the MMIO marker', () => {
    // mov ecx, 10 ; xor eax, eax ; l: add eax, ecx ; dec ecx ; jnz l
    const { cpu } = longModeCpu(
      new Uint8Array([0xb9, 10, 0, 0, 0, 0x31, 0xc0, 0x01, 0xc8, 0xff, 0xc9, 0x75, 0xfa]),
    );
    const exit = cpu.run(10_000);
    expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
    expect(cpu.getRegs().rax).toBe(55n);
    expect(cpu.stats().instructions).toBeGreaterThan(30);
  });

  it('delivers #UD through the IDT with the faulting RIP on the kernel stack', () => {
    const { cpu, mem } = longModeCpu(new Uint8Array([0x90, 0x0f, 0x0b]));
    const exit = cpu.run(100);
    expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + 6 });
    const rsp = Number(cpu.getRegs().rsp);
    expect(mem.read64(rsp)).toBe(BigInt(FLAT.CODE + 1));
    expect(mem.read64(rsp + 8)).toBe(BigInt(FLAT.USER_CS));
    expect(cpu.cpl).toBe(0);
  });

  it('raises #PF with CR2 and the error code for a non-present page', () => {
    // mov rax, [0x40000000 + 8]  (outside the 1 GiB identity map)
    const { cpu, mem } = longModeCpu(new Uint8Array([0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x40]));
    const exit = cpu.run(100);
    expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + 14 });
    expect(cpu.cr2).toBe(0x40000008);
    expect(mem.read64(Number(cpu.getRegs().rsp))).toBe(4n); // user read, not present
  });

  it('supplies MMIO reads by re-executing the instruction', () => {
    // mov eax, [0x30000800] ; add eax, 1
    const { cpu } = longModeCpu(new Uint8Array([0x8b, 0x04, 0x25, 0x00, 0x08, 0x00, 0x30, 0x83, 0xc0, 0x01]));
    const exit = cpu.run(100);
    expect(exit).toMatchObject({ kind: 'mmio-read', address: 0x30000800, size: 4 });
    if (exit.kind !== 'mmio-read') throw new Error('unreachable');
    exit.data.set([0x78, 0x56, 0x34, 0x12]);
    const exit2 = cpu.run(100);
    expect(exit2).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
    expect(cpu.getRegs().rax).toBe(0x12345679n);
  });

  it('invalidates decoded blocks when the guest writes its own code', () => {
    // mov byte [rip + patch], 0x05 ; patch: mov eax, 1 -> becomes mov eax, 5
    const code = new Uint8Array([0xc6, 0x05, 0x00, 0x00, 0x00, 0x00, 0x05, 0xb8, 0x01, 0x00, 0x00, 0x00]);
    code[2] = 1; // rip-relative disp: next insn starts at +7, imm byte at +8 -> disp 1
    const { cpu } = longModeCpu(code);
    cpu.run(100);
    expect(cpu.getRegs().rax).toBe(5n);
  });

  it('follows a JMP onto another page in one block, and re-decodes when that page is remapped', () => {
    // at CODE: mov eax, 7 ; jmp 0x200000 (the next 2 MiB page); there: add eax, <n> ; DONE marker
    const jmp = 0x200000 - (FLAT.CODE + 5 + 5);
    const code = new Uint8Array([
      0xb8,
      7,
      0,
      0,
      0,
      0xe9,
      jmp & 0xff,
      (jmp >> 8) & 0xff,
      (jmp >> 16) & 0xff,
      0,
    ]);
    const { cpu, mem } = longModeCpu(code);
    const tail = (n: number) => new Uint8Array([0x83, 0xc0, n, ...DONE_BYTES]);
    mem.writeBytes(0x200000, tail(1));
    mem.writeBytes(0x400000, tail(2));
    cpu.invalidateCode(0x200000, 16);
    expect(cpu.run(100)).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
    expect(cpu.getRegs().rax).toBe(8n);
    cpu.run(0); // completes the marker write
    // map linear 0x200000 to physical 0x400000 (2 MiB PDE 1) and run the same code again
    const pde = mem.read64(FLAT.PD + 8);
    mem.write64(FLAT.PD + 8, (pde & ~0xfffff000n) | 0x400000n);
    cpu.flushTlb(true);
    cpu.setRegs({ ...cpu.getRegs(), rip: BigInt(FLAT.CODE), rax: 0n });
    expect(cpu.run(100)).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
    expect(cpu.getRegs().rax).toBe(9n); // 8 if the block decoded through the old mapping ran again
  });
});

describe.skipIf(!hasAssembler())('Cpu with assembled programs', () => {
  it('computes with 64-bit multiply, divide, shifts and flags', () => {
    const { cpu } = longModeCpu(
      assemble(`
        mov rax, 0x123456789abcdef
        mov rbx, 0xfedcba987
        mul rbx
        mov r8, rax
        mov r9, rdx
        mov rax, 1000000007
        xor edx, edx
        mov rcx, 97
        div rcx
        mov r10, rax
        mov r11, rdx
        mov r12, -5
        sar r12, 1
        mov r13, 1
        shl r13, 63
        bsr r14, r13
      `),
    );
    cpu.run(1000);
    const r = cpu.getRegs();
    const prod = 0x123456789abcdefn * 0xfedcba987n;
    expect(r.r8).toBe(prod & 0xffffffffffffffffn);
    expect(r.r9).toBe(prod >> 64n);
    expect(r.r10).toBe(1000000007n / 97n);
    expect(r.r11).toBe(1000000007n % 97n);
    expect(r.r12).toBe(BigInt.asUintN(64, -3n));
    expect(r.r13).toBe(1n << 63n);
    expect(r.r14).toBe(63n);
  });

  it('runs SSE2 string-style code (pcmpeqb / pmovmskb / bsf)', () => {
    const { cpu, mem } = longModeCpu(
      assemble(`
        mov rdi, 0x200000
        pxor xmm0, xmm0
        movdqu xmm1, [rdi]
        pcmpeqb xmm1, xmm0
        pmovmskb eax, xmm1
        bsf eax, eax
      `),
    );
    mem.writeBytes(FLAT.DATA, new TextEncoder().encode('hello, world\0xyz'));
    cpu.run(1000);
    expect(cpu.getRegs().rax).toBe(12n);
  });
});

describe.skipIf(!hasAssembler())('block compiler', () => {
  const program = assemble(`
      mov edi, 20
      call fib
      mov r8, rax
      mov ecx, 1000
    2:
      push rcx
      shl rcx, 3
      sar rcx, 1
      shr rcx, 2
      add r9, rcx
      pop rcx
      mov [r15 + 8], r9
      mov r10, [r15 + 8]
      dec ecx
      jnz 2b
      jmp 9f
    fib:
      cmp rdi, 2
      jb 1f
      push rdi
      dec rdi
      call fib
      pop rdi
      push rax
      sub rdi, 2
      call fib
      pop rdx
      add rax, rdx
      ret
    1:
      mov rax, rdi
      ret
    9:
  `);
  for (const jitThreshold of [-1, 0, 16]) {
    it(`gives the interpreter's results (jitThreshold ${jitThreshold})`, () => {
      const { cpu } = longModeCpu(program);
      cpu.jitThreshold = jitThreshold;
      cpu.setReg(15, FLAT.DATA);
      const exit = cpu.run(10_000_000);
      expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
      const r = cpu.getRegs();
      expect(r.r8).toBe(6765n);
      expect(r.r9).toBe(BigInt((1000 * 1001) / 2));
      expect(r.r10).toBe(r.r9);
      if (jitThreshold >= 0) expect(cpu.compiledBlocks).toBeGreaterThan(0);
    });
  }
});
