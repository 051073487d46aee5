/**
 * Linux boot benchmark: time from start to the guest's user space for the default guest (Debian
 * cloud kernel + busybox initramfs) through the reference {@link Vmm}, against
 * `qemu-system-x86_64` booting the same kernel and initramfs in the same run.
 *
 * "User space" is the default guest's `ts-vmm-init: ready` line, printed by its `/init` right after
 * it marks the boot-timer device (both are reported for ts-vmm; QEMU has only the line). The guest
 * gets `tsvmm.run=true`, so `/init` powers off right after: the run also checks that `poweroff`
 * ends the VMM with exit code 0.
 *
 * The backend is chosen as `ts-vmm run --backend` does (`auto` runs the VMM's own KVM speed
 * probe). QEMU gets the matching accelerator: `-accel kvm` when ts-vmm runs on KVM that runs guest
 * kernel code at hardware speed, `-accel tcg` otherwise (the emulated backend, or KVM under a
 * software nested hypervisor such as PVM). On the emulated backend it also prints guest
 * instructions and instructions per second up to user space, and the TLB and decode-cache hit
 * rates. (Sampling the guest RIP for a kernel profile stays in x86-emulator's own boot bench,
 * `--profile`.)
 *
 *   pnpm --filter @ts-vmm/vmm-reference bench:boot [--backend auto|kvm|emulated] [--memory MIB]
 *     [--vcpus N] [--skip-qemu] [--timeout S]
 *
 * Needs the default guest (`ts-vmm guest fetch`) and, for the comparison, qemu-system-x86_64.
 * Results are printed, never asserted.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import type { Hypervisor, Vcpu, Vm, VmOptions } from '@ts-vmm/hypervisor';
import { resolveConfig } from '../src/config/resolve.js';
import type { BackendChoice } from '../src/config/types.js';
import { parseBackend, parseMemoryMib, parseVcpus } from '../src/config/values.js';
import { cachedGuest } from '../src/guest/cache.js';
import { INIT_READY_MARKER, runParameter } from '../src/guest/init-script.js';
import { chooseBackend, SLOW_CPL0_RATIO } from '../src/vmm/backend.js';
import { Vmm } from '../src/vmm/vmm.js';

/** What `/init` runs after the ready line before it powers off. */
const RUN_TRUE = runParameter('true');
const BOOT_TIMER_LINE = /boot timer: guest reached user space after ([\d.]+) ms/;

interface Options {
  backend: BackendChoice;
  memoryMib: number;
  vcpus: number;
  skipQemu: boolean;
  timeoutS: number;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { backend: 'auto', memoryMib: 512, vcpus: 1, skipQemu: false, timeoutS: 900 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--') continue;
    else if (a === '--backend') o.backend = parseBackend(value());
    else if (a === '--memory') o.memoryMib = parseMemoryMib(value());
    else if (a === '--vcpus') o.vcpus = parseVcpus(value());
    else if (a === '--skip-qemu') o.skipQemu = true;
    else if (a === '--timeout') {
      o.timeoutS = Number(value());
      if (!(o.timeoutS > 0)) throw new Error(`--timeout ${JSON.stringify(argv[i])} is not a positive number`);
    } else throw new Error(`unknown argument ${JSON.stringify(a)}`);
  }
  return o;
}

/** The emulator's per-vCPU instruction counter, when the backend has one (duck-typed). */
function instructionCount(v: Vcpu): number | undefined {
  const n = (v as { cpu?: { icount?: unknown } }).cpu?.icount;
  return typeof n === 'number' ? n : undefined;
}

/** The emulator's TLB and decode-cache hit rates, when its CPU reports them (duck-typed). */
function emulatorStats(v: Vcpu): { tlbHitRate: number; decodeHitRate: number } | undefined {
  const st = (
    v as { cpu?: { stats?: () => { tlbHitRate?: unknown; decodeHitRate?: unknown } } }
  ).cpu?.stats?.();
  return st && typeof st.tlbHitRate === 'number' && typeof st.decodeHitRate === 'number'
    ? { tlbHitRate: st.tlbHitRate, decodeHitRate: st.decodeHitRate }
    : undefined;
}

