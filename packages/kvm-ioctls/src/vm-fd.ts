/**
 * `VmFd`: one KVM virtual machine.
 *
 * @module
 */

import type { ClockData } from '@ts-vmm/hypervisor';
import * as K from '@ts-vmm/kvm-sys';
import {
  KvmClockData,
  KvmCoalescedMmioZone,
  KvmCreateDevice,
  KvmDirtyLog,
  KvmEnableCap,
  KvmIoeventfd,
  KvmIrqchip,
  KvmIrqfd,
  KvmIrqLevel,
  KvmIrqRouting,
  type KvmIrqRoutingEntryValue,
  KvmMsi,
  KvmPitConfig,
  KvmPitState2,
  KvmUserspaceMemoryRegion,
} from '@ts-vmm/kvm-sys';
import { DeviceFd } from './device-fd.js';
import { KvmError } from './errors.js';
import { FdHandle } from './fd-handle.js';
import type { NativeAddon } from './sys.js';
import { VcpuFd } from './vcpu-fd.js';

/** `KVM_CREATE_DEVICE_TEST`: kvm-sys does not export this flag of `kvm_create_device.flags` (yet). */
const KVM_CREATE_DEVICE_TEST = 1;
/** `kvm_enable_cap.args` has room for this many arguments. */
const ENABLE_CAP_ARGS = KvmEnableCap.fields.find((f) => f.name === 'args')?.type.element?.count ?? 0;

/** A guest memory slot, as given to `KVM_SET_USER_MEMORY_REGION`. */
export interface MemoryRegion {
  slot: number;
  /** `KVM_MEM_LOG_DIRTY_PAGES` (1), `KVM_MEM_READONLY` (2). */
  flags?: number;
  guestPhysAddr: bigint;
  /** Bytes (a multiple of 4 KiB); 0 deletes the slot. */
  memorySize: bigint;
  /** Host virtual address of the backing memory. */
  userspaceAddr: bigint;
}

/** Where a guest write is watched by an ioeventfd. */
export interface IoeventfdSpec {
  space: 'pio' | 'mmio';
  address: bigint | number;
  /** Access length: 1, 2, 4, 8 or 0 (any length, MMIO only). */
  length: 0 | 1 | 2 | 4 | 8;
  datamatch?: bigint;
}

/** One GSI route for {@link VmFd.setGsiRouting} (encoded as a `struct kvm_irq_routing_entry`). */
export interface IrqRoutingEntry {
  gsi: number;
  /** 'irqchip': `chip` (0 PIC master, 1 PIC slave, 2 IOAPIC) and `pin`; 'msi': address and data. */
  route:
    | { type: 'irqchip'; chip: number; pin: number }
    | { type: 'msi'; addressLo: number; addressHi: number; data: number; devid?: number };
}

function routingEntryToKvm(e: IrqRoutingEntry): KvmIrqRoutingEntryValue {
  const r = e.route;
  if (r.type === 'irqchip') {
    return {
      gsi: e.gsi,
      type: K.KVM_IRQ_ROUTING_IRQCHIP,
      flags: 0,
      u: { irqchip: { irqchip: r.chip, pin: r.pin } },
    };
  }
  return {
    gsi: e.gsi,
    type: K.KVM_IRQ_ROUTING_MSI,
    flags: r.devid !== undefined ? K.KVM_MSI_VALID_DEVID : 0,
    u: { msi: { address_lo: r.addressLo, address_hi: r.addressHi, data: r.data, devid: r.devid ?? 0 } },
  };
}

/**
 * A KVM virtual machine fd: memory slots, interrupt controllers, irqfds, ioeventfds and vCPU creation.
 *
 * @example
 * ```ts
 * const vm = Kvm.open().createVm();
 * vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0n, memorySize: 0x10000n, userspaceAddr: region.hostAddress! });
 * vm.createIrqchip();
 * const vcpu = vm.createVcpu(0);
 * ```
 */
export class VmFd extends FdHandle {
  protected readonly what = 'VmFd';
  /** Bytes to mmap from each vCPU fd. */
  readonly vcpuMmapSize: number;
  readonly #slots = new Map<number, Required<MemoryRegion>>();

