/** @packageDocumentation Guest physical memory: addresses, regions, typed and cross-region access, memfd and SharedArrayBuffer backings. */
export {};
