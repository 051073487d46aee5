/**
 * `DeviceFd`: a device created with `KVM_CREATE_DEVICE`.
 *
 * @module
 */
import * as K from '@ts-vmm/kvm-sys';
import { KvmDeviceAttr } from '@ts-vmm/kvm-sys';
import { FdHandle } from './fd-handle.js';
import type { NativeAddon } from './sys.js';

/** One device attribute: `group`/`attr` select it; `addr` points at its value (host address). */
export interface DeviceAttr {
  group: number;
  attr: bigint;
  addr?: bigint;
  flags?: number;
}

/**
 * A KVM device fd (VFIO bridge, in-kernel interrupt controllers on other architectures).
 *
 * @example
 * ```ts
 * import { KVM_DEV_TYPE_VFIO, loadAddon, O_RDWR } from '@ts-vmm/kvm-sys';
 * const vm = kvm.createVm();
 * const dev = vm.createDevice(KVM_DEV_TYPE_VFIO)!;
 * // KVM_DEV_VFIO_FILE (1) / KVM_DEV_VFIO_FILE_ADD (1): addr points at the fd of an open /dev/vfio/N
 * const groupFd = Int32Array.of(loadAddon().open('/dev/vfio/0', O_RDWR));
 * const add = { group: 1, attr: 1n, addr: loadAddon().addressOf(groupFd) };
 * if (dev.hasDeviceAttr(add)) dev.setDeviceAttr(add);
 * ```
 */
export class DeviceFd extends FdHandle {
  protected readonly what = 'DeviceFd';
  /** The `KVM_DEV_TYPE_*` it was created as. */
  readonly type: number;

  private constructor(sys: NativeAddon, fd: number, type: number) {
    super(sys, fd);
    this.type = type;
  }

  /** @internal */
  static wrap(sys: NativeAddon, fd: number, type: number): DeviceFd {
    return new DeviceFd(sys, fd, type);
  }

  private attrBuf(a: DeviceAttr): Uint8Array {
    return KvmDeviceAttr.encode({ flags: a.flags ?? 0, group: a.group, attr: a.attr, addr: a.addr ?? 0n });
  }

  /**
   * `KVM_SET_DEVICE_ATTR` (the value is read from `addr`).
   * @example
   * import { loadAddon } from '@ts-vmm/kvm-sys';
   * const value = BigUint64Array.of(1n);
   * dev.setDeviceAttr({ group: 1, attr: 1n, addr: loadAddon().addressOf(value) });
   */
  setDeviceAttr(a: DeviceAttr): void {
    this.ioctl(`KVM_SET_DEVICE_ATTR group ${a.group} attr ${a.attr}`, K.KVM_SET_DEVICE_ATTR, this.attrBuf(a));
  }

  /**
   * `KVM_GET_DEVICE_ATTR` (the value is written at `addr`).
   * @example
   * import { loadAddon } from '@ts-vmm/kvm-sys';
   * const value = new BigUint64Array(1);
   * dev.getDeviceAttr({ group: 1, attr: 1n, addr: loadAddon().addressOf(value) });
   * console.log(value[0]);
   */
  getDeviceAttr(a: DeviceAttr): void {
    this.ioctl(`KVM_GET_DEVICE_ATTR group ${a.group} attr ${a.attr}`, K.KVM_GET_DEVICE_ATTR, this.attrBuf(a));
  }

  /**
   * `KVM_HAS_DEVICE_ATTR`: whether the attribute exists.
   * @example dev.hasDeviceAttr({ group: 1, attr: 1n })
   */
  hasDeviceAttr(a: DeviceAttr): boolean {
    this.fdFor('KVM_HAS_DEVICE_ATTR');
    try {
      this.ioctl(
        `KVM_HAS_DEVICE_ATTR group ${a.group} attr ${a.attr}`,
        K.KVM_HAS_DEVICE_ATTR,
        this.attrBuf(a),
      );
      return true;
    } catch {
      return false;
    }
  }
}
