/** @packageDocumentation Hypervisor-agnostic device models: bus, 16550A serial, i8042, CMOS RTC, virtio queue, virtio-mmio, block, net, console, rng, vsock. */
export {};
