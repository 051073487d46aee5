/**
 * Hypervisor-agnostic device models for ts-vmm: a PIO/MMIO {@link Bus}, legacy devices (16550A
 * {@link Serial}, {@link I8042}, CMOS {@link Rtc}, {@link DebugExit}, {@link BootTimer},
 * {@link AcpiPowerDevice}), the virtio split {@link Queue}, the virtio-mmio transport and virtio
 * block, net, console, rng and vsock, with one error class, {@link DeviceError}.
 *
 * This entry is portable: it imports no Node module and uses no Node global, so it bundles for a
 * browser. Host resources are reached through interfaces ({@link DiskBackend}, {@link NetBackend},
 * {@link VsockBackend}); the Node implementations (`FileDiskBackend`, `UnixSocketVsockBackend`,
 * `TapBackend`) are in `@ts-vmm/devices/node`, the test helpers (`SimulatedDriver`,
 * `RecordingIrqLine`) in `@ts-vmm/devices/testing`.
 *
 * @example
 * ```ts
 * import { Bus, Rtc, Serial } from '@ts-vmm/devices';
 *
 * const pio = new Bus('pio');
 * pio.register(0x3f8, 8, new Serial({ sink: { write: (b) => (console.log(b), true) } }), 'com1');
 * pio.register(0x70, 2, new Rtc(), 'rtc');
 * pio.writeValue(0x3f8, 1, 0x41); // the guest's `out 0x3f8, al`: [65] reaches the sink
 * ```
 *
 * @packageDocumentation
 */

export {
  ACPI_POWER_RESET_VALUE,
  ACPI_POWER_SIZE,
  AcpiPowerDevice,
  type AcpiPowerOptions,
  type PowerEvent,
  SLP_EN,
  SLP_TYP_MASK,
  WAK_STS,
} from './acpi-power.js';
export {
  BOOT_TIMER_MAGIC,
  BOOT_TIMER_MMIO_BASE,
  BootTimer,
  type BootTimerOptions,
  performanceClockNs,
} from './boot-timer.js';
export {
  type AddressSpace,
  Bus,
  type BusDevice,
  type BusOptions,
  type BusRange,
  type UnclaimedAccess,
} from './bus.js';
export { DebugExit, type DebugExitOptions } from './debug-exit.js';
export { DeviceError, type DeviceErrorKind } from './errors.js';
export {
  errnoOf,
  type FsAttr,
  type FsDirEntry,
  type FsEntry,
  type FsSetattr,
  type FsStatfs,
  type FuseFileSystem,
  fsError,
} from './fuse/file-system.js';
export {
  type MemoryDir,
  type MemoryFile,
  MemoryFileSystem,
  type MemoryFileSystemOptions,
  type MemoryNode,
} from './fuse/memory-fs.js';
export {
  ERRNO,
  FATTR,
  type FsErrorCode,
  FUSE_INIT_FLAG,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_MIN_MINOR_VERSION,
  FUSE_OP,
  FUSE_ROOT_ID,
  FUSE_SIZE,
  LINUX_O,
  RENAME_FLAG,
  S_IF,
} from './fuse/protocol.js';
export {
  checkName,
  FUSE_MAX_REQUEST,
  FUSE_MAX_WRITE,
  FuseServer,
  type FuseServerOptions,
  type FuseServerStats,
} from './fuse/server.js';
export { I8042, I8042_CMD, type I8042Options } from './i8042.js';
export type { IrqLine } from './irq.js';
export { LogLimiter, type LogLimiterOptions } from './log-limiter.js';
export { CMOS_REG, RTC_UIP_WINDOW_MS, Rtc, type RtcOptions } from './rtc.js';
export {
  SERIAL_FIFO_SIZE,
  Serial,
  type SerialOptions,
  type SerialSink,
  UART_REG,
} from './serial.js';
export { bytesToBase64, type DeviceState, type DeviceStateValue, StateReader } from './state.js';
export {
  Block,
  type BlockOptions,
  type BlockStats,
  SECTOR_SIZE,
  VIRTIO_BLK_F,
  VIRTIO_BLK_ID_BYTES,
  VIRTIO_BLK_S,
  VIRTIO_BLK_T,
} from './virtio/block.js';
export { Console, type ConsoleOptions, VIRTIO_CONSOLE_F } from './virtio/console.js';
export {
  featureBit,
  hasFeature,
  VIRTIO_F,
  VIRTIO_ID,
  VIRTIO_MMIO_INT,
  VIRTIO_STATUS,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F,
  VIRTQ_USED_F_NO_NOTIFY,
} from './virtio/constants.js';
export { readConfigBytes, type VirtioContext, type VirtioDevice } from './virtio/device.js';
export {
  type DiskBackend,
  type DiskTransferCallback,
  MemoryDiskBackend,
  type MemoryDiskBackendOptions,
} from './virtio/disk.js';
export { VIRTIO_FS_TAG_BYTES, VIRTIO_ID_FS, VirtioFs, type VirtioFsOptions } from './virtio/fs.js';
export {
  VIRTIO_MMIO,
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MMIO_SIZE,
  type VirtioMmioDeviceInfo,
  type VirtioMmioOptions,
  VirtioMmioTransport,
  virtioMmioCmdline,
} from './virtio/mmio.js';
export {
  MAX_FRAME_SIZE,
  Net,
  type NetOptions,
  type NetStats,
  parseMac,
  VIRTIO_NET_F,
  VIRTIO_NET_HDR_SIZE,
} from './virtio/net.js';
export { MemoryNetBackend, type NetBackend } from './virtio/net-backend.js';
export {
  ChainBuffer,
  ChainReader,
  ChainWriter,
  type Descriptor,
  DescriptorChain,
  MAX_INDIRECT_DESCRIPTORS,
  MAX_QUEUE_SIZE,
  Queue,
} from './virtio/queue.js';
export { RNG_MAX_BYTES_PER_REQUEST, Rng, type RngOptions } from './virtio/rng.js';
export { VSOCK_BUFFER_CHUNK, Vsock, type VsockOptions, type VsockStats } from './virtio/vsock.js';
export type { VsockBackend, VsockHostStream, VsockStreamEvents } from './virtio/vsock-backend.js';
export {
  decodeVsockHeader,
  encodeVsockHeader,
  VSOCK_HDR_SIZE,
  VSOCK_HOST_CID,
  VSOCK_MAX_PAYLOAD,
  VSOCK_OP,
  VSOCK_SHUTDOWN,
  VSOCK_TYPE_STREAM,
  type VsockHeader,
} from './virtio/vsock-packet.js';
