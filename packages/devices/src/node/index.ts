/**
 * The Node-only part of @ts-vmm/devices: host-side backends that need Node's modules or the
 * kvm-sys native addon. The device models themselves come from the portable root entry.
 *
 * - {@link FileDiskBackend}: a raw image file (or block device) for `Block`.
 * - {@link UnixSocketVsockBackend}: Firecracker's hybrid vsock over Unix sockets for `Vsock`.
 * - {@link TapBackend}: a Linux tap device for `Net` (through the optional `@ts-vmm/kvm-sys` addon).
 *
 * @example
 * ```ts
 * import { Block } from '@ts-vmm/devices';
 * import { FileDiskBackend } from '@ts-vmm/devices/node';
 *
 * const disk = new Block({ backend: FileDiskBackend.open('rootfs.ext4', { readOnly: true }) });
 * ```
 *
 * @packageDocumentation
 */
export { FileDiskBackend, type FileDiskOptions } from './file-disk.js';
export {
  type HostDir,
  HostDirectoryFileSystem,
  type HostDirectoryOptions,
  type HostFile,
  HostNode,
} from './host-fs.js';
export { IFF_NO_PI, IFF_TAP, IFF_VNET_HDR, TapBackend, TUNSETIFF } from './tap.js';
export { UnixSocketVsockBackend, type UnixSocketVsockOptions } from './unix-socket-vsock.js';
