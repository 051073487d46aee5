/**
 * The guest physical and I/O address map of the reference machine.
 *
 * ```
 * 0x0000_0500  GDT                      0x0000_6000  PVH start info (hvm_start_info)
 *                                       0x0000_7000  zero page (boot_params)
 * 0x0000_8ff0  boot stack top           0x0000_9000  PML4, PDPT, 4 page directories (identity map of 4 GiB)
 * 0x0002_0000  kernel command line      0x000e_0000  ACPI tables (RSDP found by the EBDA/BIOS scan)
 * 0x0010_0000  kernel (bzImage protected-mode part / ELF segments)
 * 0xc000_0000  MMIO hole: 0xc000_0000 boot timer, 0xd000_0000 + n*0x1000 virtio-mmio,
 *              0xfec0_0000 IOAPIC, 0xfee0_0000 LAPIC; RAM resumes at 4 GiB
 * ports: 0x3f8 COM1 (IRQ 4), 0x60/0x64 i8042, 0x70/0x71 RTC, 0xf4 debug-exit, 0x600 ACPI power
 * ```
 *
 * The boot data addresses are defaults: where a kernel loads over one (an ELF or multiboot kernel at
 * 0x8000), `prepareLinuxBoot` moves that piece to free RAM outside the kernel. A multiboot kernel's
 * information structure goes at 0x9000 by default (it has no page tables).
 *
 * @module
 */
import { BOOT_TIMER_MMIO_BASE } from '@ts-vmm/devices';

export const GDT_ADDR = 0x500;
export const ZERO_PAGE_ADDR = 0x7000;
export const BOOT_STACK_TOP = 0x8ff0;
export const PML4_ADDR = 0x9000;
export const PDPT_ADDR = 0xa000;
/** Four page directories (one per GiB) follow the PDPT. */
export const PD_ADDR = 0xb000;
export const CMDLINE_ADDR = 0x2_0000;
export const ACPI_TABLES_ADDR = 0xe_0000;
export const KERNEL_LOAD_ADDR = 0x10_0000;
/** Where the demo and other raw 64-bit images are loaded and entered. */
export const RAW_IMAGE_ADDR = 0x10_0000;

/** The boot-timer device's page (the devices package's default address). */
export const BOOT_TIMER_ADDR = BOOT_TIMER_MMIO_BASE;
export const VIRTIO_MMIO_BASE = 0xd000_0000;
export const VIRTIO_MMIO_SIZE = 0x1000;
/** The first GSI given to virtio-mmio devices (IRQ 4 is COM1). */
export const VIRTIO_FIRST_IRQ = 5;
export const IOAPIC_ADDR = 0xfec0_0000;
export const LAPIC_ADDR = 0xfee0_0000;

export const COM1_PORT = 0x3f8;
export const COM1_IRQ = 4;
/** The i8042 keyboard's interrupt line. */
export const I8042_IRQ = 1;
export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
export const RTC_PORT = 0x70;
export const DEBUG_EXIT_PORT = 0xf4;
/** ACPI hardware-reduced sleep control (write) / status (read) registers, and the reset register. */
export const ACPI_SLEEP_CONTROL_PORT = 0x600;
export const ACPI_SLEEP_STATUS_PORT = 0x601;
export const ACPI_RESET_PORT = 0x602;
/** The value the FADT tells the guest to write to {@link ACPI_RESET_PORT}. */
export const ACPI_RESET_VALUE = 0x01;

/**
 * The MMIO window of the n-th virtio-mmio device and its GSI.
 * @example virtioSlot(1) // { base: 0xd000_1000, size: 0x1000, irq: 6 }
 */
export function virtioSlot(n: number): { base: number; size: number; irq: number } {
  return { base: VIRTIO_MMIO_BASE + n * VIRTIO_MMIO_SIZE, size: VIRTIO_MMIO_SIZE, irq: VIRTIO_FIRST_IRQ + n };
}
