/**
 * The snapshot commands of the CLI: `run --snapshot-dir` reaches the snapshotting runner,
 * `restore DIR` resumes a snapshot (a raw guest that counts to a limit and ends through the
 * debug-exit port, snapshotted half way: the restored run ends with the guest's own exit code),
 * `snapshot inspect DIR` prints it, and bad arguments are usage errors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliDeps } from '../src/cli/main.js';
import { runCli } from '../src/cli/main.js';
import { resolveConfig } from '../src/config/resolve.js';
import { decodeSnapshotState } from '../src/snapshot/format.js';
import { backendAvailable } from '../src/vmm/backend.js';
import { EXIT_CODES } from '../src/vmm/exit-codes.js';
import { Vmm } from '../src/vmm/vmm.js';

const emulated = await backendAvailable('emulated');
if (!emulated.ok) console.log(`skipped: snapshot CLI restore test (emulated backend: ${emulated.why})`);
const root = mkdtempSync(join(tmpdir(), 'ts-vmm-snap-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const quiet = { input: null, handleSignals: false, log: () => {}, output: { write: () => true } } as const;

/** inc rax; cmp rax, 200M; jb back; mov al, 0x15; out 0xf4, al; hlt (exit code 0x2b) */
const COUNT_THEN_EXIT = Uint8Array.of(
  0x48,
  0xff,
  0xc0,
  0x48,
  0x3d,
  0x00,
  0xc2,
  0xeb,
  0x0b,
  0x72,
  0xf5,
  0xb0,
  0x15,
  0xe6,
  0xf4,
  0xf4,
);

function harness() {
  const out: string[] = [];
  const err: string[] = [];
  const calls: unknown[][] = [];
  const deps: CliDeps = {
    runVm: async () => ({ reason: 'poweroff', exitCode: 0 }),
    runDemo: async () => ({ reason: 'poweroff', exitCode: 0 }),
    buildGuest: async () => {
      throw new Error('no');
    },
    cachedGuest: () => ({
      kernel: '/k',
      initrd: '/i',
      kernelVersion: '6',
      kernelPackage: 'p',
      busyboxPackage: 'b',
      modules: [],
      builtin: [],
    }),
    version: '0',
    runVmWithSnapshots: async (config, _io, dir) => {
      calls.push(['run', config.memoryMib, dir]);
      return { reason: 'poweroff', exitCode: 0 };
    },
    restoreVm: async (dir, backend) => {
      calls.push(['restore', dir, backend]);
      const vmm = await Vmm.restore(dir, { backend, options: quiet });
      return vmm.run();
    },
  };
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
  return { deps, io, out, err, calls };
}

describe('ts-vmm snapshot commands', () => {
  it('run --snapshot-dir DIR goes to the snapshotting runner with the other flags parsed', async () => {
    const h = harness();
    expect(await runCli(['run', '--memory', '128', '--snapshot-dir', '/tmp/x'], h.deps, h.io)).toBe(0);
    expect(h.calls).toEqual([['run', 128, '/tmp/x']]);
  });

  it('bad arguments are usage errors', async () => {
    const h = harness();
    expect(await runCli(['restore'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(h.err.join('\n')).toMatch(/needs the snapshot directory/);
    expect(await runCli(['restore', 'a', '--bogus'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(await runCli(['snapshot', 'list'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(await runCli(['run', '--snapshot-dir'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(await runCli(['snapshot', 'inspect', join(root, 'none')], h.deps, h.io)).toBe(EXIT_CODES.error);
    expect(h.err.at(-1)).toMatch(/does not exist/);
    expect(h.calls).toEqual([]);
  });

  it.skipIf(!emulated.ok)(
    'restore DIR resumes a snapshot taken half way; snapshot inspect prints it',
    async () => {
      const dir = join(root, 'half');
      const vmm = await Vmm.create(resolveConfig({ flags: { backend: 'emulated', memoryMib: 16 } }), {
        ...quiet,
        raw: { image: COUNT_THEN_EXIT },
      });
      const run = vmm.run();
      await new Promise((r) => setTimeout(r, 50));
      await vmm.snapshot({ dir });
      vmm.stop('sigterm');
      expect((await run).reason).toBe('sigterm');
      const rax = decodeSnapshotState(readFileSync(join(dir, 'state'))).vcpus[0].regs.rax;
      expect(rax).toBeGreaterThan(0n);
      expect(rax).toBeLessThan(200_000_000n);

      const h = harness();
      expect(await runCli(['snapshot', 'inspect', dir], h.deps, h.io)).toBe(0);
      expect(h.out.join('\n')).toMatch(/on the emulated backend[\s\S]*vCPUs: 1[\s\S]*memory: 16 MiB/);
      // the guest's own exit: debug-exit 0x15 -> (0x15 << 1) | 1
      expect(await runCli(['restore', dir, '--backend', 'emulated'], h.deps, h.io)).toBe(0x2b);
      expect(h.calls).toEqual([['restore', dir, 'emulated']]);
      expect(h.err.at(-1)).toMatch(/debug-exit.*exit code 43/);
    },
  );
});
