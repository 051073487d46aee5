/**
 * The CPUID a vCPU sees: the backend's supported set, with the topology of this VM (APIC IDs, leaf
 * 1/4/0xB/0x1F), the hypervisor bit and the KVM signature leaves.
 *
 * @module
 */
import type { BackendKind, CpuidEntry } from '@ts-vmm/hypervisor';

const FLAG_SIGNIFICANT_INDEX = 1;

/** Options for {@link vcpuCpuid}. */
export interface CpuidOptions {
  vcpuId: number;
  vcpuCount: number;
  backend: BackendKind;
  /**
   * Hide what a KVM that emulates CPL0 code (PVM) cannot emulate: CMPXCHG16B (Linux's SLUB uses it)
   * and XSAVE with the AVX family (the kernel's XRSTOR fails); the guest then uses FXSAVE.
   */
  emulatedCpl0?: boolean;
}

function bitsFor(n: number): number {
  let b = 0;
  while (1 << b < n) b++;
  return b;
}

/** "KVMKVMKVM\0\0\0" as EBX, ECX, EDX. */
const KVM_SIGNATURE = [0x4b4d564b, 0x564b4d56, 0x0000004d];

/**
 * Derives one vCPU's CPUID from the backend's supported entries.
 *
 * @example
 * ```ts
 * vcpu.setCpuid(vcpuCpuid(hv.supportedCpuid(), { vcpuId: 1, vcpuCount: 2, backend: hv.kind }));
 * ```
 */
export function vcpuCpuid(supported: readonly CpuidEntry[], o: CpuidOptions): CpuidEntry[] {
  const apicId = o.vcpuId;
  const coreBits = bitsFor(o.vcpuCount);
  const out: CpuidEntry[] = [];
  for (const src of supported) {
    const e = { ...src };
    switch (e.function) {
      case 0x1:
        e.ebx = ((apicId & 0xff) << 24) | ((o.vcpuCount & 0xff) << 16) | (8 << 8) | (e.ebx & 0xff);
        e.ecx |= 1 << 31; // running on a hypervisor
        if (o.emulatedCpl0) e.ecx &= ~((1 << 13) | (1 << 12) | (1 << 26) | (1 << 27) | (1 << 28) | (1 << 29));
        if (o.vcpuCount > 1) e.edx |= 1 << 28;
        else e.edx &= ~(1 << 28);
        break;
      case 0x4: {
        // Cores per package - 1 in EAX[31:26]; each cache shared by one thread, the last level by all.
        const level = (e.eax >>> 5) & 7;
        const sharing = level >= 3 ? o.vcpuCount - 1 : 0;
        e.eax = (e.eax & 0x3fff) | ((sharing & 0xfff) << 14) | (((o.vcpuCount - 1) & 0x3f) << 26);
        break;
      }
      case 0x7:
        if (o.emulatedCpl0 && e.index === 0) {
          // AVX2, AVX-512 F/DQ/IFMA/PF/ER/CD/BW/VL; AVX-512 VBMI etc. in ECX; AVX-VNNI etc. in EAX of sub-leaf 1.
          e.ebx &= ~(
            (1 << 5) |
            (1 << 16) |
            (1 << 17) |
            (1 << 21) |
            (1 << 26) |
            (1 << 27) |
            (1 << 28) |
            (1 << 30) |
            (1 << 31)
          );
          e.ecx &= ~((1 << 1) | (1 << 6) | (1 << 11) | (1 << 12) | (1 << 14));
        }
        break;
      case 0xd:
        if (o.emulatedCpl0) continue;
        break;
      case 0xb:
      case 0x1f:
        // Filled below for sub-leaves 0 (SMT) and 1 (core); others report "invalid level".
        continue;
      case 0x4000_0000:
        if (o.backend === 'kvm') {
          [e.ebx, e.ecx, e.edx] = KVM_SIGNATURE;
          if (e.eax < 0x4000_0001) e.eax = 0x4000_0001;
        }
        break;
    }
    out.push(e);
  }
  const hasLeaf = (f: number) => supported.some((e) => e.function === f);
  for (const f of [0xb, 0x1f]) {
    if (!hasLeaf(f)) continue;
    out.push(
      { function: f, index: 0, flags: FLAG_SIGNIFICANT_INDEX, eax: 0, ebx: 1, ecx: 1 << 8, edx: apicId },
      {
        function: f,
        index: 1,
        flags: FLAG_SIGNIFICANT_INDEX,
        eax: coreBits,
        ebx: o.vcpuCount,
        ecx: 1 | (2 << 8),
        edx: apicId,
      },
      { function: f, index: 2, flags: FLAG_SIGNIFICANT_INDEX, eax: 0, ebx: 0, ecx: 2, edx: apicId },
    );
  }
  if (o.backend === 'kvm' && !hasLeaf(0x4000_0000)) {
    out.push({
      function: 0x4000_0000,
      index: 0,
      flags: 0,
      eax: 0x4000_0001,
      ebx: KVM_SIGNATURE[0],
      ecx: KVM_SIGNATURE[1],
      edx: KVM_SIGNATURE[2],
    });
  }
  return out;
}
