/**
 * Twenty VMs at once: twenty demo guests in one process (each its own output, no cross-talk, no
 * listener-leak warning, every file descriptor given back) and twenty `ts-vmm demo` processes;
 * every one powers off with exit code 0.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { demoGuest } from '../../src/vmm/demo-guest.js';
import { Vmm } from '../../src/vmm/vmm.js';
import { emulatedAvailable, reliabilityBackends } from './backends.js';
import { VmmProcess } from './vmm-process.js';

const COUNT = 20;
const fds = () => readdirSync('/proc/self/fd').length;

for (const { name: backend, ok } of reliabilityBackends('twenty VMs at once')) {
  describe.skipIf(!ok)(`${COUNT} VMs at once, ${backend} backend`, () => {
    it(`${COUNT} demo guests in one process each print their own greeting and power off`, async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
      process.on('warning', onWarning);
      const before = fds();
      try {
        const outs = Array.from({ length: COUNT }, () => '');
        const vmms = await Promise.all(
          outs.map((_, i) =>
            Vmm.create(resolveConfig({ flags: { backend, memoryMib: 16, console: 'serial' } }), {
              raw: { image: demoGuest(`hello from VM ${i}`) },
              input: null,
              log: () => {},
              output: {
                write: (c: Uint8Array) => {
                  outs[i] += Buffer.from(c).toString('latin1');
                  return true;
                },
              },
            }),
          ),
        );
        const results = await Promise.all(vmms.map((v) => v.run()));
        for (const [i, r] of results.entries()) {
          expect(r).toMatchObject({ reason: 'poweroff', exitCode: 0 });
          expect(outs[i]).toBe(`hello from VM ${i}\r\n`);
        }
        await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
        expect(warnings).toEqual([]);
        expect(process.listenerCount('SIGINT')).toBe(0);
        expect(fds()).toBeLessThanOrEqual(before);
      } finally {
        process.removeListener('warning', onWarning);
      }
    }, 180_000);
  });
}

describe.skipIf(!emulatedAvailable)(`${COUNT} ts-vmm processes at once`, () => {
  it(`${COUNT} \`ts-vmm demo --backend emulated\` processes all exit 0`, async () => {
    const procs = Array.from(
      { length: COUNT },
      () => new VmmProcess({ args: ['demo', '--backend', 'emulated'] }),
    );
    const exits = await Promise.all(procs.map((p) => p.exit(240_000)));
    for (const [i, e] of exits.entries()) {
      expect(e, procs[i].stderr).toMatchObject({ code: 0, signal: null });
      expect(procs[i].stdout).toContain('Hello from a ts-vmm guest');
    }
  }, 300_000);
});
