// VM-level structs: memory slots, dirty log, clock, ioeventfd, enable_cap, coalesced MMIO,
// devices (kvm_create_device, kvm_device_attr), kvm_one_reg.
import { array, bytes, defineStruct, type Struct, s32, u8, u32, u64 } from './layout.js';

/** `struct kvm_userspace_memory_region` (KVM_SET_USER_MEMORY_REGION). */
export interface KvmUserspaceMemoryRegionValue {
  slot: number;
  /** KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY */
  flags: number;
  guest_phys_addr: bigint;
  /** Bytes; 0 deletes the slot. */
  memory_size: bigint;
  /** Host virtual address (use `addon.addressOf(mapping)`). */
  userspace_addr: bigint;
}
/**
 * Layout of `struct kvm_userspace_memory_region` (32 bytes).
 * @example
 * const addon = loadAddon();
 * const memfd = addon.memfdCreate('guest-ram', 0);
 * addon.ftruncate(memfd, 1 << 20);
 * const ram = addon.mmap(memfd, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
 * // vmFd: a KVM_CREATE_VM result
 * addon.ioctl(vmFd, KVM_SET_USER_MEMORY_REGION, KvmUserspaceMemoryRegion.encode({
 *   slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: BigInt(ram.byteLength), userspace_addr: addon.addressOf(ram),
 * }));
 */
export const KvmUserspaceMemoryRegion: Struct<KvmUserspaceMemoryRegionValue> = defineStruct(
  'kvm_userspace_memory_region',
  [
    ['slot', u32],
    ['flags', u32],
    ['guest_phys_addr', u64],
    ['memory_size', u64],
    ['userspace_addr', u64],
  ],
);

/** `struct kvm_dirty_log` (KVM_GET_DIRTY_LOG). */
export interface KvmDirtyLogValue {
  slot: number;
  padding1: number;
  /** Host address of a bitmap with one bit per page of the slot (`addon.addressOf(bitmap)`). */
  dirty_bitmap: bigint;
}
/** Layout of `struct kvm_dirty_log` (16 bytes). @example KvmDirtyLog.encode({ slot: 0, padding1: 0, dirty_bitmap: addon.addressOf(bitmap) }) */
export const KvmDirtyLog: Struct<KvmDirtyLogValue> = defineStruct('kvm_dirty_log', [
  ['slot', u32],
  ['padding1', u32],
  ['dirty_bitmap', u64],
]);

/** `struct kvm_clock_data` (KVM_GET_CLOCK / KVM_SET_CLOCK). */
export interface KvmClockDataValue {
  clock: bigint;
  /** KVM_CLOCK_* */
  flags: number;
  pad0: number;
  realtime: bigint;
  host_tsc: bigint;
  pad: number[];
}
/** Layout of `struct kvm_clock_data` (48 bytes). @example KvmClockData.decode(buf).clock */
export const KvmClockData: Struct<KvmClockDataValue> = defineStruct('kvm_clock_data', [
  ['clock', u64],
  ['flags', u32],
  ['pad0', u32],
  ['realtime', u64],
  ['host_tsc', u64],
  ['pad', array(u32, 4)],
]);

/** `struct kvm_ioeventfd` (KVM_IOEVENTFD). */
export interface KvmIoeventfdValue {
  datamatch: bigint;
  addr: bigint;
  /** 1, 2, 4 or 8; 0 matches any length. */
  len: number;
  fd: number;
  /** KVM_IOEVENTFD_FLAG_* */
  flags: number;
  pad?: Uint8Array;
}
/**
 * Layout of `struct kvm_ioeventfd` (64 bytes).
 * @example KvmIoeventfd.encode({ datamatch: 0n, addr: 0xd0000050n, len: 4, fd: efd, flags: 0 })
 */
export const KvmIoeventfd: Struct<KvmIoeventfdValue> = defineStruct('kvm_ioeventfd', [
  ['datamatch', u64],
  ['addr', u64],
  ['len', u32],
  ['fd', s32],
  ['flags', u32],
  ['pad', bytes(36)],
]);

/** `struct kvm_enable_cap` (KVM_ENABLE_CAP on a VM or vCPU fd). */
export interface KvmEnableCapValue {
  cap: number;
  flags: number;
  args: bigint[];
  pad?: Uint8Array;
}
/** Layout of `struct kvm_enable_cap` (104 bytes). @example KvmEnableCap.encode({ cap: KVM_CAP_SPLIT_IRQCHIP, flags: 0, args: [24n] }) */
export const KvmEnableCap: Struct<KvmEnableCapValue> = defineStruct('kvm_enable_cap', [
  ['cap', u32],
  ['flags', u32],
  ['args', array(u64, 4)],
  ['pad', bytes(64)],
]);