  private constructor(sys: NativeAddon, fd: number, vcpuMmapSize: number, owned: boolean) {
    super(sys, fd, owned);
    this.vcpuMmapSize = vcpuMmapSize;
  }

  /** @internal Wraps a VM fd (from `Kvm.createVm`, or a worker re-opening a shared VM). */
  static wrap(sys: NativeAddon, fd: number, vcpuMmapSize: number, owned: boolean): VmFd {
    return new VmFd(sys, fd, vcpuMmapSize, owned);
  }

  /** `KVM_CHECK_EXTENSION` on the VM fd (VM-specific answers). @example vm.checkExtension(KVM_CAP_IRQFD) */
  checkExtension(cap: number): number {
    return this.ioctl(`KVM_CHECK_EXTENSION ${cap}`, K.KVM_CHECK_EXTENSION, cap);
  }

  /**
   * `KVM_SET_USER_MEMORY_REGION`: creates, changes or (with `memorySize: 0n`) deletes a slot.
   * The kernel rejects overlaps (EEXIST) and misaligned sizes (EINVAL); the error names the slot.
   * @example vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0n, memorySize: 1n << 20n, userspaceAddr: host });
   */
  setUserMemoryRegion(region: MemoryRegion): void {
    const r: Required<MemoryRegion> = { flags: 0, ...region };
    const op = `KVM_SET_USER_MEMORY_REGION slot ${r.slot}`;
    if (!Number.isInteger(r.slot) || r.slot < 0 || r.slot > 0xffff)
      throw KvmError.invalid(op, `bad slot ${r.slot}`);
    const buf = KvmUserspaceMemoryRegion.encode({
      slot: r.slot,
      flags: r.flags,
      guest_phys_addr: r.guestPhysAddr,
      memory_size: r.memorySize,
      userspace_addr: r.userspaceAddr,
    });
    this.ioctl(op, K.KVM_SET_USER_MEMORY_REGION, buf);
    if (r.memorySize === 0n) this.#slots.delete(r.slot);
    else this.#slots.set(r.slot, r);
  }

