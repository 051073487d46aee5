/**
 * Reads the `.modinfo` section of a kernel module (ELF64 relocatable object) to learn its
 * dependencies, for kernel packages that ship without `modules.dep` (Debian's run depmod at install
 * time). With it {@link buildModulesDep} writes a `modules.dep` for the modules a guest needs.
 *
 * @module
 */
import { VmmError } from '../vmm/errors.js';

/**
 * The `key=value` strings of a module's `.modinfo` section.
 * @example readModinfo(koBytes).get('depends') // 'virtio,virtio_ring'
 */
export function readModinfo(ko: Uint8Array, what = 'module'): Map<string, string> {
  const dv = new DataView(ko.buffer, ko.byteOffset, ko.byteLength);
  const bad = (why: string): never => {
    throw new VmmError('guest-build', `${what}: ${why}`);
  };
  if (ko.length < 64 || dv.getUint32(0, false) !== 0x7f454c46) bad('not an ELF file');
  if (ko[4] !== 2 || ko[5] !== 1) bad('not a little-endian ELF64 file');
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shentsize = dv.getUint16(0x3a, true);
  const shnum = dv.getUint16(0x3c, true);
  const shstrndx = dv.getUint16(0x3e, true);
  if (shentsize < 64 || shstrndx >= shnum || shoff + shnum * shentsize > ko.length)
    bad('bad section headers');
  const sec = (i: number) => {
    const b = shoff + i * shentsize;
    const off = Number(dv.getBigUint64(b + 24, true));
    const size = Number(dv.getBigUint64(b + 32, true));
    if (off + size > ko.length) bad(`section ${i} runs past the end`);
    return { name: dv.getUint32(b, true), off, size };
  };
  const strtab = sec(shstrndx);
  const dec = new TextDecoder();
  const nameAt = (n: number) => {
    const start = strtab.off + n;
    if (n >= strtab.size) bad('section name out of range');
    let end = start;
    while (end < strtab.off + strtab.size && ko[end] !== 0) end++;
    return dec.decode(ko.subarray(start, end));
  };
  const out = new Map<string, string>();
  for (let i = 0; i < shnum; i++) {
    const s = sec(i);
    if (nameAt(s.name) !== '.modinfo') continue;
    for (const entry of dec.decode(ko.subarray(s.off, s.off + s.size)).split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0 && !out.has(entry.slice(0, eq))) out.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    return out;
  }
  return bad('no .modinfo section');
}

/**
 * The module names a module depends on (its `depends=` list).
 * @example moduleDepends(koBytes) // ['virtio', 'virtio_ring']
 */
export function moduleDepends(ko: Uint8Array, what?: string): string[] {
  const d = readModinfo(ko, what).get('depends') ?? '';
  return d === '' ? [] : d.split(',').map((s) => s.replace(/-/g, '_'));
}
