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
