/**
 * `KvmVm`: the KVM backend of the neutral {@link Vm} interface.
 *
 * @module
 */

import type {
  ClockData,
  Hypervisor,
  InterruptLine,
  IoEvent,
  IoEventSpec,
  IrqchipState,
  Msi,
  PitState,
  Vm,
} from '@ts-vmm/hypervisor';
import {
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_MEM_LOG_DIRTY_PAGES,
  KvmPitState2,
} from '@ts-vmm/kvm-sys';
import { GuestMemory, type SharedGuestMemory } from '@ts-vmm/vm-memory';
import { KvmError } from '../errors.js';
import { loadNativeAddon, type NativeAddon } from '../sys.js';
import { VmFd } from '../vm-fd.js';
import type { KvmHypervisor } from './kvm-hypervisor.js';
import { KvmVcpu } from './kvm-vcpu.js';
import { ioapicFromKvm, ioapicToKvm, picFromKvm, picToKvm, pitFromKvm, pitToKvm } from './state.js';

const EFD_NONBLOCK = 0o4000;

/** A structured-clonable description of a {@link KvmVm}, for {@link openKvmVm} in a worker. */
export interface KvmVmDescription {
  readonly backend: 'kvm';
  readonly vmFd: number;
  readonly vcpuMmapSize: number;
  readonly memory?: SharedGuestMemory;
  readonly dirtyLog: boolean;
}

/**
 * A KVM VM behind the backend-neutral {@link Vm} interface. `raw` gives the full {@link VmFd}.
 *
 * @example
 * ```ts
 * const hv = await openKvm();
 * const memory = await GuestMemory.createMemfd([{ start: 0, size: 1 << 20 }]);
 * const vm = await hv.createVm({ memory });
 * vm.createIrqchip();
 * const line = vm.createInterruptLine(4);
 * line.trigger();
 * ```
 */
export class KvmVm implements Vm {
  readonly hypervisor: Hypervisor;
  /** The underlying KVM VM fd wrapper. */
  readonly raw: VmFd;
  #memory: GuestMemory | undefined;
  readonly #dirtyLog: boolean;
  readonly #sys: NativeAddon;
  readonly #owner: boolean;
  readonly #closers = new Set<() => void>();

  /** @internal */
  constructor(
    hypervisor: Hypervisor,
    raw: VmFd,
    options: { dirtyLog?: boolean; memory?: GuestMemory; owner?: boolean },
  ) {
    this.hypervisor = hypervisor;
    this.raw = raw;
    this.#dirtyLog = options.dirtyLog ?? false;
    this.#sys = loadNativeAddon();
    this.#owner = options.owner ?? true;
    this.#memory = options.memory;
  }

  /** @example vm.memory?.read32(0x1000) */
  get memory(): GuestMemory | undefined {
    return this.#memory;
  }

