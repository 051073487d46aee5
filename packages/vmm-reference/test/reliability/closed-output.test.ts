/**
 * The reader of the VMM's stdout or stderr goes away (`ts-vmm run | head -c 2000`): the next write
 * gets EPIPE. A closed stdout ends the run cleanly, with teardown and exit code 141
 * (`output-closed`); a closed stderr only loses the status lines. No stack trace, no crash.
 */
import { describe, expect, it } from 'vitest';
import { reliabilityBackends } from './backends.js';
import { comFloodGuest } from './guests.js';
import { VmmProcess } from './vmm-process.js';

const EXIT_GRACE_MS = 30_000;

for (const { name: backend, ok } of reliabilityBackends('closed-output tests')) {
  const args = ['run', '--backend', backend, '--memory', '16'];

  describe.skipIf(!ok)(`the reader closes its end of the pipe, ${backend} backend`, () => {
    it('stdout (| head -c 2000): the run ends with output-closed, exit code 141, no stack trace', async () => {
      const p = new VmmProcess({ raw: comFloodGuest(1, 0), args, stdout: { closeAfter: 2000 } });
      await p.waitForStderr(/exit code \d+/);
      const exit = await p.exit(EXIT_GRACE_MS);
      expect(p.stderr).toContain('guest stopped (output-closed: console output: EPIPE); exit code 141');
      expect(p.stderr).not.toMatch(/^\s+at /m);
      expect(exit).toMatchObject({ code: 141, signal: null });
    }, 120_000);

    it('stderr (2>&1 | head -c 1): status lines are dropped, the guest runs to its poweroff, exit code 0', async () => {
      const p = new VmmProcess({ raw: comFloodGuest(1, 2), args, stderr: { closeAfter: 1 } });
      const exit = await p.exit(120_000);
      expect(p.stdout).toContain('guest console flood');
      expect(p.stdout.length).toBeGreaterThanOrEqual(3 * 4096);
      expect(exit).toMatchObject({ code: 0, signal: null });
    }, 180_000);
  });
}
