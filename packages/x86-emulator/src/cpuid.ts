/**
 * CPUID: the default leaves this emulator advertises (only what it implements) and the lookup used
 * by the CPUID instruction. Callers may replace the whole table (`cpu.cpuid = entries`), e.g. with the
 * entries a VMM builds for KVM_SET_CPUID2.
 *
 * Advertised: FPU, PSE, TSC, MSR, PAE, CX8, APIC, MTRR, PGE, CMOV, PAT, CLFLUSH, MMX, FXSR, SSE,
 * SSE2, CX16, POPCNT, RDRAND, RDSEED, ERMS, SYSCALL, NX, 1 GiB pages, RDTSCP, LM, LAHF/SAHF in
 * 64-bit mode. Not advertised: SSE3 and later, XSAVE/AVX, SMEP/SMAP, SEP (SYSENTER), VME, DE,
 * MCE/MCA.
 *
 * @example
 * ```ts
 * const leaves = defaultCpuid();
 * lookupCpuid(leaves, 0x80000001, 0); // [eax, ebx, ecx, edx]
 * ```
 */
import type { CpuidEntry } from '@ts-vmm/hypervisor';

function str4(s: string, at: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) v |= (s.charCodeAt(at + k) || 0) << (8 * k);
  return v >>> 0;
}

/** Leaf-1 EDX bits advertised. */
export const LEAF1_EDX =
  (1 << 0) | // FPU
  (1 << 3) | // PSE
  (1 << 4) | // TSC
  (1 << 5) | // MSR
  (1 << 6) | // PAE
  (1 << 8) | // CX8
  (1 << 9) | // APIC
  (1 << 12) | // MTRR
  (1 << 13) | // PGE
  (1 << 15) | // CMOV
  (1 << 16) | // PAT
  (1 << 19) | // CLFSH
  (1 << 23) | // MMX
  (1 << 24) | // FXSR
  (1 << 25) | // SSE
  (1 << 26); // SSE2
/** Leaf-1 ECX bits advertised: CX16, POPCNT, RDRAND. */
export const LEAF1_ECX = (1 << 13) | (1 << 23) | (1 << 30);
/** Leaf-7 EBX bits advertised: ERMS, RDSEED. */
export const LEAF7_EBX = (1 << 9) | (1 << 18);

/** The default CPUID table. @example new Cpu(mem, { cpuid: defaultCpuid() }) */
export function defaultCpuid(): CpuidEntry[] {
  const e = (
    fn: number,
    eax: number,
    ebx: number,
    ecx: number,
    edx: number,
    index = 0,
    flags = 0,
  ): CpuidEntry => ({
    function: fn,
    index,
    flags,
    eax: eax >>> 0,
    ebx: ebx >>> 0,
    ecx: ecx >>> 0,
    edx: edx >>> 0,
  });
  const vendor = 'GenuineIntel';
  const brand = 'ts-vmm x86-64 emulator'.padEnd(48, '\0');
  const out: CpuidEntry[] = [
    e(0, 7, str4(vendor, 0), str4(vendor, 8), str4(vendor, 4)),
    e(1, 0x000106a5, 0x00010800, LEAF1_ECX, LEAF1_EDX),
    // EBX: ERMS, RDSEED. EDX: IA32_SPEC_CTRL/PRED_CMD (bit 26) and IA32_ARCH_CAPABILITIES (bit 29):
    // this CPU does not speculate, and says so (see ARCH_CAPABILITIES_NOT_AFFECTED in msr.ts)
    e(7, 0, LEAF7_EBX, 0, (1 << 26) | (1 << 29), 0, 1),
    e(0x80000000, 0x80000008, 0, 0, 0),
    e(0x80000001, 0, 0, 1 /* LAHF-LM */, (1 << 11) | (1 << 20) | (1 << 26) | (1 << 27) | (1 << 29)),
    e(0x80000008, 0x3028, 0, 0, 0),
  ];
  for (let k = 0; k < 3; k++) {
    const o = k * 16;
    out.push(e(0x80000002 + k, str4(brand, o), str4(brand, o + 4), str4(brand, o + 8), str4(brand, o + 12)));
  }
  return out;
}

/**
 * Finds the leaf for CPUID(`leaf`, `sub`); leaves absent from the table read as zeros.
 * @example lookupCpuid(defaultCpuid(), 0, 0)[0] // max basic leaf
 */
export function lookupCpuid(
  entries: readonly CpuidEntry[],
  leaf: number,
  sub: number,
): [number, number, number, number] {
  leaf >>>= 0;
  for (const en of entries) {
    if (en.function >>> 0 !== leaf) continue;
    if ((en.flags & 1) !== 0 && en.index >>> 0 !== sub >>> 0) continue;
    return [en.eax >>> 0, en.ebx >>> 0, en.ecx >>> 0, en.edx >>> 0];
  }
  return [0, 0, 0, 0];
}
