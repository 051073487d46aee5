// CPU conformance: the defects found by running bare-metal x86 test kernels beside QEMU TCG, each
// as a small guest program with the expectations of the manuals, checked on the emulator (the
// emulated backend, and a bare CPU with every block compiled) and under /dev/kvm where this host's
// KVM runs the program (`kvm: '<reason>'` says why not).
import { describe, expect, it } from 'vitest';
import {
  canAssemble,
  canRunKvm,
  exceptionOf,
  type Program,
  reg,
  runOn,
  type Side,
  sidesOf,
} from './conformance.js';
import type { Outcome } from './difftest/runner.js';

interface Check {
  name: string;
  program: Program;
  /** false or a reason: not run under KVM here. */
  kvm?: string;
  expect: (o: Outcome) => void;
}

const RF = 0x10000n;
const PVM_WINDOW =
  'this host (PVM) takes a pending interrupt at its next exit, not when STI, IRET or MOV CR8 opens the window';
const PVM_LEGACY =
  'this host (PVM) raises #UD for ARPL, BOUND and the BCD instructions in compatibility mode';
const TF = 0x100n;

/** Expects the outcome to be exception `vector` (error code `error`, or none) at RIP `rip`. */
function expectFault(o: Outcome, vector: number, rip: bigint, error?: number): { rflags: bigint } {
  const x = exceptionOf(o);
  expect(x, `exit kind ${o.kind} at 0x${o.addr.toString(16)}`).not.toBeNull();
  expect(x!.vector).toBe(vector);
  if (error !== undefined) expect(x!.error).toBe(error);
  expect(x!.rip).toBe(rip);
  return { rflags: x!.rflags };
}

function expectDone(o: Outcome): void {
  const x = exceptionOf(o);
  expect(
    x === null
      ? `kind ${o.kind} @0x${o.addr.toString(16)}`
      : `exception ${x.vector} at 0x${x.rip.toString(16)}`,
  ).toBe('kind 0 @0x30000100');
}

