/** @packageDocumentation Raw KVM bindings: a small node-addon-api addon (ioctl, mmap, memfd, eventfd, fd watching, vCPU kick) and the KVM ABI in TypeScript (ioctl numbers, capabilities, exit reasons, byte-exact struct layouts). */
export {};