/** Wraps an emulated backend so the bench sees the vCPUs it creates (they run on this thread). */
function observeVcpus(hv: Hypervisor, vcpus: Vcpu[]): Hypervisor {
  const createVm = hv.createVm.bind(hv);
  hv.createVm = async (options?: VmOptions): Promise<Vm> => {
    const vm = await createVm(options);
    const createVcpu = vm.createVcpu.bind(vm);
    vm.createVcpu = (id: number) => {
      const v = createVcpu(id);
      vcpus.push(v);
      return v;
    };
    return vm;
  };
  return hv;
}

interface VmmBoot {
  backend: string;
  reason: string;
  /** KVM that runs CPL0 code at hardware speed. */
  hardwareKvm: boolean;
  chooseMs: number;
  readyMs: number;
  bootTimerMs: number | undefined;
  totalMs: number;
  exitCode: number;
  stopReason: string;
  /** Guest instructions up to the ready line (emulated backend). */
  instructions: number | undefined;
  /** From `run()` to the ready line. */
  runToReadyMs: number;
  /** vCPU 0's TLB and decode-cache hit rates over the run (emulated backend). */
  stats: { tlbHitRate: number; decodeHitRate: number } | undefined;
  lastLines: string;
}

async function bootVmm(kernel: string, initrd: string, o: Options): Promise<VmmBoot> {
  const tChoose = performance.now();
  const sel = await chooseBackend(o.backend);
  const chooseMs = performance.now() - tChoose;
  const hardwareKvm = sel.hypervisor.kind === 'kvm' && !!sel.probe && sel.probe.ratio < SLOW_CPL0_RATIO;
  const vcpus: Vcpu[] = [];
  let hypervisor: Hypervisor | undefined;
  if (sel.hypervisor.kind === 'kvm') {
    // Let the VMM open KVM itself (same probe, same CPL0 workarounds as `ts-vmm run --backend kvm`).
    (sel.hypervisor as { close?: () => void }).close?.();
  } else {
    hypervisor = observeVcpus(sel.hypervisor, vcpus);
  }
  const config = resolveConfig({
    flags: {
      kernel,
      initrd,
      memoryMib: o.memoryMib,
      vcpus: o.vcpus,
      backend: sel.hypervisor.kind,
      cmdlineAppend: RUN_TRUE,
    },
  });
  let text = '';
  let readyMs = -1;
  let bootTimerMs: number | undefined;
  let instructionsAtReady: number | undefined;
  let tRun = 0;
  let runToReadyMs = -1;
  const t0 = performance.now();
  const vmm = await Vmm.create(config, {
    hypervisor,
    input: null,
    handleSignals: false,
    log: (line) => {
      const m = BOOT_TIMER_LINE.exec(line);
      if (m) bootTimerMs = Number(m[1]);
    },
    output: {
      write(chunk: Uint8Array) {
        text = (text + Buffer.from(chunk).toString('latin1')).slice(-4000);
        if (readyMs < 0 && text.includes(INIT_READY_MARKER)) {
          const now = performance.now();
          readyMs = now - t0;
          runToReadyMs = now - tRun;
          const counts = vcpus.map(instructionCount);
          if (counts.length && counts.every((n) => n !== undefined))
            instructionsAtReady = (counts as number[]).reduce((a, b) => a + b, 0);
        }
        return true;
      },
    },
  });
  const timer = setTimeout(() => vmm.stop('sigterm', 'benchmark timeout'), o.timeoutS * 1000);
  tRun = performance.now();
  const r = await vmm.run();
  clearTimeout(timer);
  const stats = vcpus[0] ? emulatorStats(vcpus[0]) : undefined;
  return {
    stats,
    backend: sel.hypervisor.kind,
    reason: sel.reason,
    hardwareKvm,
    chooseMs,
    readyMs,
    bootTimerMs,
    totalMs: performance.now() - t0,
    exitCode: r.exitCode,
    stopReason: r.detail ? `${r.reason}: ${r.detail}` : r.reason,
    instructions: instructionsAtReady,
    runToReadyMs,
    lastLines: text.trim().split('\n').slice(-3).join('\n'),
  };
}

