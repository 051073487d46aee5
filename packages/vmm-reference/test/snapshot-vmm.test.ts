/**
 * Vmm.pause/resume/snapshot/restore on the emulated backend with a raw 64-bit guest that counts in
 * RAX forever, and the bad-input cases of Vmm.restore: each a `snapshot` VmmError naming the
 * problem, with nothing started and nothing in the directory changed.
 */
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingCpuFeatures } from '@ts-vmm/hypervisor';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/resolve.js';
import { decodeSnapshotState } from '../src/snapshot/format.js';
import { inspectSnapshot } from '../src/snapshot/snapshot-dir.js';
import { backendAvailable, chooseBackend } from '../src/vmm/backend.js';
import { VmmError } from '../src/vmm/errors.js';
import { Vmm } from '../src/vmm/vmm.js';

const emulated = await backendAvailable('emulated');
if (!emulated.ok) console.log(`skipped: snapshot tests (emulated backend: ${emulated.why})`);
const kvm = await backendAvailable('kvm');
if (!kvm.ok) console.log(`skipped: KVM snapshot tests (${kvm.why})`);

/** inc rax; jmp back */
const COUNTER = Uint8Array.of(0x48, 0xff, 0xc0, 0xeb, 0xfb);
const root = mkdtempSync(join(tmpdir(), 'ts-vmm-snap-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const quiet = { input: null, handleSignals: false, log: () => {}, output: { write: () => true } } as const;

function rax(dir: string): bigint {
  return decodeSnapshotState(readFileSync(join(dir, 'state'))).vcpus[0].regs.rax;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const good = join(root, 'good');

describe.skipIf(!emulated.ok)('Vmm snapshots (emulated, raw counting guest)', () => {
  it('pauses at an instruction boundary, snapshots while running, and a restored VM counts on', async () => {
    const config = resolveConfig({ flags: { backend: 'emulated', memoryMib: 16 } });
    const vmm = await Vmm.create(config, { ...quiet, raw: { image: COUNTER } });
    const run = vmm.run();
    await sleep(200);
    await vmm.pause();
    expect(vmm.paused).toBe(true);
    const info = await vmm.snapshot({ dir: good });
    expect(vmm.paused).toBe(true); // a paused VM stays paused
    vmm.resume();
    expect(vmm.paused).toBe(false);
    const first = rax(good);
    expect(first).toBeGreaterThan(0n);
    // only the touched pages are in the file: page tables, GDT, the image; far less than 16 MiB
    expect(info.memoryBytes).toBe(16 << 20);
    expect(info.pages).toBeGreaterThan(0);
    expect(info.pages).toBeLessThan(64);
    expect(statSync(join(good, 'memory')).size).toBe(16 << 20);
    expect(inspectSnapshot(good)).toMatch(/vCPUs: 1 .*\n.*memory: 16 MiB/);
    vmm.stop('sigterm');
    expect((await run).reason).toBe('sigterm');

    const restored = await Vmm.restore(good, { options: quiet });
    const run2 = restored.run();
    await sleep(200);
    const again = join(root, 'again');
    await restored.snapshot({ dir: again });
    restored.stop('sigterm');
    await run2;
    // the restored guest went on from the saved RAX (a fresh boot would start at 0 again and
    // could not have counted past it in the same time only by chance: check the code is the same)
    expect(rax(again)).toBeGreaterThan(first);
    const s = decodeSnapshotState(readFileSync(join(again, 'state')));
    expect(s.vcpus[0].regs.rip).toBeGreaterThanOrEqual(0x10_0000n);
    expect(s.vcpus[0].regs.rip).toBeLessThan(0x10_0000n + 5n);
  });

  it('a diff snapshot holds only the pages changed since its parent; restoring it loads the chain', async () => {
    // inc rax; mov [0x200000], rax; jmp back
    const STORE = Uint8Array.of(0x48, 0xff, 0xc0, 0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xeb, 0xf3);
    const config = resolveConfig({ flags: { backend: 'emulated', memoryMib: 16 } });
    const vmm = await Vmm.create(config, { ...quiet, raw: { image: STORE } });
    await expect(vmm.snapshot({ dir: join(root, 'd0'), kind: 'diff' })).rejects.toThrow(/no parent/);
    const run = vmm.run();
    await sleep(100);
    const full = join(root, 'full');
    const a = await vmm.snapshot({ dir: full });
    await expect(vmm.snapshot({ dir: full, kind: 'diff' })).rejects.toThrow(/holds the parent/);
    await sleep(100);
    const diff = join(root, 'diff');
    const b = await vmm.snapshot({ dir: diff, kind: 'diff' });
    vmm.stop('sigterm');
    await run;
    const sb = decodeSnapshotState(readFileSync(join(diff, 'state')));
    expect(sb.memory.kind).toBe('diff');
    expect(sb.memory.parent).toBe(full);
    expect(b.pages).toBeLessThan(a.pages); // the stored-to page, not the image and tables again
    expect(b.pages).toBeGreaterThan(0);
    expect(inspectSnapshot(diff)).toMatch(/diff of: /);

    const restored = await Vmm.restore(diff, { options: quiet });
    const stored = restored.memory.read64(0x20_0000);
    const raxB = sb.vcpus[0].regs.rax;
    expect(stored === raxB || stored === raxB - 1n).toBe(true); // the store may not have run for the last inc
    expect(stored).toBeGreaterThan(rax(full)); // the diff's page over the parent's
    const run2 = restored.run();
    await sleep(100);
    restored.stop('sigterm');
    await run2;
  });

  it('refuses pause before run() and a diff snapshot before any full one', async () => {
    const vmm = await Vmm.create(resolveConfig({ flags: { backend: 'emulated', memoryMib: 16 } }), {
      ...quiet,
      raw: { image: COUNTER },
    });
    await expect(vmm.pause()).rejects.toThrow(/not running/);
    const run = vmm.run();
    await expect(vmm.snapshot({ dir: join(root, 'diff0'), kind: 'diff' })).rejects.toThrow(/no parent/);
    vmm.stop('sigterm');
    await run;
  });

  /** A copy of the good snapshot, changed by `spoil`; restore must fail with `re` and leave it as it was. */
  async function refuses(name: string, spoil: (dir: string) => void, re: RegExp) {
    const dir = join(root, name);
    rmSync(dir, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    for (const f of readdirSync(good)) copyFileSync(join(good, f), join(dir, f));
    spoil(dir);
    const before = readdirSync(dir).map((f) => [
      f,
      statSync(join(dir, f)).size,
      statSync(join(dir, f)).mtimeMs,
    ]);
    let err: unknown;
    try {
      await Vmm.restore(dir, { options: quiet });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VmmError);
    expect((err as VmmError).kind).toBe('snapshot');
    expect((err as Error).message).toMatch(re);
    const after = readdirSync(dir).map((f) => [
      f,
      statSync(join(dir, f)).size,
      statSync(join(dir, f)).mtimeMs,
    ]);
    expect(after).toEqual(before);
  }

  it('a truncated state file', () =>
    refuses('truncated', (d) => truncateSync(join(d, 'state'), 100), /truncated|length|ends/i));

  it('a corrupted state file (checksum)', () =>
    refuses(
      'corrupt',
      (d) => {
        const b = readFileSync(join(d, 'state'));
        b[b.length - 10] ^= 0x20;
        writeFileSync(join(d, 'state'), b);
      },
      /checksum|CRC/i,
    ));

  it('a state file of another format version', () =>
    refuses(
      'version',
      (d) => {
        const b = readFileSync(join(d, 'state'));
        b.writeUInt32LE(99, 8);
        writeFileSync(join(d, 'state'), b);
      },
      /version 99/,
    ));

  it('a missing memory file', () =>
    refuses('nomem', (d) => rmSync(join(d, 'memory')), /memory file .*ENOENT/));

  it('a memory file of the wrong size', () =>
    refuses(
      'short',
      (d) => truncateSync(join(d, 'memory'), 4096),
      /memory file .* is 4096 bytes; the state file says 16777216/,
    ));

  it('a missing directory and a missing state file', async () => {
    await expect(Vmm.restore(join(root, 'nowhere'))).rejects.toThrow(/does not exist/);
    await refuses('nostate', (d) => rmSync(join(d, 'state')), /state file .*ENOENT/);
  });
});

describe.skipIf(!kvm.ok)('Vmm snapshots on KVM (vCPU worker threads)', () => {
  it('a KVM guest paused on its worker thread, snapshotted and restored counts on from its RAX', async () => {
    const dir = join(root, 'kvm');
    const config = resolveConfig({ flags: { backend: 'kvm', memoryMib: 16 } });
    // CPL3: on a KVM that emulates CPL0 code (PVM) a CPL0 loop crawls
    const vmm = await Vmm.create(config, { ...quiet, raw: { image: COUNTER, cpl3: true } });
    const run = vmm.run();
    await vmm.pause(); // waits for the worker thread to start, then stops it
    vmm.resume();
    await sleep(200);
    await vmm.snapshot({ dir });
    vmm.stop('sigterm');
    await run;
    const first = rax(dir);
    expect(first).toBeGreaterThan(0n);
    const restored = await Vmm.restore(dir, { options: quiet });
    const run2 = restored.run();
    await restored.pause();
    restored.resume();
    await sleep(200);
    const again = join(root, 'kvm-again');
    await restored.snapshot({ dir: again });
    restored.stop('sigterm');
    await run2;
    expect(rax(again)).toBeGreaterThan(first);
  });

  it.skipIf(!emulated.ok)(
    'an emulator snapshot restores on KVM only where KVM offers its CPU features, else names the missing ones',
    async () => {
      const sel = await chooseBackend('kvm');
      const supported = sel.hypervisor.supportedCpuid();
      (sel.hypervisor as { close?: () => void }).close?.();
      const missing = missingCpuFeatures(
        decodeSnapshotState(readFileSync(join(good, 'state'))).vcpus[0].cpuid,
        supported,
      );
      if (missing.length > 0) {
        const err = await Vmm.restore(good, { backend: 'kvm', options: quiet }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(VmmError);
        expect((err as VmmError).kind).toBe('snapshot');
        expect((err as Error).message).toContain(missing[0]);
      } else {
        const r = await Vmm.restore(good, { backend: 'kvm', options: quiet });
        const p = r.run();
        r.stop('sigterm');
        await p;
      }
    },
  );
  it.skipIf(!emulated.ok)(
    'with portableCpu a snapshot moves between the backends both ways and counts on',
    async () => {
      for (const [from, to] of [
        ['emulated', 'kvm'],
        ['kvm', 'emulated'],
      ] as const) {
        const dir = join(root, `${from}-to-${to}`);
        const vmm = await Vmm.create(resolveConfig({ flags: { backend: from, memoryMib: 16 } }), {
          ...quiet,
          portableCpu: true,
          raw: { image: COUNTER, cpl3: true },
        });
        const run = vmm.run();
        await vmm.pause();
        vmm.resume();
        await sleep(150);
        await vmm.snapshot({ dir });
        vmm.stop('sigterm');
        await run;
        const restored = await Vmm.restore(dir, { backend: to, options: quiet });
        expect(restored.hypervisor.kind).toBe(to);
        const run2 = restored.run();
        await restored.pause();
        restored.resume();
        await sleep(150);
        await restored.snapshot({ dir: `${dir}-again` });
        restored.stop('sigterm');
        await run2;
        expect(rax(`${dir}-again`), `${from} -> ${to}`).toBeGreaterThan(rax(dir));
      }
    },
  );
});
