/**
 * The parts of the reference VMM's machine that the browser machine shares with it, not copies:
 * the address map, the legacy devices (COM1, i8042, RTC, debug-exit, ACPI power, boot timer), the
 * Linux boot preparation (kernel, initrd, command line, ACPI tables, zero page / PVH), the vCPU's
 * CPUID and entry state, exit handling, the RAM layout and guest memory creation. These modules of
 * `@ts-vmm/vmm-reference` import no `node:` module; the package does not export them separately
 * yet (its root entry also carries the CLI and the Node VMM), so they are taken from its sources
 * here, in this one file, and bundled into the worker. Once vmm-reference has a portable entry
 * (`@ts-vmm/vmm-reference/portable`), this file becomes one re-export of it.
 *
 * @module
 */

export { ramLayout } from '../../../vmm-reference/src/config/memory-layout.js';
export { DEFAULT_CMDLINE } from '../../../vmm-reference/src/config/types.js';
export { BOOT_TIMER_PARAM } from '../../../vmm-reference/src/guest/init-script.js';
export {
  COM1_IRQ,
  I8042_IRQ,
  virtioSlot,
} from '../../../vmm-reference/src/vmm/address-map.js';
export { prepareLinuxBoot } from '../../../vmm-reference/src/vmm/boot-linux.js';
export { vcpuCpuid } from '../../../vmm-reference/src/vmm/cpuid.js';
export { VmmError } from '../../../vmm-reference/src/vmm/errors.js';
export { ExitKind, type ExitKindValue } from '../../../vmm-reference/src/vmm/exit-channel.js';
export type { StopReason } from '../../../vmm-reference/src/vmm/exit-codes.js';
export { createGuestMemory } from '../../../vmm-reference/src/vmm/guest-memory.js';
export {
  createLegacyDevices,
  guestWallClock,
  serialAcceptsInput,
} from '../../../vmm-reference/src/vmm/legacy-devices.js';
export { handleExit, type VcpuLoopHooks, type VcpuStats } from '../../../vmm-reference/src/vmm/vcpu-loop.js';
export { applyVcpuPlan } from '../../../vmm-reference/src/vmm/vcpu-plan.js';
