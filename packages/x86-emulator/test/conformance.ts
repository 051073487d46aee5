/**
 * Conformance programs: small guest programs in the flat long-mode image, run on the emulator and,
 * where this host's KVM runs them, under /dev/kvm through the differential tester's harness, so
 * that one set of expectations holds for both. A program runs at CPL0 in 64-bit mode (or at CPL3,
 * or in 32-bit compatibility mode at CPL3) from `FLAT.CODE` with RSP at `FLAT.USER_STACK` and R15
 * at `FLAT.DATA`, and ends with the end marker (an MMIO write); an exception ends it at the flat
 * image's IDT stub for its vector unless the program installs a handler of its own ({@link GATE}).
 *
 * The emulator side runs each program on the emulated backend (`EmulatedHypervisor`, the CPUID it
 * offers, its irqchip when the program asks for one, KVM's hypercalls) and, for programs that need
 * neither an irqchip nor a hypercall, also on a bare `Cpu` with every block compiled to
 * WebAssembly, so that the block compiler is held to the same expectations.
 */
import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Cpu, EmulatedHypervisor } from '../src/index.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs, hasErrorCode } from '../src/testing.js';
import { assemble, hasAssembler } from './assemble.js';
import type { GenCase } from './difftest/generator.js';
import { flatKernelSregs, hasKvm, type Outcome, REG_NAMES, runEmu, runKvm } from './difftest/runner.js';

/** A conformance program. */
export interface Program {
  /** Intel-syntax source; the end marker is appended. */
  asm: string;
  /** 0 (default): 64-bit CPL0; 3: 64-bit CPL3; 'compat': 32-bit compatibility mode at CPL3. */
  mode?: 0 | 3 | 'compat';
  /** Needs the interrupt controller: the emulated backend's irqchip, KVM's in-kernel irqchip. */
  irqchip?: boolean;
  /** Hide x2APIC (CPUID.1:ECX bit 21) from the guest. */
  noX2apic?: boolean;
  /** Initial general registers by kvm_regs name (others 0; RSP and R15 are set). */
  regs?: Partial<Record<'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi' | 'r8' | 'r9', bigint>>;
  /** Uses VMCALL: the emulated backend only (a bare CPU has no hypervisor to call). */
  hypercall?: boolean;
}

/** Where a program ran. */
export type Side = 'kvm' | 'emulated backend' | 'compiled (wasm)';

/**
 * Assembler macros for programs: `GATE vec, label` points IDT vector `vec` at `label` (a 64-bit
 * interrupt gate in the flat image's IDT, kernel CS); `MAPAPIC` maps the xAPIC page (0xfee00000)
 * with a 2 MiB page (uncached) and leaves its address in RSI.
 */
export const MACROS = `
.macro GATE vec, label
  lea rax, [rip + \\label]
  mov word ptr [${FLAT.IDT} + \\vec * 16], ax
  shr rax, 16
  mov word ptr [${FLAT.IDT} + \\vec * 16 + 6], ax
.endm
.macro MAPAPIC
  mov rax, 0x4007
  mov [${FLAT.PDPT} + 3 * 8], rax
  mov rax, 0xfee00093
  mov [0x4000 + 0x1f7 * 8], rax
  mov rax, cr3
  mov cr3, rax
  mov esi, 0xfee00000
.endm
`;

/** Whether programs can be assembled here (GNU as). */
export const canAssemble = hasAssembler();
/** Whether programs also run under /dev/kvm here. */
export const canRunKvm = canAssemble && hasKvm();

let base: Uint8Array | undefined;
function flatBase(): Uint8Array {
  if (base === undefined) {
    const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
    buildFlatImage(mem);
    base = mem.readBytes(0, 0x100000);
  }
  return base;
}

const REGS = REG_NAMES;

function toCase(p: Program): { c: GenCase; code: Uint8Array } {
  const compat = p.mode === 'compat';
  const done = `mov byte ptr [${FLAT.MMIO_BASE + FLAT.DONE}], al`;
  const code = assemble(`${MACROS}\n${p.asm}\n${done}`, compat ? 32 : 64);
  const regs = REGS.map((r) => (p.regs as Record<string, bigint> | undefined)?.[r] ?? 0n);
  return {
    c: {
      asm: p.asm,
      instructions: 0,
      undefFlags: 0,
      regs,
      data: new Uint8Array(4096),
      xmm: new Uint8Array(256),
      compat,
      kernel: (p.mode ?? 0) === 0,
    },
    code,
  };
}

/** Runs `p` under /dev/kvm (check {@link canRunKvm} first). */
export function runOnKvm(p: Program): Outcome {
  const { c, code } = toCase(p);
  return runKvm(flatBase(), [c], [code], { irqchip: p.irqchip, noX2apic: p.noX2apic })[0];
}

