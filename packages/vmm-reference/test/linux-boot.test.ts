/**
 * End-to-end: the Debian cloud kernel with the default guest's initramfs. These need a backend that
 * runs guest kernel code fast: the x86-emulator backend, or a KVM that runs CPL0 code at hardware
 * speed (not PVM, where CPL0 is emulated and a boot takes many minutes). Otherwise they print why
 * they were skipped.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/resolve.js';
import type { BackendChoice, VmmConfig } from '../src/config/types.js';
import { buildDefaultGuest } from '../src/guest/builder.js';
import type { GuestManifest } from '../src/guest/cache.js';
import { runParameter } from '../src/guest/init-script.js';
import { backendAvailable, chooseBackend } from '../src/vmm/backend.js';
import { Vmm } from '../src/vmm/vmm.js';

async function fastBackend(): Promise<{ backend?: BackendChoice; why: string }> {
  const emu = await backendAvailable('emulated');
  if (emu.ok) return { backend: 'emulated', why: 'emulated backend' };
  const kvm = await backendAvailable('kvm');
  if (kvm.ok) {
    const sel = await chooseBackend('auto');
    const fast = sel.hypervisor.kind === 'kvm' && sel.probe && sel.probe.ratio < 20;
    (sel.hypervisor as { close?: () => void }).close?.();
    if (fast) return { backend: 'kvm', why: 'KVM at hardware speed' };
    const p = sel.probe;
    return {
      why: `${emu.why}; KVM is there but ${p ? `runs CPL0 code ${Math.round(p.ratio)}x slower than CPL3 (PVM-like)` : 'its speed probe failed'}`,
    };
  }
  return { why: `${emu.why}; ${kvm.why}` };
}

const choice = await fastBackend();
let guest: GuestManifest | undefined;
let guestWhy = '';
if (choice.backend) {
  try {
    guest = await buildDefaultGuest({});
  } catch (e) {
    guestWhy = (e as Error).message;
  }
}
const skip = !choice.backend || !guest;
if (skip) {
  console.log(
    `skipped: Linux boot tests (${!choice.backend ? `no fast backend: ${choice.why}` : `default guest unavailable: ${guestWhy}`})`,
  );
}

async function boot(script: string, extra: Partial<VmmConfig> = {}) {
  let out = '';
  const config = {
    ...resolveConfig({
      flags: {
        kernel: guest!.kernel,
        initrd: guest!.initrd,
        memoryMib: 256,
        backend: choice.backend,
        cmdlineAppend: `quiet ${runParameter(script)}`,
      },
    }),
    ...extra,
  };
  const vmm = await Vmm.create(config, {
    input: null,
    handleSignals: false,
    log: () => {},
    output: {
      write: (c: Uint8Array) => {
        out += Buffer.from(c).toString('latin1');
        return true;
      },
    },
  });
  const result = await vmm.run();
  return { result, out };
}

const all = process.env.TS_VMM_E2E_ALL === '1';
if (!skip && !all)
  console.log('skipped: Linux reboot/panic boots (one boot takes minutes here; set TS_VMM_E2E_ALL=1)');

describe.skipIf(skip)('Debian cloud kernel + default guest', () => {
  it('boots to /init, loads the virtio modules, reads a virtio-blk disk, runs a command and powers off (exit 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'disk-'));
    const disk = join(dir, 'disk.img');
    const img = Buffer.alloc(1 << 20);
    img.write('TS-VMM-DISK-MAGIC', 0);
    writeFileSync(disk, img);
    const { result, out } = await boot(
      'echo TSVMM-OK; ls /sys/bus/virtio/devices; head -c 17 /dev/vda; echo; grep -c virtio /proc/modules',
      { disks: [{ path: disk, readOnly: true }] },
    );
    expect(out).toContain('ts-vmm-init: ready');
    expect(out).toContain('TSVMM-OK');
    expect(out).toMatch(/virtio0\s+virtio1/);
    expect(out).toContain('TS-VMM-DISK-MAGIC');
    expect(out).toContain('ts-vmm-init: exit 0');
    expect(result).toMatchObject({ reason: 'poweroff', exitCode: 0 });
  }, 900_000);

  it.skipIf(!all)(
    'reboot -f ends with the reboot exit code',
    async () => {
      const { result } = await boot('reboot -f');
      expect(result).toMatchObject({ reason: 'reboot', exitCode: 3 });
    },
    900_000,
  );

  it.skipIf(!all)(
    'a kernel panic ends with the panic exit code',
    async () => {
      const { result } = await boot('echo c > /proc/sysrq-trigger');
      expect(result).toMatchObject({ reason: 'panic', exitCode: 4 });
    },
    900_000,
  );
});
