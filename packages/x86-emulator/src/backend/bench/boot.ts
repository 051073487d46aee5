/**
 * Linux boot benchmark: time from start to the guest's user space (the default guest's
 * "ts-vmm-init: ready" line) for the same kernel and initramfs on the emulated backend (through
 * the reference VMM, in this process) and on QEMU with TCG (`qemu-system-x86_64 -accel tcg`),
 * measured in the same run; prints both, their ratio, and the emulator's guest instructions per
 * second, TLB and decode-cache hit rates.
 *
 * The guest gets `tsvmm.run=true` so its /init powers off right after the ready line: the run also
 * checks that `poweroff` ends the VMM with exit code 0.
 *
 * Run (after `pnpm build` and `ts-vmm guest fetch`):
 *   pnpm --filter @ts-vmm/x86-emulator exec tsx src/backend/bench/boot.ts [--skip-qemu] [--timeout S]
 *     [--clock realtime|virtual] [--jit-threshold N] [--profile [--system-map PATH]]
 *   (--clock: the emulator's guest time, default realtime as the reference VMM's, which QEMU TCG
 *   keeps too; --profile samples the guest RIP every 9973 instructions, top 30 kernel functions)
 *
 * The reference VMM depends on this package, so it is imported from its built `dist/` by path (a
 * bench-only edge, not a package dependency).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Vm, VmOptions } from '@ts-vmm/hypervisor';
import type { ClockMode } from '../../platform/virtual-clock.js';
import { EmulatedHypervisor } from '../hypervisor.js';
import type { EmulatedVcpu } from '../vcpu.js';
import type { EmulatedVm } from '../vm.js';

const READY = 'ts-vmm-init: ready';
const BASE_CMDLINE = 'console=ttyS0 reboot=k panic=1 pci=off';
/** `tsvmm.run=` with base64("true"): /init runs it after the ready line, then powers off. */
const RUN_TRUE = 'tsvmm.run=dHJ1ZQ==';

interface GuestFiles {
  kernel: string;
  initrd: string;
}

function guestFiles(): GuestFiles {
  const cache = process.env.TS_VMM_CACHE ?? join(homedir(), '.cache', 'ts-vmm');
  const desc = join(cache, 'guest', 'guest.json');
  if (!existsSync(desc)) throw new Error(`${desc} is missing: run 'ts-vmm guest fetch' first`);
  const g = JSON.parse(readFileSync(desc, 'utf8')) as GuestFiles;
  return { kernel: g.kernel, initrd: g.initrd };
}

interface EmulatorResult {
  readyMs: number;
  totalMs: number;
  exitCode: number;
  instructions: number;
  tlbHitRate: number;
  decodeHitRate: number;
  lastLines: string;
  compiledBlocks: number;
  compiledRuns: number;
  interpreted: number;
}

