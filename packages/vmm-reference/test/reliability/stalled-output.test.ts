/**
 * A guest that floods COM1 while the VMM's stdout is a pipe nobody reads: the VMM's memory stays
 * bounded (it drops console output beyond its buffers instead of queueing it), the guest keeps
 * running (it finishes its flood and powers off), and the VMM exits by itself with the guest's exit
 * code, or with 143 on one SIGTERM, although writes to stdout are still pending.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { reliabilityBackends } from './backends.js';
import { comFloodGuest, FLOOD_CHUNK } from './guests.js';
import { growthMiB, type VmmExit, VmmProcess } from './vmm-process.js';

/** Peak-RSS growth allowed over a run that writes almost nothing. */
const BOUND_MIB = 64;
/** How long a VMM may take to exit after it printed its exit code line. */
const EXIT_GRACE_MS = 30_000;

for (const { name: backend, ok } of reliabilityBackends('stalled-stdout tests')) {
  // On a KVM backed by PVM each `rep outsb` element is an exit (~20-50 us), so the KVM flood is
  // smaller; it is still hundreds of times what the pipe and the VMM's console buffers hold.
  const chunks = backend === 'kvm' ? 128 : 512;
  const args = ['run', '--backend', backend, '--memory', '16'];

  describe.skipIf(!ok)(`stdout a pipe nobody reads, ${backend} backend`, () => {
    let baseline: VmmExit;
    beforeAll(async () => {
      const p = new VmmProcess({ raw: comFloodGuest(1, 1), args, stdout: 'stalled' });
      baseline = await p.exit(120_000);
      expect(baseline.code).toBe(0);
    }, 180_000);

    it(`a guest writing ${(chunks * FLOOD_CHUNK) >> 10} KiB to COM1 runs to its poweroff; memory stays bounded; the VMM exits 0`, async () => {
      const p = new VmmProcess({ raw: comFloodGuest(64, chunks - 64), args, stdout: 'stalled' });
      await p.waitForStderr('guest stopped (poweroff');
      const exit = await p.exit(EXIT_GRACE_MS);
      expect(exit).toMatchObject({ code: 0, signal: null });
      const growth = growthMiB(exit, baseline);
      console.log(
        `${backend}: peak RSS ${(exit.maxRssKiB! / 1024).toFixed(0)} MiB after ${(chunks * FLOOD_CHUNK) >> 10} KiB of console output into a stalled pipe; baseline ${(baseline.maxRssKiB! / 1024).toFixed(0)} MiB; growth ${growth.toFixed(1)} MiB`,
      );
      expect(growth).toBeLessThan(BOUND_MIB);
    }, 300_000);

    it('one SIGTERM ends the run with 143 while the console pipe is full', async () => {
      const p = new VmmProcess({ raw: comFloodGuest(64, 0), args, stdout: 'stalled' });
      // The guest marks the boot timer after 256 KiB of output, more than the pipe and this
      // process's stream buffer hold: from then on the VMM's console writes are stalled.
      await p.waitForStderr('boot timer');
      p.kill('SIGTERM');
      await p.waitForStderr('exit code 143');
      const exit = await p.exit(EXIT_GRACE_MS);
      expect(exit).toMatchObject({ code: 143, signal: null });
    }, 300_000);
  });
}
