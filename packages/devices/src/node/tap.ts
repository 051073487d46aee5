import { DeviceError } from '../errors.js';
import type { NetBackend } from '../virtio/net-backend.js';

/** `TUNSETIFF` = _IOW('T', 202, int). */
export const TUNSETIFF = 0x400454ca;
/** `struct ifreq` flags for TUNSETIFF. */
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
const O_RDWR = 0x2;
const O_NONBLOCK = 0x800;
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;

/** The generic calls of the kvm-sys addon that a tap needs (no KVM involved). */
interface TapAddon {
  open(path: string, flags: number): number;
  close(fd: number): void;
  ioctl(fd: number, request: number, arg?: number | bigint | ArrayBufferView): number;
  read(fd: number, buf: ArrayBufferView): number;
  write(fd: number, buf: ArrayBufferView): number;
  fcntlSetNonblock(fd: number, on: boolean): void;
  watchFd(fd: number, events: number, cb: (events: number) => void): unknown;
  unwatchFd(handle: unknown): void;
}

/** Loads the kvm-sys addon's generic syscalls, or throws {@link DeviceError} saying why not. */
async function loadTapAddon(): Promise<TapAddon> {
  try {
    const sys = (await import('@ts-vmm/kvm-sys' as string)) as { loadAddon(): TapAddon };
    return sys.loadAddon();
  } catch (e) {
    throw new DeviceError(
      'unsupported',
      'tap',
      `the tap backend needs the @ts-vmm/kvm-sys native addon: ${(e as Error).message}`,
      e,
    );
  }
}

/**
 * A {@link NetBackend} over a Linux tap device (`/dev/net/tun`, IFF_TAP | IFF_NO_PI), opened with the
 * kvm-sys addon's generic `open`/`ioctl`. The fd is non-blocking and watched on the calling thread's
 * event loop, so host traffic never waits on a vCPU. Node only, and needs the optional
 * `@ts-vmm/kvm-sys` peer (`@ts-vmm/devices/node`).
 *
 * @example
 * ```ts
 * import { Net } from '@ts-vmm/devices';
 * import { TapBackend } from '@ts-vmm/devices/node';
 * const tap = await TapBackend.open('vmtap0'); // needs CAP_NET_ADMIN (or a persistent tap owned by you)
 * const net = new Net({ backend: tap });
 * ```
 */
export class TapBackend implements NetBackend {
  private watch: unknown;
  private closed = false;

  private constructor(
    private readonly addon: TapAddon,
    /** The tap's file descriptor. */
    readonly fd: number,
    /** The interface name the kernel gave the tap. */
    readonly name: string,
  ) {}

  /**
   * Opens (creating if needed) tap interface `name` ("" or a "%d" pattern lets the kernel choose).
   * @example const tap = await TapBackend.open('tap%d'); tap.name // 'tap0'
   */
  static async open(name = ''): Promise<TapBackend> {
    const enc = new TextEncoder().encode(name);
    if (enc.length >= IFNAMSIZ)
      throw new DeviceError(
        'invalid-config',
        'tap',
        `interface name "${name}" is longer than ${IFNAMSIZ - 1} bytes`,
      );
    const addon = await loadTapAddon();
    let fd: number;
    try {
      fd = addon.open('/dev/net/tun', O_RDWR | O_NONBLOCK);
    } catch (e) {
      throw new DeviceError('io', 'tap', `cannot open /dev/net/tun: ${(e as Error).message}`, e);
    }
    const ifr = new Uint8Array(IFREQ_SIZE);
    ifr.set(enc, 0);
    new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TAP | IFF_NO_PI, true);
    try {
      addon.ioctl(fd, TUNSETIFF, ifr);
      addon.fcntlSetNonblock(fd, true);
    } catch (e) {
      addon.close(fd);
      throw new DeviceError('io', 'tap', `TUNSETIFF for tap "${name}" failed: ${(e as Error).message}`, e);
    }
    const end = ifr.indexOf(0);
    const actual = new TextDecoder().decode(ifr.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end));
    return new TapBackend(addon, fd, actual);
  }

  send(frame: Uint8Array): boolean {
    if (this.closed) return false;
    try {
      return this.addon.write(this.fd, frame) === frame.length;
    } catch {
      return false;
    }
  }

  recv(buf: Uint8Array): number {
    if (this.closed) return -1;
    try {
      const n = this.addon.read(this.fd, buf);
      return n <= 0 ? -1 : n;
    } catch {
      return -1;
    }
  }

  watchReadable(callback: (() => void) | null): void {
    if (this.watch !== undefined) {
      this.addon.unwatchFd(this.watch);
      this.watch = undefined;
    }
    if (callback && !this.closed) this.watch = this.addon.watchFd(this.fd, 1, () => callback());
  }

  close(): void {
    if (this.closed) return;
    this.watchReadable(null);
    this.closed = true;
    this.addon.close(this.fd);
  }
}