  /**
   * Registers every region of memfd-backed `memory` as a KVM memory slot (slot = region index), with
   * dirty logging when the VM was created with `dirtyLog: true`.
   * @example vm.setMemory(await GuestMemory.createMemfd([{ start: 0, size: 1 << 20 }]))
   */
  setMemory(memory: GuestMemory): void {
    if (this.#memory) throw KvmError.invalid('setMemory', 'memory was already set for this VM');
    memory.regions.forEach((r, i) => {
      if (r.backing !== 'memfd' || r.hostAddress === undefined) {
        throw KvmError.invalid(
          `setMemory region ${i} at 0x${r.start.toString(16)}`,
          `KVM needs memfd-backed memory (GuestMemory.createMemfd), this region is ${r.backing}`,
        );
      }
      this.raw.setUserMemoryRegion({
        slot: i,
        flags: this.#dirtyLog ? KVM_MEM_LOG_DIRTY_PAGES : 0,
        guestPhysAddr: BigInt(r.start),
        memorySize: BigInt(r.size),
        userspaceAddr: r.hostAddress,
      });
    });
    this.#memory = memory;
  }

  /** @example vm.createIrqchip() */
  createIrqchip(): void {
    this.raw.createIrqchip();
  }

  /** @example vm.createPit() */
  createPit(): void {
    this.raw.createPit2(0);
  }

  /** @example vm.setIrqLine(4, true) */
  setIrqLine(gsi: number, level: boolean): void {
    this.raw.setIrqLine(gsi, level);
  }

  /** @example vm.signalMsi({ address: 0xfee00000n, data: 0x31 }) */
  signalMsi(msi: Msi): void {
    this.raw.signalMsi({ address: msi.address, data: msi.data });
  }

  /**
   * An irqfd on `gsi`: `trigger()` writes the eventfd (an edge, no vCPU exit, callable from any
   * thread holding the line); `setLevel()` uses `KVM_IRQ_LINE`.
   * @example const line = vm.createInterruptLine(5); line.trigger();
   */
  createInterruptLine(gsi: number): InterruptLine {
    const sys = this.#sys;
    let efd: number;
    try {
      efd = sys.eventfd(0, EFD_NONBLOCK);
    } catch (e) {
      throw KvmError.fromSyscall(`eventfd for GSI ${gsi}`, e);
    }
    try {
      this.raw.registerIrqfd(efd, gsi);
    } catch (e) {
      sys.close(efd);
      throw e;
    }
    let open = true;
    const closer = () => {
      if (!open) return;
      open = false;
      this.#closers.delete(closer);
      if (!this.raw.closed) this.raw.unregisterIrqfd(efd, gsi);
      sys.close(efd);
    };
    this.#closers.add(closer);
    const vm = this.raw;
    return {
      gsi,
      trigger() {
        if (!open) throw KvmError.closed(`interrupt line ${gsi}`, 'trigger');
        sys.eventfdWrite(efd, 1);
      },
      setLevel(level: boolean) {
        if (!open) throw KvmError.closed(`interrupt line ${gsi}`, 'setLevel');
        vm.setIrqLine(gsi, level);
      },
      close: closer,
    };
  }

  /**
   * An ioeventfd watched on this thread's event loop. The handler gets `spec.datamatch` when set,
   * otherwise the number of guest writes coalesced since the last call (ioeventfd does not carry the
   * written value).
   * @example vm.registerIoEvent({ space: 'mmio', address: 0xd0000050, length: 4, datamatch: 0n }, () => queue.notify())
   */
  registerIoEvent(spec: IoEventSpec, handler: (value: bigint) => void): IoEvent {
    const sys = this.#sys;
    const op = `registerIoEvent ${spec.space} 0x${spec.address.toString(16)}`;
    let efd: number;
    try {
      efd = sys.eventfd(0, EFD_NONBLOCK);
    } catch (e) {
      throw KvmError.fromSyscall(op, e);
    }
    const kspec = {
      space: spec.space,
      address: BigInt(spec.address),
      length: spec.length,
      datamatch: spec.datamatch,
    };
    try {
      this.raw.registerIoeventfd(efd, kspec);
    } catch (e) {
      sys.close(efd);
      throw e;
    }
    const watch = sys.watchFd(efd, 1, () => {
      const n = sys.eventfdRead(efd);
      if (n !== null && n > 0n) handler(spec.datamatch ?? n);
    });
    let open = true;
    const closer = () => {
      if (!open) return;
      open = false;
      this.#closers.delete(closer);
      sys.unwatchFd(watch);
      if (!this.raw.closed) this.raw.unregisterIoeventfd(efd, kspec);
      sys.close(efd);
    };
    this.#closers.add(closer);
    return { spec, close: closer };
  }

  /**
   * Guest physical addresses of pages dirtied since the last call, across all slots (needs `dirtyLog`).
   * @example vm.getDirtyLog() // [0x3000, ...]
   */
  getDirtyLog(): number[] {
    if (!this.#dirtyLog) throw KvmError.invalid('getDirtyLog', 'the VM was created without dirtyLog: true');
    const out: number[] = [];
    for (const s of this.raw.memorySlots()) {
      if (s.flags & KVM_MEM_LOG_DIRTY_PAGES) for (const a of this.raw.dirtyPages(s.slot)) out.push(Number(a));
    }
    return out;
  }

  /** See {@link Vm.getIrqchip} (`KVM_GET_IRQCHIP` for each chip). @example vm.getIrqchip().picMaster.imr */
  getIrqchip(): IrqchipState {
    return {
      picMaster: picFromKvm(this.raw.getIrqchip(KVM_IRQCHIP_PIC_MASTER)),
      picSlave: picFromKvm(this.raw.getIrqchip(KVM_IRQCHIP_PIC_SLAVE)),
      ioapic: ioapicFromKvm(this.raw.getIrqchip(KVM_IRQCHIP_IOAPIC)),
    };
  }

  /** See {@link Vm.setIrqchip} (`KVM_SET_IRQCHIP` for each chip). @example vm.setIrqchip(savedState.irqchip) */
  setIrqchip(state: IrqchipState): void {
    this.raw.setIrqchip(KVM_IRQCHIP_PIC_MASTER, picToKvm(state.picMaster));
    this.raw.setIrqchip(KVM_IRQCHIP_PIC_SLAVE, picToKvm(state.picSlave));
    this.raw.setIrqchip(KVM_IRQCHIP_IOAPIC, ioapicToKvm(state.ioapic));
  }

  /** See {@link Vm.getPit} (`KVM_GET_PIT2`). @example vm.getPit().channels[0].count */
  getPit(): PitState {
    return pitFromKvm(KvmPitState2.decode(this.raw.getPit2()));
  }

  /** See {@link Vm.setPit} (`KVM_SET_PIT2`: each counter reloads from its count). @example vm.setPit(savedState.pit) */
  setPit(state: PitState): void {
    if (state.channels.length !== 3)
      throw KvmError.invalid('setPit', `the PIT has 3 channels, the state ${state.channels.length}`);
    this.raw.setPit2(KvmPitState2.encode(pitToKvm(state)));
  }

  /** See {@link Vm.getClock} (`KVM_GET_CLOCK`). @example vm.getClock().clock */
  getClock(): ClockData {
    return this.raw.getClock();
  }

  /** See {@link Vm.setClock} (`KVM_SET_CLOCK`). @example vm.setClock({ clock: 1_000_000n, flags: 0 }) */
  setClock(data: ClockData): void {
    this.raw.setClock(data);
  }

  /** @example const vcpu = vm.createVcpu(0) */
  createVcpu(id: number): KvmVcpu {
    return new KvmVcpu(this.raw.createVcpu(id));
  }

  /**
   * A structured-clonable {@link KvmVmDescription}.
   * @example worker.postMessage(vm.shareable())
   */
  shareable(): KvmVmDescription {
    return {
      backend: 'kvm',
      vmFd: this.raw.fd,
      vcpuMmapSize: this.raw.vcpuMmapSize,
      memory: this.#memory?.toShareable(),
      dirtyLog: this.#dirtyLog,
    };
  }

  /**
   * Closes interrupt lines and I/O events, then the VM fd (a VM opened from a description only unmaps).
   * @example vm.close()
   */
  close(): void {
    for (const c of [...this.#closers]) c();
    if (!this.#owner) this.#memory?.close();
    this.raw.close();
  }
}

/**
 * Opens, in a worker thread, the VM described by `desc` (from {@link KvmVm.shareable}). The fds are
 * borrowed: closing this VM does not close the original. Memory is mapped again in this thread.
 * Without `hypervisor`, opens `/dev/kvm` for `vm.hypervisor`. Memory slots registered by the
 * original thread are not listed by this thread's `raw.memorySlots()`.
 *
 * @example
 * ```ts
 * // worker
 * const vm = await openKvmVm(workerData.vm);
 * const vcpu = vm.createVcpu(1);
 * ```
 */
export async function openKvmVm(desc: KvmVmDescription, hypervisor?: KvmHypervisor): Promise<KvmVm> {
  if (desc?.backend !== 'kvm') throw KvmError.invalid('openKvmVm', 'not a KVM VM description');
  // (imported lazily: kvm-hypervisor.ts imports this module)
  const hv = hypervisor ?? (await (await import('./kvm-hypervisor.js')).openKvm());
  const sys = loadNativeAddon();
  const memory = desc.memory ? await GuestMemory.fromShareable(desc.memory) : undefined;
  const raw = VmFd.wrap(sys, desc.vmFd, desc.vcpuMmapSize, false);
  return new KvmVm(hv, raw, { dirtyLog: desc.dirtyLog, memory, owner: false });
}
