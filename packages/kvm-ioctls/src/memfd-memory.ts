/**
 * memfd-backed {@link GuestMemory} for the KVM backend, with a local fallback.
 *
 * `@ts-vmm/vm-memory`'s built `dist/` currently inlines a copy of kvm-sys whose addon lookup resolves
 * next to vm-memory (`packages/vm-memory/build/Release/kvm_sys.node`), so its `createMemfd()` and
 * `fromShareable()` fail for memfd memory. Until vm-memory marks `@ts-vmm/kvm-sys` external, these
 * helpers try vm-memory first and otherwise map the memfd with this package's addon handle and wrap
 * the regions in a `GuestMemory` (same regions, same behaviour).
 *
 * @module
 */
import { GuestMemory, type GuestRegion, type RegionSpec, type SharedGuestMemory } from '@ts-vmm/vm-memory';
import { loadNativeAddon } from './sys.js';

const PROT_READ_WRITE = 3;
const MAP_SHARED = 1;
const MAP_NORESERVE = 0x4000;
const MFD_CLOEXEC = 1;
const PAGE = 4096;

type Layout = { start: number; size: number; fd?: number; fdOffset: number }[];

/**
 * Guest memory backed by one memfd (KVM needs `hostAddress` on every region).
 * @example const mem = await createMemfdGuestMemory([{ start: 0, size: 2 << 20 }]);
 */
export async function createMemfdGuestMemory(specs: readonly RegionSpec[]): Promise<GuestMemory> {
  try {
    return await GuestMemory.createMemfd(specs);
  } catch (e) {
    if (!String((e as Error).message).includes('native addon')) throw e;
  }
  // Validate through vm-memory's pure-TS path (same errors as createMemfd).
  GuestMemory.createShared(specs.map((s) => ({ start: s.start, size: PAGE }))).close();
  const sys = loadNativeAddon();
  const total = specs.reduce((n, s) => n + s.size, 0);
  const fd = sys.memfdCreate('ts-vmm-guest', MFD_CLOEXEC);
  sys.ftruncate(fd, total);
  let off = 0;
  const layout = [...specs]
    .sort((a, b) => a.start - b.start)
    .map((s) => {
      const r = { start: s.start, size: s.size, fd, fdOffset: off };
      off += s.size;
      return r;
    });
  return mapLayout(layout);
}

/**
 * Opens memory described by `GuestMemory.toShareable()` in this thread.
 * @example const mem = await openSharedGuestMemory(desc.memory);
 */
export async function openSharedGuestMemory(desc: SharedGuestMemory): Promise<GuestMemory> {
  try {
    return await GuestMemory.fromShareable(desc);
  } catch (e) {
    if (!String((e as Error).message).includes('native addon')) throw e;
  }
  return mapLayout(
    desc.regions.map((r) => ({ start: r.start, size: r.size, fd: r.fd, fdOffset: r.fdOffset })),
  );
}

function mapLayout(layout: Layout): GuestMemory {
  const sys = loadNativeAddon();
  const mapped: ArrayBuffer[] = [];
  const regions: GuestRegion[] = layout.map((r) => {
    if (r.fd === undefined) throw new Error(`memfd region at 0x${r.start.toString(16)} has no fd`);
    const ab = sys.mmap(r.fd, r.size, PROT_READ_WRITE, MAP_SHARED | MAP_NORESERVE, r.fdOffset);
    mapped.push(ab);
    return {
      start: r.start,
      size: r.size,
      bytes: new Uint8Array(ab),
      view: new DataView(ab),
      backing: 'memfd',
      fd: r.fd,
      fdOffset: r.fdOffset,
      hostAddress: sys.addressOf(ab),
    };
  });
  // GuestMemory's constructor is private in TypeScript; its signature is (regions, dirty?, unmap?).
  const Ctor = GuestMemory as unknown as new (
    regions: GuestRegion[],
    dirty: SharedArrayBuffer[] | undefined,
    unmap: () => void,
  ) => GuestMemory;
  return new Ctor(regions, undefined, () => {
    for (const ab of mapped) sys.munmap(ab);
  });
}