  /** The slots registered through this wrapper, by slot number. @example vm.memorySlots().length */
  memorySlots(): Required<MemoryRegion>[] {
    return [...this.#slots.values()].sort((a, b) => a.slot - b.slot);
  }

  /** The lowest slot number not in use. @example vm.nextFreeSlot() === 0 */
  nextFreeSlot(): number {
    let s = 0;
    while (this.#slots.has(s)) s++;
    return s;
  }

  /**
   * `KVM_SET_TSS_ADDR`: three pages of guest physical space KVM needs on Intel hosts (e.g. 0xfffbd000).
   * @example vm.setTssAddress(0xfffbd000)
   */
  setTssAddress(addr: number): void {
    this.ioctl(`KVM_SET_TSS_ADDR 0x${addr.toString(16)}`, K.KVM_SET_TSS_ADDR, addr);
  }

  /**
   * `KVM_SET_IDENTITY_MAP_ADDR`: one page for the real-mode identity map on Intel hosts (e.g. 0xfffbc000).
   * @example vm.setIdentityMapAddress(0xfffbc000n)
   */
  setIdentityMapAddress(addr: bigint): void {
    // The argument is a pointer to a __u64 holding the address (no struct).
    const b = new Uint8Array(BigUint64Array.of(addr).buffer);
    this.ioctl(`KVM_SET_IDENTITY_MAP_ADDR 0x${addr.toString(16)}`, K.KVM_SET_IDENTITY_MAP_ADDR, b);
  }

  /**
   * `KVM_CREATE_IRQCHIP`: in-kernel PIC pair, IOAPIC and per-vCPU LAPICs. Call before creating vCPUs.
   * @example vm.createIrqchip()
   */
  createIrqchip(): void {
    this.ioctl('KVM_CREATE_IRQCHIP', K.KVM_CREATE_IRQCHIP);
  }

  /**
   * `KVM_GET_IRQCHIP`: the 512-byte state of chip `chipId` (0 PIC master, 1 PIC slave, 2 IOAPIC).
   * @example const ioapic = vm.getIrqchip(2);
   */
  getIrqchip(chipId: number): Uint8Array {
    const b = KvmIrqchip.encode({ chip_id: chipId, pad: 0, chip: {} });
    this.ioctl(`KVM_GET_IRQCHIP ${chipId}`, K.KVM_GET_IRQCHIP, b);
    return b.slice(KvmIrqchip.offsets.chip);
  }

  /**
   * `KVM_SET_IRQCHIP` with state from {@link VmFd.getIrqchip}.
   * @example vm.setIrqchip(2, vm.getIrqchip(2))
   */
  setIrqchip(chipId: number, state: Uint8Array): void {
    const op = `KVM_SET_IRQCHIP ${chipId}`;
    const max = KvmIrqchip.size - KvmIrqchip.offsets.chip;
    if (state.length > max) throw KvmError.invalid(op, `state is ${state.length} bytes, at most ${max}`);
    this.ioctl(op, K.KVM_SET_IRQCHIP, KvmIrqchip.encode({ chip_id: chipId, pad: 0, chip: { dummy: state } }));
  }

  /**
   * `KVM_CREATE_PIT2` (flags: `KVM_PIT_SPEAKER_DUMMY` = 1).
   * @example vm.createPit2()
   */
  createPit2(flags = 0): void {
    this.ioctl('KVM_CREATE_PIT2', K.KVM_CREATE_PIT2, KvmPitConfig.encode({ flags }));
  }

  /**
   * `KVM_GET_PIT2`: the 112-byte `kvm_pit_state2`.
   * @example const pit = vm.getPit2()
   */
  getPit2(): Uint8Array {
    const b = new Uint8Array(KvmPitState2.size);
    this.ioctl('KVM_GET_PIT2', K.KVM_GET_PIT2, b);
    return b;
  }

  /**
   * `KVM_SET_PIT2` with state from {@link VmFd.getPit2}.
   * @example vm.setPit2(vm.getPit2())
   */
  setPit2(state: Uint8Array): void {
    if (state.length !== KvmPitState2.size) {
      throw KvmError.invalid('KVM_SET_PIT2', `state is ${state.length} bytes, expected ${KvmPitState2.size}`);
    }
    this.ioctl('KVM_SET_PIT2', K.KVM_SET_PIT2, state);
  }

  /** `KVM_IRQ_LINE`: sets the level of irqchip input `irq` (a GSI). @example vm.setIrqLine(4, true) */
  setIrqLine(irq: number, level: boolean): void {
    this.ioctl(`KVM_IRQ_LINE ${irq}`, K.KVM_IRQ_LINE, KvmIrqLevel.encode({ irq, level: level ? 1 : 0 }));
  }

  /**
   * `KVM_IRQFD`: a write to eventfd `fd` raises `gsi`. With `resampleFd`, the GSI is level-triggered:
   * KVM signals `resampleFd` when the guest EOIs it and the device re-asserts if still pending.
   * @example vm.registerIrqfd(efd, 5);
   */
  registerIrqfd(fd: number, gsi: number, options: { resampleFd?: number } = {}): void {
    const resample = options.resampleFd !== undefined;
    const buf = KvmIrqfd.encode({
      fd,
      gsi,
      flags: resample ? K.KVM_IRQFD_FLAG_RESAMPLE : 0,
      resamplefd: options.resampleFd ?? 0,
    });
    this.ioctl(`KVM_IRQFD gsi ${gsi} fd ${fd}`, K.KVM_IRQFD, buf);
  }

  /**
   * Removes an irqfd registered with {@link VmFd.registerIrqfd}.
   * @example vm.unregisterIrqfd(efd, 5)
   */
  unregisterIrqfd(fd: number, gsi: number): void {
    const buf = KvmIrqfd.encode({ fd, gsi, flags: K.KVM_IRQFD_FLAG_DEASSIGN, resamplefd: 0 });
    this.ioctl(`KVM_IRQFD deassign gsi ${gsi} fd ${fd}`, K.KVM_IRQFD, buf);
  }

  /**
   * `KVM_IOEVENTFD`: a guest write matching `spec` signals eventfd `fd` with no userspace exit.
   * @example vm.registerIoeventfd(efd, { space: 'mmio', address: 0xd000_0050n, length: 4, datamatch: 0n });
   */
  registerIoeventfd(fd: number, spec: IoeventfdSpec): void {
    this.ioeventfd(fd, spec, false);
  }

  /**
   * Removes an ioeventfd (same `fd` and `spec` as registered).
   * @example vm.unregisterIoeventfd(efd, { space: 'pio', address: 0x30, length: 1 })
   */
  unregisterIoeventfd(fd: number, spec: IoeventfdSpec): void {
    this.ioeventfd(fd, spec, true);
  }

  private ioeventfd(fd: number, spec: IoeventfdSpec, deassign: boolean): void {
    const addr = BigInt(spec.address);
    const op = `KVM_IOEVENTFD ${deassign ? 'deassign ' : ''}${spec.space} 0x${addr.toString(16)}`;
    if (![0, 1, 2, 4, 8].includes(spec.length)) throw KvmError.invalid(op, `bad length ${spec.length}`);
    if (spec.space === 'pio' && (addr > 0xffffn || spec.length === 0 || spec.length === 8)) {
      throw KvmError.invalid(op, `bad PIO port 0x${addr.toString(16)} / length ${spec.length}`);
    }
    let flags = 0;
    if (spec.space === 'pio') flags |= K.KVM_IOEVENTFD_FLAG_PIO;
    if (spec.datamatch !== undefined) flags |= K.KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (deassign) flags |= K.KVM_IOEVENTFD_FLAG_DEASSIGN;
    const buf = KvmIoeventfd.encode({ datamatch: spec.datamatch ?? 0n, addr, len: spec.length, fd, flags });
    this.ioctl(op, K.KVM_IOEVENTFD, buf);
  }

  /**
   * `KVM_SET_GSI_ROUTING`: replaces the whole GSI routing table.
   * @example vm.setGsiRouting([{ gsi: 24, route: { type: 'msi', addressLo: 0xfee00000, addressHi: 0, data: 0x41 } }]);
   */
  setGsiRouting(entries: readonly IrqRoutingEntry[]): void {
    this.ioctl(
      `KVM_SET_GSI_ROUTING (${entries.length} entries)`,
      K.KVM_SET_GSI_ROUTING,
      KvmIrqRouting.encode({ entries: entries.map(routingEntryToKvm) }),
    );
  }

  /**
   * `KVM_SIGNAL_MSI`: returns > 0 when delivered, 0 when the guest blocked it.
   * @example vm.signalMsi({ address: 0xfee00000n, data: 0x30 });
   */
  signalMsi(msi: { address: bigint; data: number; devid?: number }): number {
    const buf = KvmMsi.encode({
      address_lo: Number(msi.address & 0xffffffffn),
      address_hi: Number(msi.address >> 32n),
      data: msi.data,
      flags: msi.devid !== undefined ? K.KVM_MSI_VALID_DEVID : 0,
      devid: msi.devid ?? 0,
    });
    return this.ioctl('KVM_SIGNAL_MSI', K.KVM_SIGNAL_MSI, buf);
  }

  /**
   * `KVM_GET_DIRTY_LOG` for `slot` (registered with `KVM_MEM_LOG_DIRTY_PAGES`): one bit per 4 KiB page,
   * cleared by the call. Returns the bitmap as 64-bit words.
   * @example const words = vm.getDirtyLog(0);
   */
  getDirtyLog(slot: number): BigUint64Array {
    const op = `KVM_GET_DIRTY_LOG slot ${slot}`;
    const r = this.#slots.get(slot);
    if (!r) throw KvmError.invalid(op, `slot ${slot} was not registered through this VmFd`);
    const pages = Number(r.memorySize / 4096n);
    const bitmap = new BigUint64Array(Math.ceil(pages / 64) || 1);
    const buf = KvmDirtyLog.encode({ slot, padding1: 0, dirty_bitmap: this.sys.addressOf(bitmap) });
    this.ioctl(op, K.KVM_GET_DIRTY_LOG, buf);
    return bitmap;
  }

  /**
   * Guest physical addresses of the pages dirtied in `slot` since the last call.
   * @example vm.dirtyPages(0); // [0x2000, 0x5000]
   */
  dirtyPages(slot: number): bigint[] {
    const words = this.getDirtyLog(slot);
    const base = this.#slots.get(slot)!.guestPhysAddr;
    const out: bigint[] = [];
    words.forEach((w, i) => {
      for (let b = 0n; w !== 0n && b < 64n; b++, w >>= 1n) {
        if (w & 1n) out.push(base + (BigInt(i) * 64n + b) * 4096n);
      }
    });
    return out;
  }

  /**
   * `KVM_GET_CLOCK`: the kvmclock value in ns.
   * @example vm.getClock().clock
   */
  getClock(): ClockData {
    const b = new Uint8Array(KvmClockData.size);
    this.ioctl('KVM_GET_CLOCK', K.KVM_GET_CLOCK, b);
    const { clock, flags, realtime, host_tsc } = KvmClockData.decode(b);
    return { clock, flags, realtime, host_tsc };
  }

  /** `KVM_SET_CLOCK`. @example vm.setClock({ clock: 0n, flags: 0 }) */
  setClock(data: ClockData): void {
    this.ioctl(
      'KVM_SET_CLOCK',
      K.KVM_SET_CLOCK,
      KvmClockData.encode({ realtime: 0n, host_tsc: 0n, pad0: 0, pad: [], ...data }),
    );
  }

  /**
   * `KVM_ENABLE_CAP` on the VM.
   * @example vm.enableCap(KVM_CAP_SPLIT_IRQCHIP, [24n]);
   */
  enableCap(cap: number, args: readonly bigint[] = [], flags = 0): void {
    const op = `KVM_ENABLE_CAP ${cap}`;
    if (args.length > ENABLE_CAP_ARGS)
      throw KvmError.invalid(op, `${args.length} arguments, at most ${ENABLE_CAP_ARGS}`);
    this.ioctl(op, K.KVM_ENABLE_CAP, KvmEnableCap.encode({ cap, flags, args: [...args] }));
  }

  /**
   * `KVM_REGISTER_COALESCED_MMIO` (or PIO with `pio: true`).
   * @example vm.registerCoalescedMmio(0xd0000000n, 0x1000)
   */
  registerCoalescedMmio(addr: bigint, size: number, pio = false): void {
    this.ioctl(
      `KVM_REGISTER_COALESCED_MMIO 0x${addr.toString(16)}`,
      K.KVM_REGISTER_COALESCED_MMIO,
      KvmCoalescedMmioZone.encode({ addr, size, pio: pio ? 1 : 0 }),
    );
  }

  /**
   * `KVM_UNREGISTER_COALESCED_MMIO`.
   * @example vm.unregisterCoalescedMmio(0xd0000000n, 0x1000)
   */
  unregisterCoalescedMmio(addr: bigint, size: number, pio = false): void {
    this.ioctl(
      `KVM_UNREGISTER_COALESCED_MMIO 0x${addr.toString(16)}`,
      K.KVM_UNREGISTER_COALESCED_MMIO,
      KvmCoalescedMmioZone.encode({ addr, size, pio: pio ? 1 : 0 }),
    );
  }

  /**
   * `KVM_CREATE_VCPU` and the mmap of its `kvm_run`. Call on the thread that will run it.
   * @example const vcpu = vm.createVcpu(0);
   */
  createVcpu(id: number): VcpuFd {
    const fd = this.ioctl(`KVM_CREATE_VCPU ${id}`, K.KVM_CREATE_VCPU, id);
    return VcpuFd.wrap(this.sys, fd, id, this.vcpuMmapSize);
  }

  /**
   * `KVM_CREATE_DEVICE` (e.g. `KVM_DEV_TYPE_VFIO` = 4); `test: true` only checks support.
   * @example const dev = vm.createDevice(4);
   */
  createDevice(type: number, test = false): DeviceFd | undefined {
    const b = KvmCreateDevice.encode({ type, fd: 0, flags: test ? KVM_CREATE_DEVICE_TEST : 0 });
    this.ioctl(`KVM_CREATE_DEVICE type ${type}`, K.KVM_CREATE_DEVICE, b);
    if (test) return undefined;
    return DeviceFd.wrap(this.sys, KvmCreateDevice.decode(b).fd, type);
  }
}