/** Boots on the emulated backend through the reference VMM (its built dist). */
async function bootEmulated(
  g: GuestFiles,
  timeoutS: number,
  profile: Profile | null,
  jitThreshold: number | undefined,
  clockMode: ClockMode,
): Promise<EmulatorResult> {
  const here = fileURLToPath(import.meta.url);
  const vmmDist = join(here, '..', '..', '..', '..', '..', 'vmm-reference', 'dist', 'index.js');
  if (!existsSync(vmmDist)) throw new Error(`${vmmDist} is missing: build @ts-vmm/vmm-reference first`);
  const m = (await import(pathToFileURL(vmmDist).href)) as {
    resolveConfig(s: unknown): unknown;
    Vmm: {
      create(
        c: unknown,
        o: unknown,
      ): Promise<{ run(): Promise<{ exitCode: number; reason: string }>; stop(r: string, d?: string): void }>;
    };
  };
  const vcpus: EmulatedVcpu[] = [];
  class CountingHypervisor extends EmulatedHypervisor {
    override async createVm(options?: VmOptions): Promise<Vm> {
      const vm = (await super.createVm(options)) as EmulatedVm;
      const create = vm.createVcpu.bind(vm);
      vm.createVcpu = (id: number) => {
        const v = create(id) as EmulatedVcpu;
        vcpus.push(v);
        if (jitThreshold !== undefined) v.cpu.jitThreshold = jitThreshold;
        if (profile) sampleRip(v, profile);
        return v;
      };
      return vm;
    }
  }
  const cfg = m.resolveConfig({
    flags: {
      kernel: g.kernel,
      initrd: g.initrd,
      backend: 'emulated',
      cmdline: BASE_CMDLINE,
      cmdlineAppend: RUN_TRUE,
    },
  });
  let text = '';
  let readyMs = -1;
  const t0 = performance.now();
  const vmm = await m.Vmm.create(cfg, {
    hypervisor: new CountingHypervisor({ clockMode }),
    input: null,
    handleSignals: false,
    log: () => {},
    output: {
      write(chunk: Uint8Array) {
        text = (text + Buffer.from(chunk).toString('latin1')).slice(-4000);
        if (readyMs < 0 && text.includes(READY)) readyMs = performance.now() - t0;
        return true;
      },
    },
  });
  const timer = setTimeout(() => vmm.stop('sigterm', 'benchmark timeout'), timeoutS * 1000);
  const r = await vmm.run();
  clearTimeout(timer);
  const totalMs = performance.now() - t0;
  const s = vcpus[0].cpu.stats();
  return {
    readyMs,
    totalMs,
    exitCode: r.exitCode,
    instructions: vcpus.reduce((n, v) => n + v.cpu.icount, 0),
    tlbHitRate: s.tlbHitRate,
    decodeHitRate: s.decodeHitRate,
    lastLines: text.trim().split('\n').slice(-3).join('\n'),
    compiledBlocks: vcpus.reduce((n, v) => n + v.cpu.compiledBlocks, 0),
    compiledRuns: vcpus.reduce((n, v) => n + v.cpu.compiledRuns, 0),
    interpreted: vcpus.reduce((n, v) => n + v.cpu.interpretedInstructions, 0),
  };
}

/** Sampling period of `--profile` (guest instructions; prime, so loops do not alias). */
const SAMPLE_PERIOD = 9973;

/** A `--profile` histogram: instruction samples and wall time (ms) per guest RIP. */
interface Profile {
  samples: Map<number, number>;
  ms: Map<number, number>;
}

/**
 * `--profile`: runs the CPU in slices of at most SAMPLE_PERIOD instructions; counts the RIP after each
 * slice (where the instructions go) and charges each slice's wall time to the RIP it started at (where
 * the time goes: slow code takes longer per slice).
 */
function sampleRip(v: EmulatedVcpu, p: Profile): void {
  const cpu = v.cpu;
  const run = cpu.run.bind(cpu);
  cpu.run = (max?: number) => {
    const start = cpu.rip;
    const t0 = performance.now();
    const exit = run(Math.min(max ?? SAMPLE_PERIOD, SAMPLE_PERIOD));
    p.ms.set(start, (p.ms.get(start) ?? 0) + performance.now() - t0);
    if (exit.kind === 'instruction-limit') p.samples.set(cpu.rip, (p.samples.get(cpu.rip) ?? 0) + 1);
    return exit;
  };
}

/** Prints the top kernel functions of a profile by time and by instructions, via System.map (`--system-map PATH`). */
function printProfile(p: Profile, systemMap: string | undefined): void {
  const syms: { addr: number; name: string }[] = [];
  if (systemMap && existsSync(systemMap)) {
    for (const line of readFileSync(systemMap, 'utf8').split('\n')) {
      const [a, t, name] = line.split(' ');
      if (!name || !/[tTwW]/.test(t)) continue;
      syms.push({ addr: Number.parseInt(a.slice(-12), 16) - 2 ** 48, name });
    }
    syms.sort((x, y) => x.addr - y.addr);
  }
  const nameOf = (rip: number): string => {
    let lo = 0;
    let hi = syms.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (syms[mid].addr <= rip) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return rip >= 0 ? 'user space' : found >= 0 ? syms[found].name : 'unknown';
  };
  const fold = (m: Map<number, number>): [Map<string, number>, number] => {
    const by = new Map<string, number>();
    let total = 0;
    for (const [rip, n] of m) {
      total += n;
      const name = nameOf(rip);
      by.set(name, (by.get(name) ?? 0) + n);
    }
    return [by, total];
  };
  const [insns, totalInsns] = fold(p.samples);
  const [time, totalMs] = fold(p.ms);
  console.log(
    `profile: ${totalInsns} samples, one per ${SAMPLE_PERIOD} instructions; ${(totalMs / 1000).toFixed(1)} s of vCPU time`,
  );
  console.log('  % time  % insns  function');
  for (const [name, ms] of [...time].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    const pct = (((insns.get(name) ?? 0) / totalInsns) * 100).toFixed(2);
    console.log(`  ${((ms / totalMs) * 100).toFixed(2).padStart(6)}  ${pct.padStart(7)}  ${name}`);
  }
}

