// Loading the native addon lazily, so the pure-TypeScript ABI (ioctl numbers, struct layouts) stays
// importable on hosts where the addon is not built (macOS, Windows, CI without a compiler).
import { accessSync, existsSync, constants as fsConstants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AddonHost, addonCandidates, resolveAddon, unavailableMessage } from './addon-resolve.js';
import { KvmSysError } from './errors.js';

/**
 * An error thrown by a native call. `errno` is the Linux errno, `code` its name (`'EBADF'`,
 * `'EINVAL'`...), `syscall` the failing call (`'ioctl'`, `'open'`, `'mmap'`...).
 * The addon throws plain `Error` objects carrying these properties; use {@link isSyscallError}
 * to narrow.
 * @example
 * try {
 *   loadAddon().ioctl(vmFd, KVM_CREATE_VCPU, 0); // vmFd: a KVM_CREATE_VM result
 * } catch (e) {
 *   if (isSyscallError(e) && e.code === 'EEXIST') console.log('vCPU 0 exists already');
 *   else throw e;
 * }
 */
export interface SyscallError extends Error {
  errno: number;
  code: string;
  syscall: string;
}

/**
 * True when `e` is an error thrown by the addon (it has `errno`, `code` and `syscall`).
 * @example
 * if (isSyscallError(e) && e.code === 'EINTR') retry();
 */
export function isSyscallError(e: unknown): e is SyscallError {
  return (
    e instanceof Error &&
    typeof (e as Partial<SyscallError>).errno === 'number' &&
    typeof (e as Partial<SyscallError>).code === 'string' &&
    typeof (e as Partial<SyscallError>).syscall === 'string'
  );
}

/** Opaque handle returned by {@link NativeAddon.watchFd}. */
export interface WatchHandle {
  readonly fd: number;
}

/**
 * The native addon's surface: generic Linux calls, no KVM semantics.
 * All file descriptors it creates are close-on-exec. Every failure throws a {@link SyscallError}
 * (except the documented EAGAIN / EINTR returns).
 * @example
 * const addon = loadAddon();
 * const kvm = addon.open('/dev/kvm', O_RDWR);
 * addon.ioctl(kvm, KVM_GET_API_VERSION); // 12
 */
export interface NativeAddon {
  /** `open(path, flags | O_CLOEXEC)`; returns the fd. */
  open(path: string, flags: number): number;
  /** `close(fd)`. */
  close(fd: number): void;
  /**
   * `ioctl(fd, request, arg)`. A typed array / DataView / ArrayBuffer `arg` is passed as a pointer to
   * its bytes (byteOffset respected); a number or bigint is passed as an integer. `request` is an
   * unsigned 32-bit number. Returns the (non-negative) ioctl result; errors, EINTR included, throw.
   */
  ioctl(fd: number, request: number, arg?: number | bigint | ArrayBufferView | ArrayBuffer): number;
  /**
   * `ioctl(fd, request, 0)` for the hot path (KVM_RUN). Returns the result, -EINTR (-4) when a
   * signal (a kick) interrupted it, or -EAGAIN (-11) when it asks to be called again; other errors
   * throw.
   */
  ioctlFast(fd: number, request: number): number;
  /** `mmap(NULL, length, prot, flags, fd, offset)` as an external ArrayBuffer (unmapped only by `munmap`). */
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): ArrayBuffer;
  /** Unmaps a buffer returned by `mmap` and detaches it (its byteLength becomes 0). Others throw EINVAL. */
  munmap(buf: ArrayBuffer): void;
  /** Host virtual address of the first byte of `buf` (for structs that embed pointers). */
  addressOf(buf: ArrayBuffer | ArrayBufferView): bigint;
  /** `memfd_create(name, flags | MFD_CLOEXEC)`. */
  memfdCreate(name: string, flags: number): number;
  /** `ftruncate(fd, size)`. */
  ftruncate(fd: number, size: number): void;
  /** `read(fd, buf)`; returns the byte count, 0 at EOF, or -1 on EAGAIN. */
  read(fd: number, buf: ArrayBufferView | ArrayBuffer): number;
  /** `write(fd, buf)`; returns the byte count, or -1 on EAGAIN. */
  write(fd: number, buf: ArrayBufferView | ArrayBuffer): number;
  /** Sets or clears O_NONBLOCK. */
  fcntlSetNonblock(fd: number, on: boolean): void;
  /** `eventfd(initval, flags | EFD_CLOEXEC)`. */
  eventfd(initval: number, flags: number): number;
  /** Reads an eventfd counter; `null` on EAGAIN (non-blocking eventfd with a zero counter). */
  eventfdRead(fd: number): bigint | null;
  /** Adds `value` to an eventfd counter. */
  eventfdWrite(fd: number, value: number | bigint): void;
  /**
   * Watches `fd` on the calling thread's libuv loop (main thread or worker). `events`: 1 readable,
   * 2 writable. The callback receives the ready mask (1 | 2, or 4 on error/hangup). libuv puts the
   * fd in non-blocking mode. One watcher per fd per thread. The watcher keeps the loop alive until
   * `unwatchFd`.
   */
  watchFd(fd: number, events: number, callback: (events: number) => void): WatchHandle;
  /** Stops a watcher (idempotent); its callback is never called afterwards. */
  unwatchFd(handle: WatchHandle): void;
  /**
   * Installs (once per process) a no-op handler without SA_RESTART for the kick signal, unblocks it
   * on the calling thread, and returns the signal number. Call it on every vCPU thread.
   */
  installKickSignal(): number;
  /** `pthread_self()` of the calling thread. */
  currentThread(): bigint;
  /**
   * `pthread_kill(thread, kick signal)`. Throws EINVAL if `installKickSignal` was never called, and
   * ESRCH if `thread` did not call `installKickSignal()` or has exited (never signals a dead thread).
   */
  kickThread(thread: bigint): void;
}

