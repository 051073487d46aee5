import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { VmmConfig } from '../config/types.js';
import type { GuestManifest } from '../guest/cache.js';
import { EXIT_CODES, stopResult } from '../vmm/exit-codes.js';
import { type CliDeps, runCli } from './main.js';

function harness(cached?: GuestManifest) {
  const out: string[] = [];
  const err: string[] = [];
  const calls: { runVm: VmmConfig[]; demo: string[]; build: number } = { runVm: [], demo: [], build: 0 };
  const guest: GuestManifest = {
    kernel: '/cache/vmlinuz',
    initrd: '/cache/initrd.cpio',
    kernelVersion: '6.1',
    kernelPackage: 'linux-image-6.1',
    busyboxPackage: 'busybox-static',
    modules: [],
    builtin: [],
  };
  const deps: CliDeps = {
    runVm: async (cfg) => {
      calls.runVm.push(cfg);
      return stopResult('poweroff');
    },
    runDemo: async (b) => {
      calls.demo.push(b);
      return stopResult('reboot');
    },
    buildGuest: async () => {
      calls.build++;
      return guest;
    },
    cachedGuest: () => cached,
    version: '0.1.0',
  };
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
  return { deps, io, out, err, calls, guest };
}

describe('ts-vmm CLI', () => {
  it('prints help and version', async () => {
    const h = harness();
    expect(await runCli(['--help'], h.deps, h.io)).toBe(0);
    expect(h.out.join('\n')).toContain('ts-vmm run');
    expect(await runCli(['run', '--help'], h.deps, h.io)).toBe(0);
    expect(h.out.join('\n')).toContain('--vsock cid=N,uds=PATH');
    expect(await runCli(['--version'], h.deps, h.io)).toBe(0);
    expect(h.out.at(-1)).toBe('0.1.0');
    expect(await runCli(['--bogus'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(h.calls.runVm).toHaveLength(0);
  });

  it('runs with flags and returns the guest exit code', async () => {
    const h = harness();
    const code = await runCli(['run', '--kernel', 'bz', '--memory', '128', '--vcpus', '2'], h.deps, h.io);
    expect(code).toBe(0);
    expect(h.calls.runVm[0]).toMatchObject({ kernel: 'bz', memoryMib: 128, vcpus: 2, initrd: undefined });
    expect(h.calls.build).toBe(0);
    expect(h.err.at(-1)).toContain('poweroff');
  });

  it('bare ts-vmm and ts-vmm --flags mean run', async () => {
    const h = harness(undefined);
    expect(await runCli([], h.deps, h.io)).toBe(0);
    expect(await runCli(['--kernel', 'bz', '--vcpus', '2'], h.deps, h.io)).toBe(0);
    expect(await runCli(['--', 'run', '--kernel', 'bz'], h.deps, h.io)).toBe(0);
    expect(h.calls.runVm[1]).toMatchObject({ kernel: 'bz', vcpus: 2 });
  });

  it('uses (and builds) the default guest when --kernel is omitted', async () => {
    const h = harness();
    expect(await runCli(['run'], h.deps, h.io)).toBe(0);
    expect(h.calls.build).toBe(1);
    expect(h.calls.runVm[0]).toMatchObject({ kernel: '/cache/vmlinuz', initrd: '/cache/initrd.cpio' });
    const cached = harness(h.guest);
    await runCli(['run', '--initrd', 'mine.cpio'], cached.deps, cached.io);
    expect(cached.calls.build).toBe(0);
    expect(cached.calls.runVm[0].initrd).toBe('mine.cpio');
  });

  it('merges a JSON config file under the flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'));
    const file = join(dir, 'vm.json');
    writeFileSync(file, JSON.stringify({ kernel: 'k', memoryMib: 1024, vcpus: 3 }));
    const h = harness();
    await runCli(['run', '--config', file, '--memory', '64'], h.deps, h.io);
    expect(h.calls.runVm[0]).toMatchObject({ kernel: 'k', memoryMib: 64, vcpus: 3 });
  });

  it('refuses bad values with the usage exit code (64) and a message naming them', async () => {
    const h = harness();
    expect(await runCli(['run', '--kernel', 'k', '--memory', 'huge'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(h.err.at(-1)).toMatch(/--memory: "huge"/);
    expect(await runCli(['run', '--config', '/nonexistent/x.json'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(h.err.at(-1)).toMatch(/--config: cannot read/);
    expect(await runCli(['frobnicate'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(await runCli(['demo', '--backend', 'xen'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(h.calls.runVm).toHaveLength(0);
  });

  it('demo passes the backend and maps the result to an exit code', async () => {
    const h = harness();
    expect(await runCli(['demo', '--backend=kvm'], h.deps, h.io)).toBe(EXIT_CODES.reboot);
    expect(h.calls.demo).toEqual(['kvm']);
  });

  it('guest fetch and guest path', async () => {
    const h = harness();
    expect(await runCli(['guest', 'path'], h.deps, h.io)).toBe(EXIT_CODES.error);
    expect(await runCli(['guest', 'fetch'], h.deps, h.io)).toBe(0);
    expect(h.out).toContain('kernel /cache/vmlinuz');
    expect(await runCli(['guest', 'fetch', '--bogus'], h.deps, h.io)).toBe(EXIT_CODES.usage);
    expect(await runCli(['guest'], h.deps, h.io)).toBe(EXIT_CODES.usage);
  });
});