/** Boots the same pair on QEMU TCG; resolves with ms to the ready line (-1 if never). */
function bootQemu(g: GuestFiles, timeoutS: number): Promise<{ readyMs: number; totalMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const args = ['-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot'];
    args.push('-kernel', g.kernel, '-initrd', g.initrd, '-append', `${BASE_CMDLINE} ${RUN_TRUE}`);
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let readyMs = -1;
    const kill = setTimeout(() => q.kill('SIGKILL'), timeoutS * 1000);
    q.stdout.on('data', (d: Buffer) => {
      text = (text + d.toString('latin1')).slice(-4000);
      if (readyMs < 0 && text.includes(READY)) readyMs = performance.now() - t0;
    });
    q.once('error', (e) => {
      clearTimeout(kill);
      reject(e);
    });
    q.once('exit', () => {
      clearTimeout(kill);
      resolve({ readyMs, totalMs: performance.now() - t0 });
    });
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const skipQemu = argv.includes('--skip-qemu');
  const ti = argv.indexOf('--timeout');
  const timeoutS = ti >= 0 ? Number(argv[ti + 1]) : 900;
  const g = guestFiles();
  console.log(`kernel ${g.kernel}\ninitrd ${g.initrd}`);
  let qemu: { readyMs: number; totalMs: number } | undefined;
  if (!skipQemu) {
    try {
      qemu = await bootQemu(g, Math.min(timeoutS, 300));
      console.log(
        `qemu tcg:  user space after ${(qemu.readyMs / 1000).toFixed(2)} s (exit after ${(qemu.totalMs / 1000).toFixed(2)} s)`,
      );
    } catch (e) {
      console.log(`qemu tcg:  not run (${(e as Error).message})`);
    }
  }
  const profile: Profile | null = argv.includes('--profile') ? { samples: new Map(), ms: new Map() } : null;
  const mi = argv.indexOf('--system-map');
  const ji = argv.indexOf('--jit-threshold');
  const ci = argv.indexOf('--clock');
  const clockMode = (ci >= 0 ? argv[ci + 1] : 'realtime') as ClockMode;
  console.log(`emulated:  --clock ${clockMode}`);
  const emu = await bootEmulated(g, timeoutS, profile, ji >= 0 ? Number(argv[ji + 1]) : undefined, clockMode);
  if (profile) printProfile(profile, mi >= 0 ? argv[mi + 1] : undefined);
  const mips = emu.instructions / emu.totalMs / 1000;
  console.log(
    `emulated:  user space after ${(emu.readyMs / 1000).toFixed(2)} s (exit code ${emu.exitCode} after ${(emu.totalMs / 1000).toFixed(2)} s)`,
  );
  console.log(
    `emulated:  ${(emu.instructions / 1e6).toFixed(0)} M guest instructions, ${mips.toFixed(2)} M instructions/s, TLB hit rate ${(emu.tlbHitRate * 100).toFixed(1)}%, decode-cache hit rate ${(emu.decodeHitRate * 100).toFixed(2)}%`,
  );
  const compiled = emu.instructions - emu.interpreted;
  console.log(
    `emulated:  ${emu.compiledBlocks} blocks compiled; ${((compiled / emu.instructions) * 100).toFixed(1)}% of instructions ran compiled, ${(compiled / emu.compiledRuns).toFixed(1)} per compiled block run`,
  );
  if (emu.readyMs < 0) console.log(`emulated:  did not reach user space; last lines:\n${emu.lastLines}`);
  if (qemu && qemu.readyMs > 0 && emu.readyMs > 0) {
    console.log(
      `ratio:     emulated / qemu tcg = ${(emu.readyMs / qemu.readyMs).toFixed(1)}x (time to user space)`,
    );
  }
}

await main();