/**
 * Roots of this package to look in: the one this module sits in (src/ and dist/ are both one level
 * below it), and the one `@ts-vmm/kvm-sys/package.json` resolves to (when a bundler has inlined this
 * module into another package).
 */
function packageRoots(): string[] {
  const roots = [join(dirname(fileURLToPath(import.meta.url)), '..')];
  try {
    roots.push(dirname(createRequire(import.meta.url).resolve('@ts-vmm/kvm-sys/package.json')));
  } catch {
    // not resolvable from here
  }
  return roots;
}

function host(): AddonHost {
  return {
    platform: process.platform,
    arch: process.arch,
    napiVersion: Number(process.versions.napi ?? 0),
  };
}

let cached: NativeAddon | undefined;
let cachedPath: string | undefined;
let cachedError: KvmSysError | undefined;

/**
 * Path of the addon: `$TS_VMM_KVM_SYS_ADDON` when set; else the file {@link loadAddon} loaded; before
 * it has loaded, the first candidate present: the prebuilt `prebuilds/<platform>-<arch>/kvm_sys.node`
 * shipped in the package, then `build/Release/kvm_sys.node` built from source (see the README). Pass
 * it to workers that `require` the addon themselves, after `loadAddon()`, so they load the same file.
 * @example console.log(addonPath());
 */
export function addonPath(): string {
  const override = process.env.TS_VMM_KVM_SYS_ADDON;
  if (override) return override;
  if (cachedPath) return cachedPath;
  const candidates = addonCandidates(packageRoots(), host());
  return (candidates.find((c) => existsSync(c.path)) ?? candidates[1]!).path;
}

/**
 * Loads the native addon (once; later calls return the same object): `$TS_VMM_KVM_SYS_ADDON` alone
 * when that is set; otherwise the prebuilt binary shipped in the package when it matches this host
 * (platform, arch, Node-API version) and loads, else the one built from source at install.
 * @throws {KvmSysError} of kind `'addon-unavailable'` when it cannot load: not Linux x86-64, or
 * naming each path tried, why it failed, and the rebuild step (`cause`: the first load error).
 * @example
 * const addon = loadAddon();
 * const efd = addon.eventfd(0, EFD_NONBLOCK);
 */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  if (cachedError) throw cachedError;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    cachedError = new KvmSysError(
      'addon-unavailable',
      `@ts-vmm/kvm-sys: the native addon supports linux/x64 only (this is ${process.platform}/${process.arch}); use a pure-TypeScript backend instead`,
    );
    throw cachedError;
  }
  const require = createRequire(import.meta.url);
  const result = resolveAddon<NativeAddon>({
    roots: packageRoots(),
    override: process.env.TS_VMM_KVM_SYS_ADDON,
    host: host(),
    load: (path) => require(path),
  });
  if (!result.ok) {
    cachedError = new KvmSysError('addon-unavailable', unavailableMessage(result.attempts), {
      cause: result.attempts.find((a) => a.error !== undefined)?.error,
    });
    throw cachedError;
  }
  cachedPath = result.candidate.path;
  cached = result.addon;
  return cached;
}

/**
 * True when the native addon can be loaded on this host.
 * @example
 * if (isAddonAvailable()) console.log(loadAddon().currentThread());
 */
export function isAddonAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

/**
 * True when the addon loads and `/dev/kvm` (or `path`) can be opened read-write.
 * @example
 * if (!hasKvm()) console.log('skipped: /dev/kvm not available');
 */
export function hasKvm(path = '/dev/kvm'): boolean {
  if (!isAddonAvailable()) return false;
  try {
    accessSync(path, fsConstants.R_OK | fsConstants.W_OK);
    const addon = loadAddon();
    const fd = addon.open(path, 2 /* O_RDWR */);
    addon.close(fd);
    return true;
  } catch {
    return false;
  }
}
