import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBzImage, pseudoRandom } from '@ts-vmm/linux-loader/testing';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/resolve.js';
import { backendAvailable } from '../src/vmm/backend.js';
import { VmmError } from '../src/vmm/errors.js';
import { buildCmdline, Vmm } from '../src/vmm/vmm.js';

const emulated = (await backendAvailable('emulated')).ok;
if (!emulated) console.log('skipped: Vmm error-path tests (emulated backend not available)');

describe.skipIf(!emulated)('Vmm refuses bad guests with messages naming them', () => {
  const base = { backend: 'emulated' as const, memoryMib: 16 };

  it('a missing kernel file', async () => {
    const cfg = resolveConfig({ flags: { ...base, kernel: '/nonexistent/bzImage' } });
    await expect(Vmm.create(cfg, { log: () => {} })).rejects.toThrow(
      /--kernel \/nonexistent\/bzImage: ENOENT/,
    );
  });

  it('a kernel that is not a kernel', async () => {
    const cfg = resolveConfig({ flags: { ...base, kernel: '/etc/hostname' } });
    const p = Vmm.create(cfg, { log: () => {} });
    await expect(p).rejects.toBeInstanceOf(VmmError);
    await expect(p).rejects.toThrow(/cannot load the kernel/);
  });

  it('a bzImage whose LZ4 payload is corrupt: an error naming the cause, no boot through the 64-bit protocol', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ts-vmm-bz-'));
    try {
      // LZ4 legacy magic, one 8-byte block whose first match has offset 0 (invalid)
      const payload = Uint8Array.of(0x02, 0x21, 0x4c, 0x18, 8, 0, 0, 0, 0x1f, 0x41, 0, 0, 1, 2, 3, 4);
      const kernel = join(dir, 'bzImage');
      writeFileSync(kernel, makeBzImage(pseudoRandom(0x1000), { payload }));
      const cfg = resolveConfig({ flags: { ...base, kernel } });
      const p = Vmm.create(cfg, { log: () => {} });
      await expect(p).rejects.toMatchObject({ kind: 'boot' });
      await expect(p).rejects.toThrow(/^cannot unpack the bzImage payload \(lz4\): lz4: block at 0x8/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing disk image', async () => {
    const cfg = resolveConfig({
      flags: { ...base, kernel: '/etc/hostname', disks: [{ path: '/nonexistent/disk.img', readOnly: true }] },
    });
    await expect(Vmm.create(cfg, { log: () => {} })).rejects.toThrow(/disk \/nonexistent\/disk.img/);
  });
});

describe('command line assembly', () => {
  const machine = { virtioDescriptions: () => [{ base: 0xd0000000, size: 0x1000, irq: 5 }] };

  it('base, discovery, console, boot timer, then appended parameters', () => {
    const cfg = resolveConfig({ flags: { cmdlineAppend: 'quiet', console: 'virtio', discovery: 'both' } });
    expect(buildCmdline(cfg, machine)).toBe(
      'console=ttyS0 reboot=k panic=1 pci=off virtio_mmio.device=4K@0xd0000000:5 console=hvc0 tsvmm.boot_timer=0xc0000000 quiet',
    );
    const acpi = resolveConfig({ flags: { cmdline: 'console=ttyS0' } });
    expect(buildCmdline(acpi, machine)).toBe('console=ttyS0 tsvmm.boot_timer=0xc0000000');
  });
});
