/**
 * CPU-feature compatibility of a saved vCPU state: which feature bits of the CPUID a guest was
 * given the target hypervisor's `supportedCpuid()` lacks, named as `AVX2 (CPUID.7.0:EBX bit 5)`,
 * and the intersection of two backends' CPUID (a CPU template that a snapshot can move between).
 *
 * @module
 */
import type { CpuidEntry } from './state.js';

type Reg = 'eax' | 'ebx' | 'ecx' | 'edx';

/** A register of a CPUID leaf whose bits are features (a guest given one needs the host to have it). */
interface FeatureWord {
  fn: number;
  index: number;
  reg: Reg;
  /** Names of known bits (others are reported by number). */
  names: Record<number, string>;
  /** Bits that are not features but state (OSXSAVE mirrors CR4.OSXSAVE): never compared. */
  ignore?: number;
}

/**
 * The feature words compared: leaf 1 ECX/EDX, leaf 7.0 EBX/ECX/EDX, 7.1 EAX, 0xD.1 EAX (XSAVE
 * variants), 0x80000001 ECX/EDX, 0x80000007 EDX (invariant TSC), 0x80000008 EBX and KVM's
 * paravirtual features (0x40000001 EAX).
 */
export const CPUID_FEATURE_WORDS: readonly FeatureWord[] = [
  {
    fn: 1,
    index: 0,
    reg: 'edx',
    names: {
      0: 'FPU', 1: 'VME', 2: 'DE', 3: 'PSE', 4: 'TSC', 5: 'MSR', 6: 'PAE', 7: 'MCE', 8: 'CX8', 9: 'APIC',
      11: 'SEP', 12: 'MTRR', 13: 'PGE', 14: 'MCA', 15: 'CMOV', 16: 'PAT', 17: 'PSE36', 19: 'CLFSH',
      21: 'DS', 22: 'ACPI', 23: 'MMX', 24: 'FXSR', 25: 'SSE', 26: 'SSE2', 27: 'SS', 28: 'HTT', 29: 'TM',
      31: 'PBE',
    }, // biome-ignore format: table
    ignore: 1 << 28, // HTT: a VMM sets it for a guest of several vCPUs (a topology, not a capability)
  },
  {
    fn: 1,
    index: 0,
    reg: 'ecx',
    names: {
      0: 'SSE3', 1: 'PCLMULQDQ', 2: 'DTES64', 3: 'MONITOR', 4: 'DS-CPL', 5: 'VMX', 6: 'SMX', 7: 'EIST',
      8: 'TM2', 9: 'SSSE3', 10: 'CNXT-ID', 11: 'SDBG', 12: 'FMA', 13: 'CX16', 14: 'xTPR', 15: 'PDCM',
      17: 'PCID', 18: 'DCA', 19: 'SSE4.1', 20: 'SSE4.2', 21: 'x2APIC', 22: 'MOVBE', 23: 'POPCNT',
      24: 'TSC-deadline', 25: 'AES', 26: 'XSAVE', 28: 'AVX', 29: 'F16C', 30: 'RDRAND', 31: 'hypervisor',
    }, // biome-ignore format: table
    // OSXSAVE (the guest's CR4), hypervisor (a VMM sets it for its guests: not a CPU capability)
    ignore: (1 << 27) | (1 << 31),
  },
  {
    fn: 7,
    index: 0,
    reg: 'ebx',
    names: {
      0: 'FSGSBASE', 1: 'TSC_ADJUST', 2: 'SGX', 3: 'BMI1', 4: 'HLE', 5: 'AVX2', 6: 'FDP_EXCPTN_ONLY',
      7: 'SMEP', 8: 'BMI2', 9: 'ERMS', 10: 'INVPCID', 11: 'RTM', 12: 'PQM', 13: 'FPU CS/DS deprecated',
      14: 'MPX', 15: 'PQE', 16: 'AVX512F', 17: 'AVX512DQ', 18: 'RDSEED', 19: 'ADX', 20: 'SMAP',
      21: 'AVX512_IFMA', 23: 'CLFLUSHOPT', 24: 'CLWB', 25: 'PT', 26: 'AVX512PF', 27: 'AVX512ER',
      28: 'AVX512CD', 29: 'SHA', 30: 'AVX512BW', 31: 'AVX512VL',
    }, // biome-ignore format: table
  },
  {
    fn: 7,
    index: 0,
    reg: 'ecx',
    names: {
      0: 'PREFETCHWT1', 1: 'AVX512_VBMI', 2: 'UMIP', 3: 'PKU', 5: 'WAITPKG', 6: 'AVX512_VBMI2',
      7: 'CET_SS', 8: 'GFNI', 9: 'VAES', 10: 'VPCLMULQDQ', 11: 'AVX512_VNNI', 12: 'AVX512_BITALG',
      14: 'AVX512_VPOPCNTDQ', 16: 'LA57', 22: 'RDPID', 25: 'CLDEMOTE', 27: 'MOVDIRI', 28: 'MOVDIR64B',
      30: 'SGX_LC',
    }, // biome-ignore format: table
    ignore: 1 << 4, // OSPKE
  },
  {
    fn: 7,
    index: 0,
    reg: 'edx',
    names: {
      2: 'AVX512_4VNNIW', 3: 'AVX512_4FMAPS', 4: 'FSRM', 8: 'AVX512_VP2INTERSECT', 10: 'MD_CLEAR',
      14: 'SERIALIZE', 16: 'TSXLDTRK', 18: 'PCONFIG', 20: 'CET_IBT', 22: 'AMX_BF16', 23: 'AVX512_FP16',
      24: 'AMX_TILE', 25: 'AMX_INT8', 26: 'IBRS/IBPB', 27: 'STIBP', 28: 'L1D_FLUSH',
      29: 'ARCH_CAPABILITIES', 31: 'SSBD',
    }, // biome-ignore format: table
  },
  {
    fn: 7,
    index: 1,
    reg: 'eax',
    names: { 4: 'AVX_VNNI', 5: 'AVX512_BF16', 10: 'FZRM', 11: 'FSRS', 12: 'FSRC' },
  },
  { fn: 0xd, index: 1, reg: 'eax', names: { 0: 'XSAVEOPT', 1: 'XSAVEC', 2: 'XGETBV_ECX1', 3: 'XSAVES' } },
  {
    fn: 0x8000_0001,
    index: 0,
    reg: 'ecx',
    names: {
      0: 'LAHF_LM', 1: 'CMP_LEGACY', 2: 'SVM', 3: 'EXTAPIC', 4: 'CR8_LEGACY', 5: 'ABM/LZCNT', 6: 'SSE4A',
      7: 'MISALIGNSSE', 8: 'PREFETCHW', 9: 'OSVW', 11: 'XOP', 16: 'FMA4', 21: 'TBM',
    }, // biome-ignore format: table
  },
  {
    fn: 0x8000_0001,
    index: 0,
    reg: 'edx',
    names: { 11: 'SYSCALL', 20: 'NX', 22: 'MMXEXT', 25: 'FFXSR', 26: 'PDPE1GB', 27: 'RDTSCP', 29: 'LM' },
  },
  { fn: 0x8000_0007, index: 0, reg: 'edx', names: { 8: 'invariant TSC' } },
  { fn: 0x8000_0008, index: 0, reg: 'ebx', names: { 0: 'CLZERO', 9: 'WBNOINVD' } },
  {
    fn: 0x4000_0001,
    index: 0,
    reg: 'eax',
    names: {
      0: 'KVM_CLOCKSOURCE', 1: 'KVM_NOP_IO_DELAY', 2: 'KVM_MMU_OP', 3: 'KVM_CLOCKSOURCE2', 4: 'KVM_ASYNC_PF',
      5: 'KVM_STEAL_TIME', 6: 'KVM_PV_EOI', 7: 'KVM_PV_UNHALT', 9: 'KVM_PV_TLB_FLUSH',
      10: 'KVM_ASYNC_PF_VMEXIT', 11: 'KVM_PV_SEND_IPI', 12: 'KVM_POLL_CONTROL', 13: 'KVM_PV_SCHED_YIELD',
      14: 'KVM_ASYNC_PF_INT', 15: 'KVM_MSI_EXT_DEST_ID', 24: 'KVM_CLOCKSOURCE_STABLE_BIT',
    }, // biome-ignore format: table
  },
];

