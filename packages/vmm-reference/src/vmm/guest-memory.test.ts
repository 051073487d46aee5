import { hasKvm } from '@ts-vmm/kvm-ioctls';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { ramLayout } from '../config/memory-layout.js';
import { createGuestMemory, EMULATOR_WASM_GROW_ROOM } from './guest-memory.js';

const PAGE = 0x1_0000;

describe('createGuestMemory for the emulated backend', () => {
  it('puts RAM in one WebAssembly.Memory with 16 MiB of grow room', async () => {
    const { memory, release } = await createGuestMemory('emulated', ramLayout(64));
    try {
      const wm = memory.wasmMemory;
      expect(wm).toBeInstanceOf(WebAssembly.Memory);
      expect(memory.regions.map((r) => [r.start, r.size, r.wasmOffset])).toEqual([[0, 64 << 20, PAGE]]);
      memory.write32(0x7000, 0x53726448);
      expect(new DataView(wm!.buffer).getUint32(PAGE + 0x7000, true)).toBe(0x53726448);
      const pages = wm!.buffer.byteLength / PAGE;
      expect(wm!.grow(EMULATOR_WASM_GROW_ROOM / PAGE)).toBe(pages);
      expect(() => wm!.grow(1)).toThrow(RangeError);
      expect(memory.read32(0x7000)).toBe(0x53726448);
    } finally {
      release();
    }
  });

  it('keeps the RAM ranges around the MMIO hole, each at its own wasm offset', async () => {
    // 3 GiB below the hole (two ranges) and 1000 MiB above it: 4 GiB - 16 MiB - 64 KiB at most fits
    const ranges = ramLayout(3072 + 1000);
    const { memory, release } = await createGuestMemory('emulated', ranges);
    try {
      expect(memory.wasmMemory).toBeDefined();
      expect(memory.regions.map((r) => [r.start, r.wasmOffset])).toEqual([
        [0, PAGE],
        [0x8000_0000, PAGE + 0x8000_0000],
        [0x1_0000_0000, PAGE + 0xc000_0000],
      ]);
      memory.write64(0x7fff_fffc, 0x1122334455667788n); // across the two low ranges
      expect(memory.read64(0x7fff_fffc)).toBe(0x1122334455667788n);
      memory.write32(0x1_0000_0000 + 1000 * 0x10_0000 - 4, 0xabcdef01);
      expect(
        new DataView(memory.wasmMemory!.buffer).getUint32(PAGE + 0xc000_0000 + 1000 * 0x10_0000 - 4, true),
      ).toBe(0xabcdef01);
    } finally {
      release();
    }
  });

  it('falls back to one SharedArrayBuffer per range when RAM plus the grow room passes 4 GiB', async () => {
    const ranges = ramLayout(4096 + 512);
    const { memory, release } = await createGuestMemory('emulated', ranges);
    try {
      expect(memory.wasmMemory).toBeUndefined();
      expect(memory.totalSize).toBe((4096 + 512) * 0x10_0000);
      expect(
        memory.regions.every((r) => r.backing === 'shared-array-buffer' && r.wasmOffset === undefined),
      ).toBe(true);
      expect(memory.regions.every((r) => r.sharedBuffer!.byteLength === r.size)).toBe(true);
      memory.write32(0x1_0000_0000 + 1536 * 0x10_0000 - 4, 7);
      expect(memory.read32(0x1_0000_0000 + 1536 * 0x10_0000 - 4)).toBe(7);
      // and such memory still goes to a worker and back
      const again = GuestMemory.fromShareableSync(memory.toShareable());
      expect(again.read32(0x1_0000_0000 + 1536 * 0x10_0000 - 4)).toBe(7);
    } finally {
      release();
    }
  });
});

const kvm = hasKvm();
if (!kvm) console.log('skipped: memfd guest memory for the KVM backend (/dev/kvm not available)');

describe.skipIf(!kvm)('createGuestMemory for the KVM backend (needs /dev/kvm)', () => {
  it('maps a memfd, not a WebAssembly.Memory', async () => {
    const { memory, release } = await createGuestMemory('kvm', ramLayout(16));
    try {
      expect(memory.regions[0].backing).toBe('memfd');
      expect(memory.wasmMemory).toBeUndefined();
    } finally {
      release();
    }
  });
});
