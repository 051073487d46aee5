/**
 * Megabytes on the VMM's stdin while the guest keeps running: the 16550 paces host input at the
 * line's speed (`@ts-vmm/devices`), the VMM holds only a bounded amount and leaves the rest in the
 * pipe (stdin is paused), and the guest goes on taking input and finishes what it does.
 */

import { describe, expect, it } from 'vitest';
import { buildDefaultGuest } from '../../src/guest/builder.js';
import type { GuestManifest } from '../../src/guest/cache.js';
import { runParameter } from '../../src/guest/init-script.js';
import { backendAvailable, chooseBackend } from '../../src/vmm/backend.js';
import { reliabilityBackends } from './backends.js';
import { serialIrqGuest, serialReadGuest } from './guests.js';
import { VmmProcess } from './vmm-process.js';

/** Text lines, 64 KiB a chunk, `mib` MiB in all. */
function* flood(mib: number): Generator<Uint8Array> {
  const line = 'serial flood: the quick brown fox jumps over the lazy dog 0123456789\n';
  const chunk = new TextEncoder().encode(line.repeat(Math.ceil(65536 / line.length)).slice(0, 65536));
  for (let i = 0; i < mib * 16; i++) yield chunk;
}

/** What the VMM may take from stdin beyond what the guest reads: its own buffers and the pipe's. */
const SLACK = 2 << 20;

for (const { name: backend, ok } of reliabilityBackends('serial flood tests with a small guest')) {
  describe.skipIf(!ok)(`64 MiB on stdin, a guest reading COM1, ${backend} backend`, () => {
    it('the guest reads its 16 KiB at the line speed and powers off; the VMM leaves the rest in the pipe', async () => {
      const want = 16 << 10;
      const p = new VmmProcess({
        raw: serialReadGuest(want),
        args: ['run', '--backend', backend, '--memory', '16'],
        stdin: flood(64),
      });
      const exit = await p.exit(120_000);
      console.log(
        `${backend}: the VMM took ${p.stdinFlushed} bytes of a 64 MiB stdin flood (the guest read ${want}); peak RSS ${((exit.maxRssKiB ?? 0) / 1024).toFixed(0)} MiB`,
      );
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(p.stdinFlushed).toBeGreaterThanOrEqual(want);
      expect(p.stdinFlushed).toBeLessThan(want + SLACK);
    }, 180_000);

    it('a guest that sleeps in HLT and takes COM1 interrupts gets all of its 12 KiB (paced input is delivered while it sleeps)', async () => {
      // On KVM its vCPU thread owns COM1 and nothing but an exit delivers paced input: the main
      // thread must kick the vCPU while input is on its way. (Before it did, this guest waited
      // in HLT forever after the first FIFO's worth.)
      const want = 12 << 10;
      const p = new VmmProcess({
        raw: serialIrqGuest(want),
        cpl0: true,
        args: ['run', '--backend', backend, '--memory', '16'],
        stdin: flood(64),
      });
      const exit = await p.exit(120_000);
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(p.stdinFlushed).toBeGreaterThanOrEqual(want);
      expect(p.stdinFlushed).toBeLessThan(want + SLACK);
    }, 180_000);
  });
}

/** A backend that boots Linux in reasonable time here: the emulator, or KVM at hardware speed. */
async function linuxBackend(): Promise<{ backend?: 'kvm' | 'emulated'; why: string }> {
  if ((await backendAvailable('emulated')).ok) return { backend: 'emulated', why: '' };
  const kvm = await backendAvailable('kvm');
  if (!kvm.ok) return { why: `neither the emulated backend nor KVM is available (${kvm.why})` };
  const sel = await chooseBackend('auto');
  const fast = sel.hypervisor.kind === 'kvm' && !!sel.probe && sel.probe.ratio < 20;
  (sel.hypervisor as { close?: () => void }).close?.();
  return fast
    ? { backend: 'kvm', why: '' }
    : { why: 'the emulated backend is missing and KVM emulates CPL0' };
}

const linux = await linuxBackend();
let guest: GuestManifest | undefined;
let guestWhy = linux.why;
if (linux.backend) {
  try {
    guest = await buildDefaultGuest({});
  } catch (e) {
    guestWhy = `default guest unavailable: ${(e as Error).message}`;
  }
}
if (!guest) console.log(`skipped: serial flood into a Linux guest (${guestWhy})`);

describe.skipIf(!guest)('64 MiB on stdin of a Linux guest (the default guest, one boot)', () => {
  it('the guest boots, its shell reads 64 KiB from ttyS0 at 115200 baud, and it powers off with exit 0', async () => {
    const script = 'stty 115200 -echo raw; n=$(head -c 65536 | wc -c); echo "serial-flood: read $n bytes"';
    const p = new VmmProcess({
      args: [
        'run',
        '--backend',
        linux.backend!,
        '--memory',
        '256',
        '--kernel',
        guest!.kernel,
        '--initrd',
        guest!.initrd,
        '--append',
        runParameter(script),
      ],
      stdin: flood(64),
    });
    const exit = await p.exit(300_000);
    console.log(
      `linux (${linux.backend}): the VMM took ${p.stdinFlushed} bytes of a 64 MiB stdin flood; peak RSS ${((exit.maxRssKiB ?? 0) / 1024).toFixed(0)} MiB`,
    );
    expect(p.stdout).toContain('serial-flood: read 65536 bytes');
    expect(p.stdout).toContain('ts-vmm-init: exit 0');
    expect(exit).toMatchObject({ code: 0, signal: null });
    // Input reached the guest only as fast as the line carries it; the VMM did not swallow the flood.
    expect(p.stdinFlushed).toBeLessThan(65536 + 8 * SLACK);
  }, 360_000);
});
