/** Which hypervisor backend runs the guest. `auto` probes KVM and falls back to the emulator. */
export type BackendChoice = 'auto' | 'kvm' | 'emulated';

/** Where the guest console lives: the 16550A on ttyS0, virtio-console (hvc0), or nowhere. */
export type ConsoleChoice = 'serial' | 'virtio' | 'none';

/** How the guest finds its virtio-mmio devices. */
export type DeviceDiscovery = 'acpi' | 'cmdline' | 'both';

/**
 * How guest time runs on the emulated backend: `realtime` (default) follows the host's clock, so
 * every clock the guest reads (TSC, kvm-clock and its wall clock, LAPIC timer, PIT, CMOS RTC) keeps
 * the host's time however fast the emulator runs; `virtual` counts executed instructions (1 ns
 * each) and skips idle time: deterministic timing, like QEMU's `-icount`, with guest time running
 * slower than the host's while the guest computes. KVM always runs on the host's clock.
 */
export type ClockChoice = 'realtime' | 'virtual';

/** A block device backed by a host file. */
export interface DiskConfig {
  path: string;
  readOnly: boolean;
}

/** A virtio-net device backed by a host tap interface. */
export interface NetConfig {
  tap: string;
  /** `aa:bb:cc:dd:ee:ff`, lower case. */
  mac: string;
}

/** A virtio-vsock device whose host side is a Unix socket (Firecracker's hybrid vsock). */
export interface VsockConfig {
  cid: number;
  uds: string;
}

/**
 * A complete, validated VMM configuration (what {@link resolveConfig} returns).
 *
 * @example
 * ```ts
 * const flags = parseRunFlags(['--kernel', 'bzImage', '--memory', '256']);
 * const cfg: VmmConfig = resolveConfig({ flags: flags.config });
 * cfg.memoryMib; // 256
 * ```
 */
export interface VmmConfig {
  /** Kernel image (bzImage or ELF vmlinux); undefined means "the default guest". */
  kernel: string | undefined;
  initrd: string | undefined;
  /** The base command line (the microVM default unless replaced); see {@link VmmConfig.cmdlineAppend}. */
  cmdline: string;
  /** Extra parameters appended after the base command line and the device-discovery parameters. */
  cmdlineAppend: string;
  memoryMib: number;
  vcpus: number;
  disks: DiskConfig[];
  net: NetConfig[];
  vsock: VsockConfig | undefined;
  console: ConsoleChoice;
  backend: BackendChoice;
  discovery: DeviceDiscovery;
  /** Guest time on the emulated backend (see {@link ClockChoice}). */
  clock: ClockChoice;
}

/** A configuration before defaults are applied: what a JSON file or the flags say. */
export type PartialVmmConfig = { [K in keyof VmmConfig]?: VmmConfig[K] };

/** The command line a microVM gets unless `--cmdline` replaces it. */
export const DEFAULT_CMDLINE = 'console=ttyS0 reboot=k panic=1 pci=off';
/** Guest memory when none is asked for. */
export const DEFAULT_MEMORY_MIB = 512;
/** Smallest guest memory accepted (a Linux guest needs more, a tiny test guest less). */
export const MIN_MEMORY_MIB = 2;
/** Largest guest memory accepted (1 TiB). */
export const MAX_MEMORY_MIB = 1024 * 1024;
/** Most vCPUs accepted (xAPIC IDs 0..254; 255 is the broadcast ID). */
export const MAX_VCPUS = 254;
/** The MAC a single network interface gets when none is given (locally administered). */
export const DEFAULT_MAC = '06:00:ac:10:00:02';
