/**
 * A guest that makes the VMM log, over and over: a virtio device driven into DEVICE_NEEDS_RESET in
 * a loop, one "device error" a round. The device errors are rate-limited (a burst, then about one
 * line a second, and a count of the rest), and status lines are dropped while stderr is far
 * behind: with stderr a pipe nobody reads, the VMM's memory stays bounded and the guest runs on.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { reliabilityBackends } from './backends.js';
import { deviceErrorLoopGuest } from './guests.js';
import { growthMiB, type VmmExit, VmmProcess } from './vmm-process.js';

const BOUND_MIB = 64;

for (const { name: backend, ok } of reliabilityBackends('log flood tests')) {
  // On KVM each of a round's ten register writes is a cross-thread exit (~0.1 ms under PVM).
  const rounds = backend === 'kvm' ? 5_000 : 100_000;
  const args = ['run', '--backend', backend, '--memory', '16'];

  describe.skipIf(!ok)(`${rounds} device errors from the guest, ${backend} backend`, () => {
    // The same run with stderr read: the baseline for the stalled one (same guest work, same JIT).
    let read: VmmProcess;
    let readExit: VmmExit;
    beforeAll(async () => {
      read = new VmmProcess({ raw: deviceErrorLoopGuest(rounds), args });
      readExit = await read.exit(240_000);
    }, 300_000);

    it('stderr read: a few lines and a count of the rest, which add up to every error', () => {
      const p = read;
      expect(readExit).toMatchObject({ code: 0, signal: null });
      const lines = p.stderr.split('\n').filter((l) => l.includes('virtio-rng: device error: '));
      const suppressed = [
        ...p.stderr.matchAll(/virtio-rng: device error \([\w-]+\): \.\.\. (\d+) more/g),
      ].reduce((n, m) => n + Number(m[1]), 0);
      console.log(
        `${backend}: ${rounds} device errors gave ${lines.length} lines and a count of ${suppressed}`,
      );
      expect(lines.length).toBeLessThan(200);
      expect(lines.length + suppressed).toBe(rounds);
    }, 300_000);

    it('stderr a pipe nobody reads: the guest runs to its poweroff, memory stays bounded', async () => {
      const p = new VmmProcess({ raw: deviceErrorLoopGuest(rounds), args, stderr: 'stalled' });
      const exit = await p.exit(240_000);
      expect(exit).toMatchObject({ code: 0, signal: null });
      const growth = growthMiB(exit, readExit);
      console.log(
        `${backend}: peak RSS ${(exit.maxRssKiB! / 1024).toFixed(0)} MiB after ${rounds} device errors with stderr stalled, ${(readExit.maxRssKiB! / 1024).toFixed(0)} MiB with it read`,
      );
      expect(growth).toBeLessThan(BOUND_MIB);
    }, 300_000);
  });
}
