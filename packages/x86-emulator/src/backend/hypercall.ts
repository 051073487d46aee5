/**
 * KVM's hypercall ABI for VMCALL/VMMCALL (Linux `arch/x86/kvm/x86.c` `kvm_emulate_hypercall`), for
 * a backend that advertises KVM's CPUID signature (leaf 0x40000000 "KVMKVMKVM"): the number in RAX,
 * arguments in RBX, RCX, RDX, RSI (their low halves outside 64-bit mode), the result in RAX. From
 * CPL > 0 every call returns -KVM_EPERM; a number the backend does not serve returns -KVM_ENOSYS
 * (-1000), which is how Linux probes (ptp_kvm, for one). Served: `KVM_HC_VAPIC_POLL_IRQ` (a no-op
 * returning 0) and, with kvm-clock, `KVM_HC_CLOCK_PAIRING`. The calls tied to paravirtual features
 * this backend does not advertise in CPUID 0x40000001 (PV_UNHALT's KICK_CPU, PV_SEND_IPI,
 * PV_SCHED_YIELD, MAP_GPA_RANGE) return -KVM_ENOSYS, as on a KVM that enforces the PV CPUID.
 *
 * @module
 */
import type { Cpu } from '../cpu.js';

/** Hypercall numbers (`include/uapi/linux/kvm_para.h`). */
export const KvmHypercall = {
  VAPIC_POLL_IRQ: 1,
  KICK_CPU: 5,
  CLOCK_PAIRING: 9,
  SEND_IPI: 10,
  SCHED_YIELD: 11,
  MAP_GPA_RANGE: 12,
} as const;

/** Hypercall error numbers (`-KVM_E*` in RAX). */
export const KvmHypercallError = {
  ENOSYS: 1000,
  EFAULT: 14,
  EINVAL: 22,
  EPERM: 1,
  EOPNOTSUPP: 95,
} as const;

/** `KVM_CLOCK_PAIRING_WALLCLOCK`: the one clock type of `KVM_HC_CLOCK_PAIRING`. */
export const KVM_CLOCK_PAIRING_WALLCLOCK = 0;

/** What the hypercalls need from the vCPU. */
export interface HypercallTarget {
  /**
   * `KVM_HC_CLOCK_PAIRING`: writes `struct kvm_clock_pairing` (sec, nsec, tsc, flags, pad: 64 bytes)
   * at guest-physical `gpa` and returns 0, or a negative `-KVM_E*`; null when kvm-clock is off.
   */
  clockPairing: ((gpa: number, clockType: number) => number) | null;
}

/**
 * Performs the hypercall the CPU's registers describe and writes the result to RAX.
 *
 * @example
 * ```ts
 * new Cpu(mem, { hypercall: (c) => kvmHypercall(c, { clockPairing: null }) });
 * ```
 */
export function kvmHypercall(c: Cpu, target: HypercallTarget): void {
  const wide = c.code64;
  const arg = (n: number) => (wide ? c.getReg64(n) : BigInt(c.R[2 * n] >>> 0));
  const nr = arg(0);
  let ret: number;
  if (c.cpl !== 0) ret = -KvmHypercallError.EPERM;
  else {
    switch (nr) {
      case BigInt(KvmHypercall.VAPIC_POLL_IRQ):
        ret = 0;
        break;
      case BigInt(KvmHypercall.CLOCK_PAIRING): {
        const gpa = arg(3);
        ret =
          target.clockPairing === null
            ? -KvmHypercallError.ENOSYS
            : gpa >= 2n ** 52n
              ? -KvmHypercallError.EFAULT
              : target.clockPairing(Number(gpa), Number(BigInt.asUintN(32, arg(1))));
        break;
      }
      default:
        ret = -KvmHypercallError.ENOSYS;
    }
  }
  // RAX: the whole register in 64-bit mode, else its low half zero-extended
  c.setReg64(0, wide ? BigInt.asUintN(64, BigInt(ret)) : BigInt(ret >>> 0));
}
