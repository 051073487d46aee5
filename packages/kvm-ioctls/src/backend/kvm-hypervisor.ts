/**
 * `KvmHypervisor`: the KVM backend of the neutral {@link Hypervisor} interface.
 *
 * @module
 */

import type { BackendCapabilities, CpuidEntry, Hypervisor, VmOptions } from '@ts-vmm/hypervisor';
import * as K from '@ts-vmm/kvm-sys';
import { KvmError } from '../errors.js';
import { Kvm } from '../kvm.js';
import { isNativeAddonAvailable } from '../sys.js';
import { type KvmKicker, type KvmKickerDescription, openKvmKicker } from '../vcpu-fd.js';
import { KvmVm, type KvmVmDescription, openKvmVm } from './kvm-vm.js';

/** Where {@link KvmHypervisor.createVm} puts the TSS and identity map KVM needs on Intel hosts. */
export const KVM_TSS_ADDRESS = 0xfffb_d000;
export const KVM_IDENTITY_MAP_ADDRESS = 0xfffb_c000n;

/**
 * KVM behind the backend-neutral {@link Hypervisor} interface. `raw` gives the full {@link Kvm}.
 *
 * @example
 * ```ts
 * const hv = await openKvm();
 * const memory = await GuestMemory.createMemfd([{ start: 0, size: 1 << 20 }]);
 * const vm = await hv.createVm({ memory });
 * const vcpu = vm.createVcpu(0);
 * ```
 */
export class KvmHypervisor implements Hypervisor {
  readonly kind = 'kvm' as const;
  readonly capabilities: BackendCapabilities;
  /** The `/dev/kvm` handle. */
  readonly raw: Kvm;

  constructor(raw: Kvm) {
    this.raw = raw;
    const has = (c: number) => raw.checkExtension(c) > 0;
    this.capabilities = Object.freeze({
      irqchip: has(K.KVM_CAP_IRQCHIP),
      pit: has(K.KVM_CAP_PIT2),
      interruptLines: has(K.KVM_CAP_IRQFD),
      ioEvents: has(K.KVM_CAP_IOEVENTFD),
      multiThreaded: true,
      guestDebug: has(K.KVM_CAP_SET_GUEST_DEBUG),
      dirtyLog: true,
      maxVcpus: raw.maxVcpus(),
    });
  }

  /** @example vcpu.setCpuid(hv.supportedCpuid()) */
  supportedCpuid(): CpuidEntry[] {
    return this.raw.supportedCpuid();
  }

  /** @example hv.supportedMsrs().length */
  supportedMsrs(): number[] {
    return this.raw.msrIndexList();
  }

  /**
   * Creates a VM, places the TSS at {@link KVM_TSS_ADDRESS} and the identity map at
   * {@link KVM_IDENTITY_MAP_ADDRESS} (keep guest memory clear of 0xfffbc000-0xfffc0000), and
   * registers `options.memory` when given.
   */
  async createVm(options: VmOptions = {}): Promise<KvmVm> {
    const raw = this.raw.createVm();
    try {
      if (this.raw.checkExtension(K.KVM_CAP_SET_TSS_ADDR) > 0) raw.setTssAddress(KVM_TSS_ADDRESS);
      if (this.raw.checkExtension(K.KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0)
        raw.setIdentityMapAddress(KVM_IDENTITY_MAP_ADDRESS);
      const vm = new KvmVm(this, raw, { dirtyLog: options.dirtyLog });
      if (options.memory) vm.setMemory(options.memory);
      return vm;
    } catch (e) {
      raw.close();
      throw e;
    }
  }

  /**
   * Opens a VM shared by another thread ({@link KvmVm.shareable}).
   * @example const vm = await hv.openVm(workerData.vm)
   */
  openVm(description: unknown): Promise<KvmVm> {
    return openKvmVm(description as KvmVmDescription, this);
  }

  /**
   * Builds a kicker from a vCPU's {@link KvmVcpu.kicker} description.
   * @example hv.openKicker(desc).kick()
   */
  openKicker(description: unknown): KvmKicker {
    const d = description as KvmKickerDescription;
    if (d?.backend !== 'kvm') throw KvmError.invalid('openKicker', 'not a KVM kicker description');
    return openKvmKicker(d);
  }

  /**
   * Closes `/dev/kvm` (VMs stay usable).
   * @example hv.close()
   */
  close(): void {
    this.raw.close();
  }
}

/**
 * Opens `/dev/kvm` as a {@link KvmHypervisor}. Rejects with a {@link KvmError} when KVM or the addon
 * is unavailable.
 * @example
 * ```ts
 * const hv = hasKvm() ? await openKvm() : new EmulatedHypervisor();
 * ```
 */
export async function openKvm(path = '/dev/kvm'): Promise<KvmHypervisor> {
  return new KvmHypervisor(Kvm.open(path));
}

/**
 * True when the kvm-sys addon loads and `/dev/kvm` (or `path`) opens read-write.
 * @example if (!hasKvm()) console.log('skipped: /dev/kvm not available');
 */
export function hasKvm(path = '/dev/kvm'): boolean {
  if (!isNativeAddonAvailable()) return false;
  try {
    Kvm.open(path).close();
    return true;
  } catch {
    return false;
  }
}