/** `struct kvm_coalesced_mmio_zone` (KVM_REGISTER_COALESCED_MMIO). `pad`/`pio` share a word. */
export interface KvmCoalescedMmioZoneValue {
  addr: bigint;
  size: number;
  pad?: number;
  pio?: number;
}
/** Layout of `struct kvm_coalesced_mmio_zone` (16 bytes). @example KvmCoalescedMmioZone.encode({ addr: 0xd0000000n, size: 0x1000, pio: 0 }) */
export const KvmCoalescedMmioZone: Struct<KvmCoalescedMmioZoneValue> = defineStruct(
  'kvm_coalesced_mmio_zone',
  [
    ['addr', u64],
    ['size', u32],
    ['pad', u32, { at: 12 }],
    ['pio', u32, { at: 12 }],
  ],
);

/** `struct kvm_coalesced_mmio`: one entry of the coalesced MMIO ring. */
export interface KvmCoalescedMmioValue {
  phys_addr: bigint;
  len: number;
  pad?: number;
  pio?: number;
  data: Uint8Array;
}
/** Layout of `struct kvm_coalesced_mmio` (24 bytes). @example KvmCoalescedMmio.decode(ring, 8 + i * 24) */
export const KvmCoalescedMmio: Struct<KvmCoalescedMmioValue> = defineStruct('kvm_coalesced_mmio', [
  ['phys_addr', u64],
  ['len', u32],
  ['pad', u32, { at: 12 }],
  ['pio', u32, { at: 12 }],
  ['data', bytes(8)],
]);

/** Header of `struct kvm_coalesced_mmio_ring` (entries follow at offset 8). */
export interface KvmCoalescedMmioRingValue {
  first: number;
  last: number;
}
/** Layout of the `struct kvm_coalesced_mmio_ring` header (8 bytes). @example KvmCoalescedMmioRing.decode(page).first */
export const KvmCoalescedMmioRing: Struct<KvmCoalescedMmioRingValue> = defineStruct(
  'kvm_coalesced_mmio_ring',
  [
    ['first', u32],
    ['last', u32],
  ],
);

/** `struct kvm_create_device` (KVM_CREATE_DEVICE). */
export interface KvmCreateDeviceValue {
  /** KVM_DEV_TYPE_* */
  type: number;
  /** Out: the device fd. */
  fd: number;
  /** KVM_CREATE_DEVICE_TEST */
  flags: number;
}
/** Layout of `struct kvm_create_device` (12 bytes). @example KvmCreateDevice.encode({ type: KVM_DEV_TYPE_VFIO, fd: 0, flags: 0 }) */
export const KvmCreateDevice: Struct<KvmCreateDeviceValue> = defineStruct('kvm_create_device', [
  ['type', u32],
  ['fd', u32],
  ['flags', u32],
]);

/** `struct kvm_device_attr` (KVM_SET/GET/HAS_DEVICE_ATTR). */
export interface KvmDeviceAttrValue {
  flags: number;
  group: number;
  attr: bigint;
  /** Host address of the attribute data. */
  addr: bigint;
}
/** Layout of `struct kvm_device_attr` (24 bytes). @example KvmDeviceAttr.encode({ flags: 0, group: 1, attr: 0n, addr: 0n }) */
export const KvmDeviceAttr: Struct<KvmDeviceAttrValue> = defineStruct('kvm_device_attr', [
  ['flags', u32],
  ['group', u32],
  ['attr', u64],
  ['addr', u64],
]);

/** `struct kvm_one_reg` (KVM_GET_ONE_REG / KVM_SET_ONE_REG). */
export interface KvmOneRegValue {
  id: bigint;
  /** Host address of the register value. */
  addr: bigint;
}
/** Layout of `struct kvm_one_reg` (16 bytes). @example KvmOneReg.encode({ id: 0n, addr: addon.addressOf(value) }) */
export const KvmOneReg: Struct<KvmOneRegValue> = defineStruct('kvm_one_reg', [
  ['id', u64],
  ['addr', u64],
]);

/** `struct kvm_reinject_control` (KVM_REINJECT_CONTROL). */
export interface KvmReinjectControlValue {
  pit_reinject: number;
  reserved?: Uint8Array;
}
/** Layout of `struct kvm_reinject_control` (32 bytes). @example KvmReinjectControl.encode({ pit_reinject: 0 }) */
export const KvmReinjectControl: Struct<KvmReinjectControlValue> = defineStruct('kvm_reinject_control', [
  ['pit_reinject', u8],
  ['reserved', bytes(31)],
]);
