/**
 * `Kvm`: the `/dev/kvm` system fd.
 *
 * @module
 */

import type { CpuidEntry } from '@ts-vmm/hypervisor';
import * as K from '@ts-vmm/kvm-sys';
import { KvmCpuid2, KvmMsrList } from '@ts-vmm/kvm-sys';
import { KvmError } from './errors.js';
import { FdHandle } from './fd-handle.js';
import { cpuidEntryFromKvm } from './neutral-shapes.js';
import { loadNativeAddon, type NativeAddon } from './sys.js';
import { VmFd } from './vm-fd.js';

/**
 * The KVM system handle (`/dev/kvm`): capabilities, supported CPUID and MSRs, and VM creation.
 *
 * @example
 * ```ts
 * const kvm = Kvm.open();
 * console.log(kvm.apiVersion(), kvm.checkExtension(KVM_CAP_IRQFD));
 * const vm = kvm.createVm();
 * ```
 */
export class Kvm extends FdHandle {
  protected readonly what = 'Kvm';
  #mmapSize = 0;

  private constructor(sys: NativeAddon, fd: number, owned = true) {
    super(sys, fd, owned);
  }

  /**
   * Opens `/dev/kvm` (or `path`) and checks the API version is 12.
   * @example const kvm = Kvm.open();
   */
  static open(path = '/dev/kvm'): Kvm {
    let sys: NativeAddon;
    try {
      sys = loadNativeAddon();
    } catch (e) {
      throw new KvmError('unsupported', `open ${path}`, 'ENOTSUP', 95, (e as Error).message, e);
    }
    let fd: number;
    try {
      fd = sys.open(path, K.O_RDWR);
    } catch (e) {
      throw KvmError.fromSyscall(`open ${path}`, e);
    }
    const kvm = new Kvm(sys, fd);
    const v = kvm.apiVersion();
    if (v !== K.KVM_API_VERSION) {
      kvm.close();
      throw new KvmError(
        'unsupported',
        'KVM_GET_API_VERSION',
        'ENOTSUP',
        95,
        `API version ${v}, expected 12`,
      );
    }
    return kvm;
  }

  /**
   * Wraps an already-open `/dev/kvm` fd; `owned`: whether {@link Kvm.close} closes it.
   * @example const kvm = Kvm.fromFd(fd, false);
   */
  static fromFd(fd: number, owned = true): Kvm {
    return new Kvm(loadNativeAddon(), fd, owned);
  }

  /** `KVM_GET_API_VERSION` (12). @example kvm.apiVersion() === 12 */
  apiVersion(): number {
    return this.ioctl('KVM_GET_API_VERSION', K.KVM_GET_API_VERSION);
  }

  /**
   * `KVM_CHECK_EXTENSION`: 0 when `cap` is missing, otherwise a positive (capability-specific) value.
   * @example if (kvm.checkExtension(KVM_CAP_IRQFD) > 0) useIrqfd();
   */
  checkExtension(cap: number): number {
    return this.ioctl(`KVM_CHECK_EXTENSION ${cap}`, K.KVM_CHECK_EXTENSION, cap);
  }

  /**
   * `KVM_GET_VCPU_MMAP_SIZE`: bytes to mmap from a vCPU fd (kvm_run and what follows).
   * @example kvm.vcpuMmapSize() // 12288
   */
  vcpuMmapSize(): number {
    if (this.#mmapSize === 0) this.#mmapSize = this.ioctl('KVM_GET_VCPU_MMAP_SIZE', K.KVM_GET_VCPU_MMAP_SIZE);
    return this.#mmapSize;
  }

  /**
   * Recommended maximum number of vCPUs (`KVM_CAP_NR_VCPUS`, defaulting to 4).
   * @example kvm.recommendedVcpus()
   */
  recommendedVcpus(): number {
    return this.checkExtension(K.KVM_CAP_NR_VCPUS) || 4;
  }

  /**
   * Maximum number of vCPUs (`KVM_CAP_MAX_VCPUS`, defaulting to the recommended count).
   * @example kvm.maxVcpus()
   */
  maxVcpus(): number {
    return this.checkExtension(K.KVM_CAP_MAX_VCPUS) || this.recommendedVcpus();
  }

  /**
   * Number of memory slots (`KVM_CAP_NR_MEMSLOTS`, defaulting to 32).
   * @example kvm.maxMemslots()
   */
  maxMemslots(): number {
    return this.checkExtension(K.KVM_CAP_NR_MEMSLOTS) || 32;
  }

  /**
   * `KVM_GET_SUPPORTED_CPUID`: the CPUID leaves KVM can expose to guests.
   * @example
   * const vcpu = kvm.createVm().createVcpu(0); // a VcpuFd
   * vcpu.setCpuid2(kvm.supportedCpuid());
   */
  supportedCpuid(): CpuidEntry[] {
    return this.cpuidList('KVM_GET_SUPPORTED_CPUID', K.KVM_GET_SUPPORTED_CPUID);
  }

  /**
   * `KVM_GET_EMULATED_CPUID`: leaves KVM emulates (possibly slowly).
   * @example kvm.emulatedCpuid().length
   */
  emulatedCpuid(): CpuidEntry[] {
    return this.cpuidList('KVM_GET_EMULATED_CPUID', K.KVM_GET_EMULATED_CPUID);
  }

  private cpuidList(op: string, req: number): CpuidEntry[] {
    let n = K.KVM_MAX_CPUID_ENTRIES;
    for (;;) {
      const buf = KvmCpuid2.alloc(n);
      try {
        this.ioctl(op, req, buf);
        return KvmCpuid2.decode(buf).entries.map(cpuidEntryFromKvm);
      } catch (e) {
        if (e instanceof KvmError && e.code === 'E2BIG' && n < 4096) {
          n *= 2;
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * `KVM_GET_MSR_INDEX_LIST`: MSRs KVM saves and restores.
   * @example kvm.msrIndexList().includes(0x174)
   */
  msrIndexList(): number[] {
    return this.msrList('KVM_GET_MSR_INDEX_LIST', K.KVM_GET_MSR_INDEX_LIST);
  }

  /**
   * `KVM_GET_MSR_FEATURE_INDEX_LIST`: feature MSRs readable through `KVM_GET_MSRS` on the system fd.
   * @example kvm.featureMsrIndexList()
   */
  featureMsrIndexList(): number[] {
    return this.msrList('KVM_GET_MSR_FEATURE_INDEX_LIST', K.KVM_GET_MSR_FEATURE_INDEX_LIST);
  }

  private msrList(op: string, req: number): number[] {
    let n = 256;
    for (;;) {
      const buf = KvmMsrList.alloc(n);
      try {
        this.ioctl(op, req, buf);
      } catch (e) {
        if (e instanceof KvmError && e.code === 'E2BIG' && n < 65536) {
          // KVM wrote the count it needs into nmsrs.
          n = Math.max(n * 2, KvmMsrList.header.decode(buf).nmsrs);
          continue;
        }
        throw e;
      }
      return KvmMsrList.decode(buf).indices;
    }
  }

  /**
   * `KVM_CREATE_VM` (machine type 0).
   * @example const vm = kvm.createVm();
   */
  createVm(type = 0): VmFd {
    const fd = this.ioctl('KVM_CREATE_VM', K.KVM_CREATE_VM, type);
    return VmFd.wrap(this.sys, fd, this.vcpuMmapSize(), true);
  }
}