/** Runs `p` on a bare CPU with every block compiled to WebAssembly (no irqchip, no hypercalls). */
export function runCompiled(p: Program): Outcome {
  const { c, code } = toCase(p);
  const mem = GuestMemory.createWasm([{ start: 0, size: FLAT.RAM_SIZE }]);
  buildFlatImage(mem);
  const cpu = new Cpu(mem, { jitThreshold: 0, jitAsync: false });
  return runEmu(mem, cpu, [c], [code])[0];
}

/** Runs `p` on the emulated backend (deterministic; the irqchip when `p.irqchip`). */
export async function runOnBackend(p: Program): Promise<Outcome> {
  const { c, code } = toCase(p);
  const hv = new EmulatedHypervisor({ deterministic: true });
  const memory = GuestMemory.createWasm([{ start: 0, size: FLAT.RAM_SIZE }]);
  const vm = await hv.createVm({ memory });
  if (p.irqchip) vm.createIrqchip();
  const vcpu = vm.createVcpu(0);
  try {
    const cpuid = hv.supportedCpuid();
    if (p.noX2apic) for (const e of cpuid) if (e.function === 1) e.ecx = (e.ecx & ~(1 << 21)) >>> 0;
    vcpu.setCpuid(cpuid);
    buildFlatImage(memory);
    memory.writeBytes(FLAT.CODE, code);
    memory.writeBytes(FLAT.DATA, c.data);
    vcpu.setSregs(c.kernel ? flatKernelSregs() : flatSregs(c.compat));
    const regs = { ...zeroRegs(), rip: BigInt(FLAT.CODE), rflags: 0x202n } as Record<string, bigint>;
    REGS.forEach((r, k) => {
      regs[r] = c.regs[k];
    });
    regs.rsp = BigInt(FLAT.USER_STACK);
    regs.r15 = BigInt(FLAT.DATA);
    if (c.compat) regs.rbp = BigInt(FLAT.DATA); // the data base in 32-bit code
    vcpu.setRegs(regs as unknown as ReturnType<typeof zeroRegs>);
    let kind = 2;
    let addr = 0n;
    for (let n = 0; n < 1000; n++) {
      const exit = vcpu.run();
      if (exit.kind === 'interrupted') continue;
      if (exit.kind === 'mmio-write') {
        addr = BigInt(exit.address);
        const a = exit.address - FLAT.MMIO_BASE;
        kind = a === FLAT.DONE ? 0 : a >= 0 && a < 256 ? 1 : 2;
      }
      break;
    }
    const g = vcpu.getRegs();
    const rip = kind === 0 ? g.rip + BigInt(c.compat ? 5 : DONE_BYTES.length) : g.rip;
    const frame: bigint[] = [];
    const rsp = Number(g.rsp);
    for (let j = 0; j < 6; j++)
      frame.push(kind === 1 && rsp + 48 <= FLAT.RAM_SIZE ? memory.read64(rsp + 8 * j) : 0n);
    const f = vcpu.getFpu();
    const out = REGS.map((r) => (g as unknown as Record<string, bigint>)[r]);
    return {
      kind,
      usec: 0,
      addr,
      regs: [...out, rip, g.rflags],
      frame,
      data: memory.readBytes(FLAT.DATA, 4096),
      xmm: f.xmm,
      mxcsr: f.mxcsr,
      x87: f.fpr,
      fsw: f.fsw,
      ftw: f.ftwx,
    };
  } finally {
    vcpu.close();
    vm.close();
  }
}

/**
 * The sides `p` runs on here: the emulated backend, the compiled bare CPU where it can, and KVM
 * when available and `kvm` (false for a program this host's KVM cannot run).
 */
export function sidesOf(p: Program, kvm = true): Side[] {
  const sides: Side[] = ['emulated backend'];
  if (!p.irqchip && !p.hypercall && !p.noX2apic) sides.push('compiled (wasm)');
  if (kvm && canRunKvm) sides.push('kvm');
  return sides;
}

/** Runs `p` on `side`. */
export async function runOn(side: Side, p: Program): Promise<Outcome> {
  if (side === 'kvm') return runOnKvm(p);
  if (side === 'compiled (wasm)') return runCompiled(p);
  return runOnBackend(p);
}

/** A general register of an outcome by name. */
export function reg(o: Outcome, name: (typeof REGS)[number] | 'rip' | 'rflags'): bigint {
  if (name === 'rip') return o.regs[16];
  if (name === 'rflags') return o.regs[17];
  return o.regs[REGS.indexOf(name)];
}

/** The exception an outcome ended in (at a flat-image stub): vector, error code, pushed RIP and RFLAGS. */
export function exceptionOf(
  o: Outcome,
): { vector: number; error: number; rip: bigint; rflags: bigint } | null {
  if (o.kind !== 1) return null;
  const vector = Number(o.addr) - FLAT.MMIO_BASE;
  const e = hasErrorCode(vector) ? 1 : 0;
  return { vector, error: e ? Number(o.frame[0]) : -1, rip: o.frame[e], rflags: o.frame[e + 2] };
}
