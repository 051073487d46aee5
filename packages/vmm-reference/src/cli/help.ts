/** The `ts-vmm --help` text. */
export const MAIN_HELP = `ts-vmm: the ts-vmm reference microVM monitor

Usage:
  ts-vmm [run] [options]      boot a guest (the default guest when --kernel is omitted)
  ts-vmm demo [--backend B]   run a tiny built-in guest on whichever backend is available
  ts-vmm guest fetch [--force]
                              build the default guest (Debian cloud kernel + busybox initramfs)
                              into $TS_VMM_CACHE or ~/.cache/ts-vmm
  ts-vmm guest path           print the cached default guest's kernel and initrd
  ts-vmm restore DIR [--backend B]
                              resume the VM of a snapshot (run --snapshot-dir DIR, then Ctrl-A S
                              or SIGUSR1 writes one) with the console attached
  ts-vmm snapshot inspect DIR print what a snapshot holds
  ts-vmm firecracker [options]
                              Firecracker's API (--api-sock) and process interface
                              (--config-file, --no-api, ...); also the ts-vmm-firecracker bin
  ts-vmm --help | --version

Run 'ts-vmm run --help' for the run options, 'ts-vmm firecracker --help' for Firecracker's.`;

/** The `ts-vmm run --help` text. */
export const RUN_HELP = `Usage: ts-vmm run [options]

  --kernel PATH           bzImage, ELF vmlinux or multiboot v1 kernel (default: the fetched
                          default guest)
  --initrd PATH           initramfs (default: the default guest's when --kernel is omitted)
  --cmdline STR           replace the base command line
                          (default: "console=ttyS0 reboot=k panic=1 pci=off")
  --append STR            append kernel parameters (repeatable)
  --memory MIB            guest memory in MiB (default 512; RAM skips the 3-4 GiB MMIO hole)
  --vcpus N               number of vCPUs (default 1, at most 254)
  --disk PATH[,ro]        virtio-blk disk backed by a file (repeatable)
  --net tap=NAME[,mac=MAC]
                          virtio-net on a host tap interface (repeatable)
  --vsock cid=N,uds=PATH  virtio-vsock; host side on a Unix socket
  --console serial|virtio|none
                          guest console: serial (ttyS0, default), virtio (adds virtio-console
                          and console=hvc0: the default guest's shell runs on hvc0 and stdin
                          goes there once the guest's port is up; COM1 output still shows, for
                          early boot), none
  --discovery acpi|cmdline|both
                          how the guest finds virtio-mmio devices: acpi (default; DSDT LNRO0005
                          devices), cmdline (only virtio_mmio.device=<size>@<addr>:<irq>
                          parameters; needs a kernel with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES,
                          which Debian's cloud kernel lacks), both
  --backend auto|kvm|emulated
                          hypervisor backend (default auto: KVM when it runs CPL0 code at
                          hardware speed, else the emulator)
  --clock realtime|virtual
                          guest time on the emulator: realtime (default; the guest's clocks keep
                          the host's time), virtual (counts instructions, 1 ns each, and skips
                          idle time: deterministic timing like QEMU's -icount, but guest time
                          runs slower than the host's while the guest computes); KVM always
                          keeps the host's time
  --config FILE.json      read settings from a JSON file; flags override it
  --snapshot-dir DIR      SIGUSR1 and Ctrl-A S write a snapshot of the running guest to DIR
                          (it runs on); 'ts-vmm restore DIR' resumes it

Console: the guest console is on this terminal (raw mode); Ctrl-A X quits, Ctrl-A S writes a
snapshot (with --snapshot-dir), Ctrl-A Ctrl-A sends Ctrl-A. Piped stdin is passed through.

Exit status: 0 guest powered off, 2 guest reboot, 4 guest panic, 6 triple fault, 64 bad options,
70 VMM error, 130 SIGINT / Ctrl-A X, 141 stdout closed (EPIPE), 143 SIGTERM, odd n: debug-exit
port value (n-1)/2 (the VMM's own codes are even but 141 and 143, which a guest writing 70 or 71
also ends with; the last status line names the reason).`;
