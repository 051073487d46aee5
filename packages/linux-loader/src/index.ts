/** @packageDocumentation Linux boot: bzImage, ELF/PVH, multiboot, zero page, E820, command line, initrd, MP table, ACPI tables. */
export {};
