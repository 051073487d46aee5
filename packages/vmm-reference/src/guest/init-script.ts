/**
 * The `/init` of the default guest's initramfs: a busybox shell script.
 *
 * @module
 */

/** The kernel parameter that carries a base64-encoded shell script for `/init` to run, then power off. */
export const RUN_PARAM = 'tsvmm.run';
/** The kernel parameter naming the boot-timer MMIO address (written with 123 once userspace starts). */
export const BOOT_TIMER_PARAM = 'tsvmm.boot_timer';
/** Printed by `/init` before it runs the command list; tests wait for it. */
export const INIT_READY_MARKER = 'ts-vmm-init: ready';

/**
 * Encodes a shell script as the `tsvmm.run=` kernel parameter: the guest's `/init` runs it after
 * loading the modules, prints `ts-vmm-init: exit STATUS`, and powers off.
 *
 * @example
 * ```ts
 * const param = runParameter('echo hello; cat /proc/cpuinfo | head -3');
 * // `--append ${param}` on the ts-vmm command line
 * ```
 */
export function runParameter(script: string): string {
  return `${RUN_PARAM}=${Buffer.from(script, 'utf8').toString('base64')}`;
}

/**
 * The init script. `modules` are paths under `/lib/modules/<version>/` in load order.
 *
 * @example initScript('6.1.0-50-cloud-amd64', ['kernel/drivers/virtio/virtio.ko'])
 */
export function initScript(kernelVersion: string, modules: readonly string[]): string {
  return `#!/bin/sh
# /init of the ts-vmm default guest (generated; see packages/vmm-reference/src/guest/init-script.ts)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
if ! mount -t devtmpfs devtmpfs /dev 2>/dev/null; then
  mount -t tmpfs -o mode=0755 tmpfs /dev
  mknod -m 600 /dev/console c 5 1
  mknod -m 666 /dev/null c 1 3
  mknod -m 666 /dev/ttyS0 c 4 64
  mknod -m 666 /dev/hvc0 c 229 0
  mknod -m 444 /dev/urandom c 1 9
fi
mkdir -p /dev/pts /tmp /run
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /tmp
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1"=*) echo "\${w#*=}"; return 0;; esac; done; return 1; }
for m in ${modules.join(' ')}; do
  insmod "/lib/modules/${kernelVersion}/$m" 2>/dev/null || echo "ts-vmm-init: insmod $m failed"
done
timer=$(arg ${BOOT_TIMER_PARAM}) && devmem "$timer" 8 123 2>/dev/null
echo "${INIT_READY_MARKER}"
if run=$(arg ${RUN_PARAM}); then
  echo "$run" | base64 -d > /tmp/run.sh
  sh /tmp/run.sh
  echo "ts-vmm-init: exit $?"
  sync
  poweroff -f
fi
echo "ts-vmm default guest: busybox shell; 'poweroff -f' (or exit) ends the VM"
setsid cttyhack sh -l
poweroff -f
`;
}