const checks: Check[] = [
  // ---------------------------------------------------------------- 1. APIC base and x2APIC
  {
    name: 'IA32_APIC_BASE: with x2APIC in CPUID the enable bit switches the LAPIC to x2APIC mode',
    program: {
      irqchip: true,
      asm: `
        mov ecx, 0x1b
        rdmsr
        or eax, 0x400
        wrmsr
        rdmsr
        mov r8, rax
        mov ecx, 0x802
        rdmsr
        mov r9, rax
        mov eax, 1
        cpuid
        mov r10, rcx`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r8')).toBe(0xfee00d00n);
      expect(reg(o, 'r9')).toBe(0n); // x2APIC ID
      expect(reg(o, 'r10') & (1n << 21n)).not.toBe(0n); // CPUID.1:ECX.x2APIC offered
    },
  },
  {
    name: 'IA32_APIC_BASE: without x2APIC in CPUID the enable bit raises #GP and the xAPIC page stays',
    program: {
      irqchip: true,
      noX2apic: true,
      asm: `
        MAPAPIC
        GATE 13, 1f
        mov ecx, 0x1b
        rdmsr
        or eax, 0x400
        lea r14, [rip + 2f]
      2:wrmsr
        mov r8, 1
        jmp 3f
      1:mov r9, [rsp]
        mov r10, [rsp + 8]
        mov ecx, 0x1b
        rdmsr
        mov r11, rax
        mov r12d, [rsi + 0x30]
        mov r13d, [rsi + 0x300]
      3:`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r8')).toBe(0n);
      expect(reg(o, 'r9')).toBe(0n); // #GP(0)
      expect(reg(o, 'r10')).toBe(reg(o, 'r14'));
      expect(reg(o, 'r11')).toBe(0xfee00900n);
      expect(reg(o, 'r12')).toBe(0x50014n); // LAPIC version still at 0xfee00030
      expect(reg(o, 'r13') & 0x1000n).toBe(0n); // ICR delivery status idle
    },
  },
  // ---------------------------------------------------------------- 2. CPUID.APIC and CR8
  {
    name: 'CPUID.1:EDX.APIC follows the global enable bit of IA32_APIC_BASE',
    program: {
      irqchip: true,
      asm: `
        mov ecx, 0x1b
        rdmsr
        mov r12, rax
        and eax, ~0x800
        wrmsr
        mov eax, 1
        cpuid
        mov r8, rdx
        mov ecx, 0x1b
        mov rax, r12
        xor edx, edx
        wrmsr
        mov eax, 1
        cpuid
        mov r9, rdx`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r8') & 0x200n).toBe(0n);
      expect(reg(o, 'r9') & 0x200n).toBe(0x200n);
    },
  },
  {
    name: 'CR8 is the LAPIC task priority: MOV CR8 writes TPR[7:4], a TPR write reads back through CR8',
    program: {
      irqchip: true,
      asm: `
        MAPAPIC
        mov eax, 5
        mov cr8, rax
        mov ebx, [rsi + 0x80]
        mov dword ptr [rsi + 0x80], 0x70
        mov rcx, cr8
        xor eax, eax
        mov cr8, rax
        mov edx, [rsi + 0x80]`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'rbx')).toBe(0x50n);
      expect(reg(o, 'rcx')).toBe(7n);
      expect(reg(o, 'rdx')).toBe(0n);
    },
  },
  // ---------------------------------------------------------------- 3. single-step and breakpoints
  {
    name: 'TF: #DB after the next instruction with DR6.BS, TF in the image and RF clear',
    program: {
      asm: `
        GATE 1, 1f
        lea r11, [rip + 2f]
        pushfq
        or qword ptr [rsp], 0x100
        popfq
        nop
      2:nop
        nop
        mov r12, 1
        jmp 3f
      1:mov r8, dr6
        mov r9, [rsp]
        mov r10, [rsp + 16]
      3:`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r12')).toBe(0n);
      expect(reg(o, 'r9')).toBe(reg(o, 'r11'));
      expect(reg(o, 'r8') & 0x400fn).toBe(0x4000n);
      expect(reg(o, 'r10') & (TF | RF)).toBe(TF);
    },
  },
  {
    name: 'TF at CPL3: the #DB comes after the instruction following POPF',
    program: {
      mode: 3,
      asm: `
        lea r14, [rip + 1f]
        pushfq
        or qword ptr [rsp], 0x100
        popfq
        inc rbx
      1:inc rbx`,
    },
    expect: (o) => {
      const { rflags } = expectFault(o, 1, reg(o, 'r14'));
      expect(reg(o, 'rbx')).toBe(1n);
      expect(rflags & (TF | RF)).toBe(TF);
    },
  },
  {
    name: 'TF: no single-step trap after INT3 (its delivery clears TF): #BP, with TF in the image',
    program: {
      mode: 3,
      asm: `
        pushfq
        or qword ptr [rsp], 0x100
        popfq
        int3
        lea r14, [rip]`,
    },
    expect: (o) => {
      const x = exceptionOf(o);
      expect(x?.vector).toBe(3);
      expect(x!.rflags & (TF | RF)).toBe(TF);
    },
  },
  {
    name: 'TF: a faulting instruction raises its fault, not the trap; the image has TF and RF',
    program: {
      mode: 3,
      asm: `
        lea r14, [rip + 1f]
        pushfq
        or qword ptr [rsp], 0x100
        popfq
      1:ud2`,
    },
    expect: (o) => {
      const { rflags } = expectFault(o, 6, reg(o, 'r14'));
      expect(rflags & (TF | RF)).toBe(TF | RF);
    },
  },
  {
    // at CPL3: this host's KVM (PVM) emulates a kernel's MOV SS without its shadow
    name: 'TF: MOV SS holds the single-step trap back until after the next instruction',
    program: {
      mode: 3,
      asm: `
        lea r14, [rip + 1f]
        mov ax, ss
        pushfq
        or qword ptr [rsp], 0x100
        popfq
        mov ss, ax
        inc rbx
      1:inc rbx`,
    },
    expect: (o) => {
      expectFault(o, 1, reg(o, 'r14'));
      expect(reg(o, 'rbx')).toBe(1n);
    },
  },
  {
    name: 'DR7 execute breakpoint: #DB before the instruction (DR6.B0, RF clear); RF from the handler lets it run once',
    program: {
      asm: `
        GATE 1, 1f
        lea rax, [rip + 2f]
        mov dr0, rax
        mov eax, 0x402
        mov dr7, rax
        xor ebx, ebx
      2:inc rbx
        inc rbx
        xor eax, eax
        mov dr7, rax
        lea r11, [rip + 2b]
        jmp 3f
      1:inc r12
        mov r8, dr6
        mov r9, [rsp]
        mov r10, [rsp + 16]
        or qword ptr [rsp + 16], 0x10000
        iretq
      3:`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r12')).toBe(1n);
      expect(reg(o, 'rbx')).toBe(2n);
      expect(reg(o, 'r9')).toBe(reg(o, 'r11'));
      expect(reg(o, 'r8') & 0xfn).toBe(1n);
      expect(reg(o, 'r10') & RF).toBe(0n);
    },
  },
  {
    name: 'DR7 data breakpoint (write, 4 bytes): #DB after the store with DR6.B1; reads and other addresses do not hit',
    kvm: 'this host (PVM) does not deliver data breakpoints',
    program: {
      asm: `
        GATE 1, 1f
        lea rax, [r15 + 0x100]
        mov dr1, rax
        mov eax, 0xd00408
        mov dr7, rax
        mov dword ptr [r15 + 0x102], 7
      2:mov ebx, [r15 + 0x100]
        mov dword ptr [r15 + 0x200], 9
        mov dword ptr [r15 + 0x104], 9
        xor eax, eax
        mov dr7, rax
        lea r11, [rip + 2b]
        jmp 3f
      1:inc r12
        mov r8, dr6
        mov r9, [rsp]
        iretq
      3:`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r12')).toBe(1n);
      expect(reg(o, 'r9')).toBe(reg(o, 'r11'));
      expect(reg(o, 'r8') & 0xfn).toBe(2n);
      expect(reg(o, 'rbx')).toBe(0x70000n);
    },
  },
  // ---------------------------------------------------------------- 4. reserved bits in paging
  {
    name: '#PF: with EFER.NXE = 0, bit 63 of a PDE is reserved (error code P | RSVD, CR2)',
    program: {
      asm: `
        GATE 14, 1f
        mov ecx, 0xc0000080
        rdmsr
        and eax, ~0x800
        wrmsr
        mov rax, [0x3000 + 5 * 8]
        bts rax, 63
        mov [0x3000 + 5 * 8], rax
        invlpg [0xa00000]
        lea r11, [rip + 2f]
      2:mov rbx, [0xa00010]
        mov r12, 1
        jmp 3f
      1:mov r8, cr2
        mov r9, [rsp]
        mov r10, [rsp + 8]
      3:`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r12')).toBe(0n);
      expect(reg(o, 'r8')).toBe(0xa00010n);
      expect(reg(o, 'r9')).toBe(0x9n);
      expect(reg(o, 'r10')).toBe(reg(o, 'r11'));
    },
  },
  {
    name: '#PF: a physical-address bit above MAXPHYADDR in a PDE is reserved (write: P | W | RSVD); bit 63 with NXE = 1 is not',
    program: {
      asm: `
        GATE 14, 1f
        mov rax, [0x3000 + 6 * 8]
        bts rax, 63
        mov [0x3000 + 6 * 8], rax
        invlpg [0xc00000]
        mov rbx, [0xc00000]
        mov r13, 1
        mov rax, [0x3000 + 5 * 8]
        bts rax, 51
        mov [0x3000 + 5 * 8], rax
        invlpg [0xa00000]
        lea r11, [rip + 2f]
      2:mov qword ptr [0xa00000], 1
        mov r12, 1
        jmp 3f
      1:mov r8, cr2
        mov r9, [rsp]
        mov r10, [rsp + 8]
      3:`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r13')).toBe(1n);
      expect(reg(o, 'r12')).toBe(0n);
      expect(reg(o, 'r8')).toBe(0xa00000n);
      expect(reg(o, 'r9')).toBe(0xbn);
      expect(reg(o, 'r10')).toBe(reg(o, 'r11'));
    },
  },
  // ---------------------------------------------------------------- 5. interrupt windows
  {
    name: 'an interrupt pending across `sti; nop; cli` is taken after the NOP',
    kvm: PVM_WINDOW,
    program: {
      irqchip: true,
      asm: `
        MAPAPIC
        mov dword ptr [rsi + 0xf0], 0x1ff
        cli
        mov dword ptr [rsi + 0x300], 0x40040
        lea r14, [rip + 1f]
        sti
        nop
      1:cli
        mov r12, 1`,
    },
    expect: (o) => {
      expectFault(o, 0x40, reg(o, 'r14'));
      expect(reg(o, 'r12')).toBe(0n);
    },
  },
  {
    name: 'an interrupt pending while IF = 0 is taken right after IRET sets IF',
    kvm: PVM_WINDOW,
    program: {
      irqchip: true,
      asm: `
        MAPAPIC
        mov dword ptr [rsi + 0xf0], 0x1ff
        cli
        mov dword ptr [rsi + 0x300], 0x40040
        lea r14, [rip + 1f]
        mov rax, rsp
        push 0x10
        push rax
        push 0x202
        push 0x08
        push r14
        iretq
      1:cli
        mov r12, 1`,
    },
    expect: (o) => {
      expectFault(o, 0x40, reg(o, 'r14'));
      expect(reg(o, 'r12')).toBe(0n);
    },
  },
  {
    name: 'an interrupt held off by CR8 is taken right after MOV CR8 lowers the priority',
    kvm: PVM_WINDOW,
    program: {
      irqchip: true,
      asm: `
        MAPAPIC
        mov dword ptr [rsi + 0xf0], 0x1ff
        mov eax, 15
        mov cr8, rax
        sti
        mov dword ptr [rsi + 0x300], 0x40040
        nop
        lea r14, [rip + 1f]
        xor eax, eax
        mov cr8, rax
      1:cli
        mov r12, 1`,
    },
    expect: (o) => {
      expectFault(o, 0x40, reg(o, 'r14'));
      expect(reg(o, 'r12')).toBe(0n);
    },
  },
  // ---------------------------------------------------------------- 6. RF in fault frames
  {
    name: 'faults push RF = 1 (#UD, #GP), traps do not (#BP)',
    program: {
      mode: 3,
      asm: `
        lea r14, [rip + 1f]
      1:ud2`,
    },
    expect: (o) => {
      const { rflags } = expectFault(o, 6, reg(o, 'r14'));
      expect(rflags & RF).toBe(RF);
    },
  },
  {
    name: 'a #GP (non-canonical load) pushes RF = 1',
    program: {
      mode: 3,
      asm: `
        mov rax, 0x0000800000000000
        lea r14, [rip + 1f]
      1:mov rbx, [rax]`,
    },
    expect: (o) => {
      const { rflags } = expectFault(o, 13, reg(o, 'r14'), 0);
      expect(rflags & RF).toBe(RF);
    },
  },
  {
    name: 'INT3 (a trap) pushes RF = 0',
    program: {
      mode: 3,
      asm: `
        int3
        lea r14, [rip]`,
    },
    expect: (o) => {
      const x = exceptionOf(o);
      expect(x?.vector).toBe(3);
      expect(x!.rflags & RF).toBe(0n);
    },
  },
  // ---------------------------------------------------------------- 7. write-only MSR
  {
    name: 'RDMSR of IA32_PRED_CMD (write-only) raises #GP(0); WRMSR of IBPB is accepted',
    program: {
      asm: `
        mov ecx, 0x49
        mov eax, 1
        xor edx, edx
        wrmsr
        lea r14, [rip + 1f]
      1:rdmsr`,
    },
    expect: (o) => {
      const { rflags } = expectFault(o, 13, reg(o, 'r14'), 0);
      expect(rflags & RF).toBe(RF);
    },
  },
  // ---------------------------------------------------------------- 8. canonical descriptor bases
  {
    name: 'LIDT with a non-canonical base raises #GP(0)',
    program: {
      asm: `
        mov word ptr [r15], 0xfff
        mov rax, 0x0000800000006000
        mov [r15 + 2], rax
        lea r14, [rip + 1f]
      1:lidt [r15]`,
    },
    expect: (o) => {
      expectFault(o, 13, reg(o, 'r14'), 0);
    },
  },
  {
    name: 'LGDT with a non-canonical base raises #GP(0)',
    program: {
      asm: `
        mov word ptr [r15], 0x3f
        mov rax, 0xffff700000005000
        mov [r15 + 2], rax
        lea r14, [rip + 1f]
      1:lgdt [r15]`,
    },
    expect: (o) => {
      expectFault(o, 13, reg(o, 'r14'), 0);
    },
  },
  {
    name: 'LLDT of a descriptor with a non-canonical base raises #GP(selector)',
    program: {
      asm: `
        mov dword ptr [0x5040], 0x0000ffff
        mov dword ptr [0x5044], 0x00008200
        mov dword ptr [0x5048], 0x00008000
        mov dword ptr [0x504c], 0
        mov word ptr [r15], 0x5f
        mov qword ptr [r15 + 2], 0x5000
        lgdt [r15]
        mov ax, 0x40
        lea r14, [rip + 1f]
      1:lldt ax`,
    },
    expect: (o) => {
      expectFault(o, 13, reg(o, 'r14'), 0x40);
    },
  },
  {
    name: 'LTR of a TSS descriptor with a non-canonical base raises #GP(selector)',
    program: {
      asm: `
        mov dword ptr [0x5050], 0x00000067
        mov dword ptr [0x5054], 0x00008900
        mov dword ptr [0x5058], 0xffff0000
        mov dword ptr [0x505c], 0
        mov word ptr [r15], 0x5f
        mov qword ptr [r15 + 2], 0x5000
        lgdt [r15]
        mov ax, 0x50
        lea r14, [rip + 1f]
      1:ltr ax`,
    },
    expect: (o) => {
      expectFault(o, 13, reg(o, 'r14'), 0x50);
    },
  },
  // ---------------------------------------------------------------- 9. hypercalls
  {
    name: "VMCALL follows KVM's ABI: unknown numbers return -KVM_ENOSYS, KVM_HC_VAPIC_POLL_IRQ returns 0",
    kvm: 'VMCALL from a CPL0 guest never reaches KVM on this host (PVM: KVM_RUN times out)',
    program: {
      hypercall: true,
      asm: `
        mov eax, 12345
        vmcall
        mov r8, rax
        mov eax, 1
        vmcall
        mov r9, rax
        mov eax, 9
        lea rbx, [r15 + 0x40]
        xor ecx, ecx
        vmcall
        mov r10, rax
        mov rax, 0x100000000
        vmmcall
        mov r11, rax`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r8')).toBe(BigInt.asUintN(64, -1000n));
      expect(reg(o, 'r9')).toBe(0n);
      expect(reg(o, 'r10')).toBe(0n); // KVM_HC_CLOCK_PAIRING: kvm-clock is on
      const dv = new DataView(o.data.buffer, o.data.byteOffset + 0x40, 64);
      expect(dv.getBigInt64(0, true)).toBeGreaterThan(1_700_000_000n); // seconds of wall-clock time
      expect(dv.getBigUint64(16, true)).toBeGreaterThan(0n); // the TSC at that instant
      expect(reg(o, 'r11')).toBe(BigInt.asUintN(64, -1000n)); // the whole RAX is the number
    },
  },
  {
    name: 'VMCALL at CPL3 returns -KVM_EPERM',
    kvm: 'VMCALL never reaches KVM on this host (PVM)',
    program: { mode: 3, hypercall: true, asm: 'mov eax, 1\n vmcall\n mov r8, rax' },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'r8')).toBe(BigInt.asUintN(64, -1n));
    },
  },
  // ---------------------------------------------------------------- 10. MMX
  {
    name: 'MMX: MOVQ mm0, rax and back, EMMS, CPUID.1:EDX.MMX set',
    program: {
      mode: 3,
      asm: `
        mov eax, 1
        cpuid
        mov r8, rdx
        mov rax, 0x1122334455667788
        movq mm0, rax
        paddb mm0, mm0
        movq rbx, mm0
        emms`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'rbx')).toBe(0x22446688aaccee10n);
      expect(reg(o, 'r8') & (1n << 23n)).toBe(1n << 23n);
      expect(o.ftw).toBe(0); // EMMS: every register empty
    },
  },
  // ---------------------------------------------------------------- legacy: ARPL, BOUND, DAS
  {
    name: 'ARPL raises the RPL and sets ZF only when it did (compatibility mode)',
    kvm: PVM_LEGACY,
    program: {
      mode: 'compat',
      asm: `
        mov ax, 0x10
        mov bx, 0x3
        arpl ax, bx
        setz cl
        arpl ax, bx
        setz dl`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'rax') & 0xffffn).toBe(0x13n);
      expect(reg(o, 'rcx') & 0xffn).toBe(1n);
      expect(reg(o, 'rdx') & 0xffn).toBe(0n);
    },
  },
  {
    name: 'BOUND passes an index inside the bounds and raises #BR outside (compatibility mode)',
    kvm: PVM_LEGACY,
    program: {
      mode: 'compat',
      asm: `
        mov dword ptr [ebp], 10
        mov dword ptr [ebp + 4], 20
        mov eax, 20
        bound eax, [ebp]
        call 2f
      2:pop esi
        add esi, 1f - 2b
        mov eax, 21
      1:bound eax, [ebp]`,
    },
    expect: (o) => {
      const x = exceptionOf(o);
      expect(x?.vector).toBe(5);
      expect(x!.rip).toBe(reg(o, 'rsi') & 0xffffffffn);
      expect(x!.rflags & RF).toBe(RF);
    },
  },
  {
    name: 'DAS keeps the borrow of the low adjustment: AL = 03h with AF = 1 gives FDh with CF = 1',
    kvm: PVM_LEGACY,
    program: {
      mode: 'compat',
      asm: `
        mov ah, 0x10
        sahf
        mov al, 3
        das
        setc bl`,
    },
    expect: (o) => {
      expectDone(o);
      expect(reg(o, 'rax') & 0xffn).toBe(0xfdn);
      expect(reg(o, 'rbx') & 0xffn).toBe(1n);
    },
  },
];

if (!canAssemble) console.log('skipped: GNU as not available: CPU conformance programs');
if (canAssemble && !canRunKvm)
  console.log('skipped: /dev/kvm not available: conformance programs run on the emulator only');

describe.skipIf(!canAssemble)('CPU conformance programs', () => {
  for (const c of checks) {
    const sides: Side[] = sidesOf(c.program, c.kvm === undefined);
    it.each(sides)(`${c.name} (%s)`, async (side) => {
      c.expect(await runOn(side, c.program));
    });
  }
});