function leafName(fn: number, index: number): string {
  return `CPUID.${fn < 0x10 ? fn.toString(16).toUpperCase() : `0x${fn.toString(16)}`}.${index}`;
}

function find(entries: readonly CpuidEntry[], fn: number, index: number): CpuidEntry | undefined {
  return (
    entries.find((e) => e.function === fn && e.index === index) ??
    (index === 0 ? entries.find((e) => e.function === fn && (e.flags & 1) === 0) : undefined)
  );
}

/**
 * The features `guest` (the CPUID a vCPU was given) has that `supported` (a hypervisor's
 * `supportedCpuid()`) lacks, each as `NAME (CPUID.7.0:EBX bit 5)`; empty when the guest fits.
 * @example missingCpuFeatures(savedState.cpuid, hv.supportedCpuid()) // ['AVX2 (CPUID.7.0:EBX bit 5)']
 */
export function missingCpuFeatures(guest: readonly CpuidEntry[], supported: readonly CpuidEntry[]): string[] {
  const out: string[] = [];
  for (const w of CPUID_FEATURE_WORDS) {
    const g = find(guest, w.fn, w.index);
    if (!g) continue;
    const s = find(supported, w.fn, w.index);
    const missing = (g[w.reg] & ~(s ? s[w.reg] : 0) & ~(w.ignore ?? 0)) >>> 0;
    for (let bit = 0; bit < 32; bit++) {
      if (((missing >>> bit) & 1) === 0) continue;
      const where = `${leafName(w.fn, w.index)}:${w.reg.toUpperCase()} bit ${bit}`;
      const name = w.names[bit];
      out.push(name ? `${name} (${where})` : where);
    }
  }
  return out;
}

/**
 * A CPUID table both `a` and `b` can present: `a`'s leaves (vendor, family, sizes) with each
 * feature word of {@link CPUID_FEATURE_WORDS} and-ed with `b`'s (a leaf `b` lacks loses its
 * features). A guest given it can be snapshotted on either backend and restored on the other.
 * @example vcpu.setCpuid(intersectCpuid(kvm.supportedCpuid(), emulator.supportedCpuid()));
 */
export function intersectCpuid(a: readonly CpuidEntry[], b: readonly CpuidEntry[]): CpuidEntry[] {
  const out = a.map((e) => ({ ...e }));
  for (const w of CPUID_FEATURE_WORDS) {
    const e = find(out, w.fn, w.index);
    if (!e) continue;
    const o = find(b, w.fn, w.index);
    e[w.reg] = (e[w.reg] & (o ? o[w.reg] : 0)) >>> 0;
  }
  return out;
}
