/**
 * Guest RAM for a backend: memfd-backed (shareable with KVM and worker threads) for KVM,
 * SharedArrayBuffer-backed for the emulator.
 *
 * Local adapter: when `GuestMemory.createMemfd` cannot find the native addon (vm-memory's build
 * bundles a copy of kvm-sys whose addon path then points inside vm-memory), the memfd regions are
 * mapped here with the addon loaded from `@ts-vmm/kvm-sys` itself. See the package README.
 *
 * @module
 */
import type { BackendKind } from '@ts-vmm/kvm-ioctls';
import { GuestMemory, type GuestRegion } from '@ts-vmm/vm-memory';
import type { RamRange } from '../config/memory-layout.js';
import { VmmError } from './errors.js';

const PROT_READ_WRITE = 0x3;
const MAP_SHARED = 0x01;
const MAP_NORESERVE = 0x4000;
const MFD_CLOEXEC = 0x1;

/** Guest memory plus what the VMM must release with it. */
export interface VmmMemory {
  memory: GuestMemory;
  /** Unmaps and closes the memfd (if any). */
  release(): void;
}

/**
 * Creates guest RAM for `backend` over `ranges`.
 * @example const { memory, release } = await createGuestMemory('kvm', ramLayout(256));
 */
export async function createGuestMemory(
  backend: BackendKind,
  ranges: readonly RamRange[],
): Promise<VmmMemory> {
  if (backend !== 'kvm') {
    const memory = GuestMemory.createShared(ranges);
    return { memory, release: () => memory.close() };
  }
  let first: Error | undefined;
  try {
    const memory = await GuestMemory.createMemfd(ranges, { name: 'ts-vmm-guest' });
    const fd = memory.regions[0].fd;
    return { memory, release: () => releaseMemfd(memory, fd) };
  } catch (e) {
    first = e as Error;
  }
  try {
    return await createMemfdDirect(ranges);
  } catch (e) {
    throw new VmmError(`cannot create memfd guest memory: ${first.message}; ${(e as Error).message}`);
  }
}

async function releaseMemfd(memory: GuestMemory, fd: number | undefined): Promise<void> {
  memory.close();
  if (fd === undefined) return;
  try {
    const sys = (await import('@ts-vmm/kvm-sys')) as unknown as { loadAddon(): { close(fd: number): void } };
    sys.loadAddon().close(fd);
  } catch {
    // nothing more to release
  }
}

interface MemfdAddon {
  memfdCreate(name: string, flags: number): number;
  ftruncate(fd: number, size: number): void;
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): ArrayBuffer;
  munmap(buf: ArrayBuffer): void;
  addressOf(buf: ArrayBuffer | ArrayBufferView): bigint;
  close(fd: number): void;
}

async function createMemfdDirect(ranges: readonly RamRange[]): Promise<VmmMemory> {
  const sys = (await import('@ts-vmm/kvm-sys')) as unknown as { loadAddon(): MemfdAddon };
  const addon = sys.loadAddon();
  const total = ranges.reduce((n, r) => n + r.size, 0);
  const fd = addon.memfdCreate('ts-vmm-guest', MFD_CLOEXEC);
  const mapped: ArrayBuffer[] = [];
  try {
    addon.ftruncate(fd, total);
    let off = 0;
    const regions: GuestRegion[] = ranges.map((r) => {
      const ab = addon.mmap(fd, r.size, PROT_READ_WRITE, MAP_SHARED | MAP_NORESERVE, off);
      mapped.push(ab);
      const region: GuestRegion = {
        start: r.start,
        size: r.size,
        bytes: new Uint8Array(ab),
        view: new DataView(ab),
        backing: 'memfd',
        fd,
        fdOffset: off,
        hostAddress: addon.addressOf(ab),
      };
      off += r.size;
      return region;
    });
    // GuestMemory's constructor is private in its types; it takes (regions, dirty, unmap).
    const Ctor = GuestMemory as unknown as new (
      regions: GuestRegion[],
      dirty: undefined,
      unmap: () => void,
    ) => GuestMemory;
    let unmapped = false;
    const memory = new Ctor(regions, undefined, () => {
      if (unmapped) return;
      unmapped = true;
      for (const ab of mapped) addon.munmap(ab);
    });
    return {
      memory,
      release: () => {
        memory.close();
        addon.close(fd);
      },
    };
  } catch (e) {
    for (const ab of mapped) addon.munmap(ab);
    addon.close(fd);
    throw e;
  }
}
