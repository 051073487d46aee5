/**
 * The vsock device's host-side Unix socket file is gone after every way a `ts-vmm` run can end
 * (poweroff, reboot, panic, triple fault, SIGTERM, SIGINT, a boot error, EPIPE on stdout), and a
 * second VMM with the same path starts.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { demoGuest } from '../../src/vmm/demo-guest.js';
import { EXIT_CODES } from '../../src/vmm/exit-codes.js';
import { Vmm } from '../../src/vmm/vmm.js';
import { printThenReset, resetGuest, spinGuest, tripleFaultGuest } from '../guests.js';
import { emulatedAvailable, reliabilityBackends } from './backends.js';
import { comFloodGuest } from './guests.js';
import { type OutputMode, VmmProcess } from './vmm-process.js';

const dir = mkdtempSync(join(tmpdir(), 'ts-vmm-vsock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ExitKind {
  name: string;
  raw?: Uint8Array;
  /** Extra arguments (the boot error runs the real CLI with a kernel that is not one). */
  args?: string[];
  stdout?: OutputMode;
  signal?: NodeJS.Signals;
  code: number | number[];
  /** Also on KVM (the others exercise paths that do not depend on the backend). */
  kvm?: boolean;
}

const kinds: ExitKind[] = [
  { name: 'poweroff', raw: demoGuest(), code: EXIT_CODES.poweroff, kvm: true },
  { name: 'reboot (i8042 reset)', raw: resetGuest, code: EXIT_CODES.reboot },
  { name: 'panic', raw: printThenReset('Kernel panic - not syncing: test\r\n'), code: EXIT_CODES.panic },
  { name: 'triple fault', raw: tripleFaultGuest, code: [EXIT_CODES.error, EXIT_CODES['triple-fault']] },
  { name: 'SIGTERM', raw: spinGuest, signal: 'SIGTERM', code: EXIT_CODES.sigterm, kvm: true },
  { name: 'SIGINT', raw: spinGuest, signal: 'SIGINT', code: EXIT_CODES.sigint },
  {
    name: 'boot error (a kernel that is not one)',
    args: ['--kernel', '/etc/hostname'],
    code: EXIT_CODES.error,
  },
  {
    name: 'EPIPE on stdout',
    raw: comFloodGuest(1, 0),
    stdout: { closeAfter: 2000 },
    code: EXIT_CODES['output-closed'],
    kvm: true,
  },
];

/** A VMM in this process with the same socket path: it must be able to listen there. */
async function secondRun(uds: string): Promise<void> {
  const cfg = resolveConfig({
    flags: { backend: 'emulated', memoryMib: 16, console: 'serial', vsock: { cid: 3, uds } },
  });
  const vmm = await Vmm.create(cfg, {
    raw: { image: demoGuest() },
    input: null,
    log: () => {},
    handleSignals: false,
    output: { write: () => true },
  });
  expect(existsSync(uds)).toBe(true); // listening
  expect(await vmm.run()).toMatchObject({ reason: 'poweroff', exitCode: 0 });
  expect(existsSync(uds)).toBe(false);
}

for (const { name: backend, ok } of reliabilityBackends('vsock socket cleanup tests')) {
  describe.skipIf(!ok || !emulatedAvailable)(`vsock socket file after each exit, ${backend} backend`, () => {
    for (const k of kinds.filter((k) => backend === 'emulated' || k.kvm)) {
      it(`${k.name}: exit code ${k.code}, no socket file left, the same path works again`, async () => {
        const uds = join(dir, `${backend}-${k.name.split(' ')[0]}.sock`);
        const p = new VmmProcess({
          raw: k.raw,
          args: [
            'run',
            '--backend',
            backend,
            '--memory',
            '16',
            '--vsock',
            `cid=3,uds=${uds}`,
            ...(k.args ?? []),
          ],
          stdout: k.stdout,
        });
        if (k.signal) {
          await p.waitForStderr('raw 64-bit image'); // created, about to run
          expect(existsSync(uds)).toBe(true);
          p.kill(k.signal);
        }
        const exit = await p.exit(60_000);
        expect(exit.signal).toBeNull();
        expect([k.code].flat()).toContain(exit.code);
        expect(existsSync(uds), `${uds} left behind; stderr:\n${p.stderr}`).toBe(false);
        await secondRun(uds);
      }, 120_000);
    }
  });
}