/** Boots the same kernel and initramfs on QEMU; resolves with ms to the ready line (-1 if never). */
function bootQemu(
  kernel: string,
  initrd: string,
  cmdline: string,
  accel: 'kvm' | 'tcg',
  o: Options,
): Promise<{ readyMs: number; totalMs: number; lastLines: string }> {
  return new Promise((resolve, reject) => {
    const args = ['-accel', accel, '-m', String(o.memoryMib), '-smp', String(o.vcpus)];
    if (accel === 'kvm') args.push('-cpu', 'host');
    args.push('-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', cmdline);
    const t0 = performance.now();
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let readyMs = -1;
    const kill = setTimeout(() => q.kill('SIGKILL'), o.timeoutS * 1000);
    const onData = (d: Buffer) => {
      text = (text + d.toString('latin1')).slice(-4000);
      if (readyMs < 0 && text.includes(INIT_READY_MARKER)) readyMs = performance.now() - t0;
    };
    q.stdout.on('data', onData);
    q.stderr.on('data', onData);
    q.once('error', (e) => {
      clearTimeout(kill);
      reject(e);
    });
    q.once('exit', () => {
      clearTimeout(kill);
      resolve({
        readyMs,
        totalMs: performance.now() - t0,
        lastLines: text.trim().split('\n').slice(-3).join('\n'),
      });
    });
  });
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const guest = cachedGuest();
  if (!guest) throw new Error("the default guest is not built: run 'ts-vmm guest fetch' first");
  console.log(`kernel ${guest.kernel}\ninitrd ${guest.initrd}`);
  console.log(`guest: ${o.memoryMib} MiB, ${o.vcpus} vCPU(s), --backend ${o.backend}`);

  const vmm = await bootVmm(guest.kernel, guest.initrd, o);
  const label = `ts-vmm ${vmm.backend}`;
  console.log(`${label}: ${vmm.reason} (choice took ${vmm.chooseMs.toFixed(0)} ms)`);
  if (vmm.readyMs < 0) {
    console.log(`${label}: did not reach user space (${vmm.stopReason}); last lines:\n${vmm.lastLines}`);
    process.exitCode = 1;
  } else {
    const timer = vmm.bootTimerMs === undefined ? '' : `; boot timer ${s(vmm.bootTimerMs)}`;
    console.log(`${label}: user space after ${s(vmm.readyMs)}${timer}`);
  }
  console.log(`${label}: exit code ${vmm.exitCode} (${vmm.stopReason}) after ${s(vmm.totalMs)}`);
  if (vmm.instructions !== undefined && vmm.runToReadyMs > 0) {
    const mips = vmm.instructions / vmm.runToReadyMs / 1000;
    console.log(
      `${label}: ${(vmm.instructions / 1e6).toFixed(0)} M guest instructions to user space, ${mips.toFixed(2)} M instructions/s`,
    );
  }
  if (vmm.stats) {
    console.log(
      `${label}: TLB hit rate ${(vmm.stats.tlbHitRate * 100).toFixed(1)}%, decode-cache hit rate ${(vmm.stats.decodeHitRate * 100).toFixed(2)}%`,
    );
  }

  if (o.skipQemu) return;
  const accel = vmm.hardwareKvm ? 'kvm' : 'tcg';
  // The same command line the VMM's guest got, minus the boot-timer address QEMU has no device for.
  const cmdline = `${resolveConfig({}).cmdline} ${RUN_TRUE}`;
  let qemu: Awaited<ReturnType<typeof bootQemu>>;
  try {
    qemu = await bootQemu(guest.kernel, guest.initrd, cmdline, accel, o);
  } catch (e) {
    console.log(`qemu ${accel}: not run (${(e as Error).message})`);
    return;
  }
  if (qemu.readyMs < 0) {
    console.log(`qemu ${accel}: did not reach user space; last lines:\n${qemu.lastLines}`);
    return;
  }
  console.log(`qemu ${accel}: user space after ${s(qemu.readyMs)} (exit after ${s(qemu.totalMs)})`);
  if (vmm.readyMs > 0) {
    console.log(
      `ratio: ${label} / qemu ${accel} = ${(vmm.readyMs / qemu.readyMs).toFixed(2)}x (time to user space)`,
    );
  }
}

await main();
