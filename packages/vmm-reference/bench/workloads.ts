/**
 * User-space workloads benchmark: busybox programs in the default guest (Debian cloud kernel +
 * busybox initramfs) on the reference {@link Vmm}'s emulated backend, against
 * `qemu-system-x86_64 -accel tcg` running the same kernel, initramfs and script in the same run.
 *
 * One boot per backend runs every workload in sequence: the guest's `/init` runs a shell script
 * (`tsvmm.run=`, see `runParameter`) that, for each workload, prepares its input outside the timed
 * part, prints `@@start NAME` on the console, runs the workload, prints `@@end NAME`, then prints
 * `@@result NAME VALUE` (a count or a checksum of the workload's output, checked against the value
 * computed here). The time of a workload is the host's time between the two marker lines arriving
 * on the console, so the boot is not counted and the guest's clock is not trusted. The workloads
 * (issue 17):
 *
 * - `loop`: a busybox shell loop, `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`
 * - `md5sum`: `md5sum` of a 32 MiB file in the guest's tmpfs (zeros, so the sum can be checked)
 * - `gzip`: `gzip` (level 6) of 4 MiB from `/dev/urandom` (checked by decompressing and comparing)
 * - `sort`: `sort` of 200,000 lines (`seq 200000 | shuf`; the sorted output's md5 is checked)
 * - `awk`: an `awk` sum over 300,000 lines (`seq 300000`)
 * - `fork-exec`: 400 fork+exec of `/bin/true` from the shell (a path, so ash really execs it)
 *
 * It prints a table of seconds per workload on each backend, their ratio, the geometric mean of
 * the ratios, and the issue's targets beside them (each workload within 2x of QEMU TCG, the
 * geometric mean within 1.5x): printed, never asserted. The emulator's guest instructions and
 * M instructions/s per workload are printed where its vCPUs expose a counter (duck-typed). A
 * workload whose result is wrong is reported as WRONG and left out of the ratios, and the bench
 * exits with code 1.
 *
 *   pnpm --filter @ts-vmm/vmm-reference bench:workloads [--memory MIB] [--repeat N]
 *     [--only NAME[,NAME...]] [--skip-qemu] [--timeout S] [--print-script]
 *
 * `--repeat N` runs the whole thing (both boots) N times and prints min-max ranges; the ratios
 * are of the fastest runs. `--only` may be given more than once. `--print-script` prints the guest
 * script and exits. Needs the default guest
 * (`ts-vmm guest fetch`) and, for the comparison, qemu-system-x86_64 (Debian: `qemu-system-x86`).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Hypervisor, Vcpu, Vm, VmOptions } from '@ts-vmm/hypervisor';
import { resolveConfig } from '../src/config/resolve.js';
import { parseMemoryMib } from '../src/config/values.js';
import { cachedGuest } from '../src/guest/cache.js';
import { INIT_READY_MARKER, runParameter } from '../src/guest/init-script.js';
import { chooseBackend } from '../src/vmm/backend.js';
import { Vmm } from '../src/vmm/vmm.js';

/** One workload: shell text for its untimed setup, its timed part, and its result line. */
interface Workload {
  name: string;
  /** What the table says it is. */
  what: string;
  /** Untimed: prepares the input (files under /tmp). */
  setup: string;
  /** Timed, between the markers. */
  run: string;
  /** Untimed: a shell expression whose output is the result (after `@@result NAME `). */
  result: string;
  /** The result a correct run prints. */
  expected: () => string;
}

const MD5_BYTES = 32 * 1024 * 1024;
const GZIP_BYTES = 4 * 1024 * 1024;
const SORT_LINES = 200_000;
const AWK_LINES = 300_000;
const LOOP_ITERATIONS = 200_000;
const EXECS = 400;

const md5 = (data: string | Uint8Array) => createHash('md5').update(data).digest('hex');
const numberLines = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

const WORKLOADS: readonly Workload[] = [
  {
    name: 'loop',
    what: `busybox sh loop, ${LOOP_ITERATIONS} iterations`,
    setup: '',
    run: `i=0;while [ $i -lt ${LOOP_ITERATIONS} ];do i=$((i+1));done`,
    result: '$i',
    expected: () => String(LOOP_ITERATIONS),
  },
  {
    name: 'md5sum',
    what: 'md5sum of 32 MiB',
    setup: `dd if=/dev/zero of=/tmp/m bs=1M count=${MD5_BYTES >> 20} 2>/dev/null`,
    run: 'md5sum /tmp/m>/tmp/o',
    result: "$(cut -d' ' -f1 /tmp/o)",
    expected: () => md5(new Uint8Array(MD5_BYTES)),
  },
  {
    name: 'gzip',
    what: 'gzip of 4 MiB of random data',
    setup: `dd if=/dev/urandom of=/tmp/g bs=1M count=${GZIP_BYTES >> 20} 2>/dev/null`,
    run: 'gzip -c /tmp/g>/tmp/o',
    // Round trip outside the timed part: the input is random, so only a comparison can check it.
    result: '$(gzip -dc /tmp/o|cmp -s - /tmp/g&&echo ok) $(wc -c</tmp/g)',
    expected: () => `ok ${GZIP_BYTES}`,
  },
  {
    name: 'sort',
    what: `sort of ${SORT_LINES} lines`,
    setup: `seq ${SORT_LINES}|shuf >/tmp/s`,
    run: 'sort /tmp/s>/tmp/o',
    // A permutation of 1..N sorts (bytewise, busybox's C locale) to the same output whatever the shuffle.
    result: "$(md5sum</tmp/o|cut -d' ' -f1)",
    expected: () => md5(`${numberLines(SORT_LINES).sort().join('\n')}\n`),
  },
  {
    name: 'awk',
    what: `awk sum over ${AWK_LINES} lines`,
    setup: `seq ${AWK_LINES} >/tmp/a`,
    run: `awk '{s+=$1}END{printf "%.0f\\n",s}' /tmp/a>/tmp/o`,
    result: '$(cat /tmp/o)',
    expected: () => String((AWK_LINES * (AWK_LINES + 1)) / 2),
  },
  {
    name: 'fork-exec',
    what: `${EXECS} fork+exec of /bin/true`,
    setup: '',
    run: `n=0;j=0;while [ $j -lt ${EXECS} ];do /bin/true&&n=$((n+1));j=$((j+1));done`,
    result: '$n',
    expected: () => String(EXECS),
  },
];

/**
 * The guest script: each workload's setup, markers around its timed part, its result line, and
 * its files removed. Kept terse: it travels base64-encoded on the kernel command line (2048 bytes).
 */
function guestScript(workloads: readonly Workload[]): string {
  const lines = ['m(){ echo "@@$*";}'];
  for (const w of workloads) {
    if (w.setup) lines.push(w.setup);
    lines.push(`m start ${w.name}`, w.run, `m end ${w.name}`, `m result ${w.name} "${w.result}"`);
    lines.push('rm -f /tmp/?');
  }
  lines.push('true');
  return `${lines.join('\n')}\n`;
}

/** Kernel command lines longer than this are cut by x86 Linux (COMMAND_LINE_SIZE). */
const MAX_CMDLINE = 2047;

interface Options {
  memoryMib: number;
  repeat: number;
  only: string[];
  skipQemu: boolean;
  timeoutS: number;
  printScript: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    memoryMib: 512,
    repeat: 1,
    only: [],
    skipQemu: false,
    timeoutS: 1800,
    printScript: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--') continue;
    else if (a === '--memory') o.memoryMib = parseMemoryMib(value());
    else if (a === '--skip-qemu') o.skipQemu = true;
    else if (a === '--print-script') o.printScript = true;
    else if (a === '--repeat') {
      const v = value();
      o.repeat = Number(v);
      if (!Number.isInteger(o.repeat) || o.repeat < 1)
        throw new Error(`--repeat ${JSON.stringify(v)} is not a positive integer`);
    } else if (a === '--only') {
      for (const name of value().split(',')) {
        if (!WORKLOADS.some((w) => w.name === name))
          throw new Error(
            `--only: unknown workload ${JSON.stringify(name)} (workloads: ${WORKLOADS.map((w) => w.name).join(', ')})`,
          );
        if (!o.only.includes(name)) o.only.push(name);
      }
    } else if (a === '--timeout') {
      const v = value();
      o.timeoutS = Number(v);
      if (!(o.timeoutS > 0)) throw new Error(`--timeout ${JSON.stringify(v)} is not a positive number`);
    } else throw new Error(`unknown argument ${JSON.stringify(a)}`);
  }
  return o;
}

/** The emulator's per-vCPU instruction counter, when the backend has one (duck-typed). */
function instructionCount(v: Vcpu): number | undefined {
  const n = (v as { cpu?: { icount?: unknown } }).cpu?.icount;
  return typeof n === 'number' ? n : undefined;
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

/** What one workload measured in one boot. */
interface Measured {
  ms: number;
  /** Guest instructions between the markers (emulator only). */
  instructions: number | undefined;
  result: string | undefined;
}

/** Watches console output for the marker lines and timestamps them as they arrive. */
class MarkerWatcher {
  readonly measured = new Map<string, Measured>();
  readyMs = -1;
  private pending = '';
  private tail = '';
  private starts = new Map<string, { t: number; instructions: number | undefined }>();

  constructor(
    private readonly t0: number,
    private readonly count: () => number | undefined,
    private readonly onEnd: (name: string, m: Measured) => void,
  ) {}

  feed(chunk: string): void {
    const now = performance.now();
    this.tail = (this.tail + chunk).slice(-4000);
    this.pending += chunk;
    let nl = this.pending.indexOf('\n');
    while (nl >= 0) {
      this.line(this.pending.slice(0, nl).replace(/\r/g, ''), now);
      this.pending = this.pending.slice(nl + 1);
      nl = this.pending.indexOf('\n');
    }
  }

  lastLines(): string {
    return this.tail.trim().split('\n').slice(-5).join('\n');
  }

  private line(line: string, now: number): void {
    if (this.readyMs < 0 && line.includes(INIT_READY_MARKER)) this.readyMs = now - this.t0;
    const m = /@@(start|end|result) ([\w-]+)(?: (.*))?/.exec(line);
    if (!m) return;
    const [, kind, name, rest] = m;
    if (kind === 'start') this.starts.set(name, { t: now, instructions: this.count() });
    else if (kind === 'end') {
      const s = this.starts.get(name);
      if (!s) return;
      const n = this.count();
      this.measured.set(name, {
        ms: now - s.t,
        instructions: n !== undefined && s.instructions !== undefined ? n - s.instructions : undefined,
        result: undefined,
      });
    } else {
      const r = this.measured.get(name);
      if (!r) return;
      r.result = (rest ?? '').trim().replace(/\s+/g, ' ');
      this.onEnd(name, r);
    }
  }
}

interface BootResult {
  measured: Map<string, Measured>;
  readyMs: number;
  totalMs: number;
  /** How the run ended (exit code and reason). */
  ending: string;
  lastLines: string;
}

function progress(label: string, workloads: readonly Workload[]) {
  return (name: string, m: Measured) => {
    const w = workloads.find((x) => x.name === name);
    const ok = w && m.result === w.expected() ? 'ok' : `WRONG (${JSON.stringify(m.result)})`;
    const mips =
      m.instructions !== undefined
        ? `, ${(m.instructions / 1e6).toFixed(0)} M instructions, ${(m.instructions / m.ms / 1000).toFixed(1)} M/s`
        : '';
    console.log(`  ${label} ${name}: ${(m.ms / 1000).toFixed(2)} s, result ${ok}${mips}`);
  };
}

async function runVmm(kernel: string, initrd: string, script: string, o: Options, ws: readonly Workload[]) {
  const sel = await chooseBackend('emulated');
  const vcpus: Vcpu[] = [];
  const hypervisor = observeVcpus(sel.hypervisor, vcpus);
  const config = resolveConfig({
    flags: {
      kernel,
      initrd,
      memoryMib: o.memoryMib,
      vcpus: 1,
      backend: 'emulated',
      cmdlineAppend: runParameter(script),
    },
  });
  const count = () => {
    const c = vcpus.map(instructionCount);
    return c.length && c.every((n) => n !== undefined)
      ? (c as number[]).reduce((a, b) => a + b, 0)
      : undefined;
  };
  const t0 = performance.now();
  const watcher = new MarkerWatcher(t0, count, progress('ts-vmm', ws));
  const vmm = await Vmm.create(config, {
    hypervisor,
    input: null,
    handleSignals: false,
    output: {
      write(chunk: Uint8Array) {
        watcher.feed(Buffer.from(chunk).toString('latin1'));
        return true;
      },
    },
  });
  if (vmm.cmdline !== undefined && vmm.cmdline.length > MAX_CMDLINE)
    throw new Error(
      `the guest command line is ${vmm.cmdline.length} bytes, over Linux's ${MAX_CMDLINE}: pick fewer workloads with --only`,
    );
  const timer = setTimeout(() => vmm.stop('sigterm', 'benchmark timeout'), o.timeoutS * 1000);
  const r = await vmm.run();
  clearTimeout(timer);
  return {
    measured: watcher.measured,
    readyMs: watcher.readyMs,
    totalMs: performance.now() - t0,
    ending: `exit code ${r.exitCode} (${r.detail ? `${r.reason}: ${r.detail}` : r.reason})`,
    lastLines: watcher.lastLines(),
  } satisfies BootResult;
}

function runQemu(
  kernel: string,
  initrd: string,
  script: string,
  o: Options,
  ws: readonly Workload[],
): Promise<BootResult> {
  // The VMM's base command line, minus the device parameters QEMU has no devices for.
  const cmdline = `${resolveConfig({}).cmdline} ${runParameter(script)}`;
  if (cmdline.length > MAX_CMDLINE)
    throw new Error(`the QEMU command line is ${cmdline.length} bytes, over Linux's ${MAX_CMDLINE}`);
  return new Promise((resolve, reject) => {
    const args = ['-accel', 'tcg', '-m', String(o.memoryMib), '-smp', '1', '-nographic', '-no-reboot'];
    args.push('-kernel', kernel, '-initrd', initrd, '-append', cmdline);
    const t0 = performance.now();
    const watcher = new MarkerWatcher(t0, () => undefined, progress('qemu', ws));
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = setTimeout(() => q.kill('SIGKILL'), o.timeoutS * 1000);
    q.stdout.on('data', (d: Buffer) => watcher.feed(d.toString('latin1')));
    q.stderr.on('data', (d: Buffer) => watcher.feed(d.toString('latin1')));
    q.once('error', (e) => {
      clearTimeout(kill);
      reject(e);
    });
    q.once('exit', (code, signal) => {
      clearTimeout(kill);
      resolve({
        measured: watcher.measured,
        readyMs: watcher.readyMs,
        totalMs: performance.now() - t0,
        ending: signal ? `killed by ${signal}` : `exit code ${code}`,
        lastLines: watcher.lastLines(),
      });
    });
  });
}

/** Per workload and backend: seconds of each correct run, and whether any run was wrong. */
interface Tally {
  seconds: number[];
  instructions: number[];
  mips: number[];
  wrong: number;
  missing: number;
}

function tally(): Tally {
  return { seconds: [], instructions: [], mips: [], wrong: 0, missing: 0 };
}

function record(t: Tally, w: Workload, r: BootResult): void {
  const m = r.measured.get(w.name);
  if (!m || m.result === undefined) t.missing++;
  else if (m.result !== w.expected()) t.wrong++;
  else {
    t.seconds.push(m.ms / 1000);
    if (m.instructions !== undefined) {
      t.instructions.push(m.instructions);
      t.mips.push(m.instructions / m.ms / 1000);
    }
  }
}

const min = (a: number[]) => Math.min(...a);
const max = (a: number[]) => Math.max(...a);
function range(a: number[], digits: number): string {
  if (a.length === 0) return '-';
  const lo = min(a).toFixed(digits);
  const hi = max(a).toFixed(digits);
  return lo === hi ? lo : `${lo}-${hi}`;
}
function cell(t: Tally, digits: number): string {
  if (t.wrong) return `WRONG x${t.wrong}`;
  if (t.missing && t.seconds.length === 0) return 'no result';
  return range(t.seconds, digits) + (t.missing ? ` (${t.missing} missing)` : '');
}

function reportBoot(label: string, r: BootResult): void {
  const ready =
    r.readyMs < 0 ? 'never reached user space' : `user space after ${(r.readyMs / 1000).toFixed(2)} s`;
  console.log(`${label}: ${ready}; ${r.ending} after ${(r.totalMs / 1000).toFixed(2)} s`);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const ws = o.only.length ? WORKLOADS.filter((w) => o.only.includes(w.name)) : WORKLOADS;
  const guest = cachedGuest();
  if (!guest) throw new Error("the default guest is not built: run 'ts-vmm guest fetch' first");
  const script = guestScript(ws);
  if (o.printScript) {
    process.stdout.write(script);
    return;
  }
  console.log(`kernel ${guest.kernel}\ninitrd ${guest.initrd}`);
  console.log(
    `guest: ${o.memoryMib} MiB, 1 vCPU; workloads: ${ws.map((w) => w.name).join(', ')}; ${o.repeat} run(s)`,
  );
  const vmmT = new Map(ws.map((w) => [w.name, tally()]));
  const qemuT = new Map(ws.map((w) => [w.name, tally()]));
  let qemuSkipped = o.skipQemu ? 'skipped (--skip-qemu)' : '';
  for (let run = 1; run <= o.repeat; run++) {
    if (o.repeat > 1) console.log(`run ${run} of ${o.repeat}`);
    const vr = await runVmm(guest.kernel, guest.initrd, script, o, ws);
    reportBoot('ts-vmm emulated', vr);
    if (vr.measured.size < ws.length) console.log(`ts-vmm: last lines:\n${vr.lastLines}`);
    for (const w of ws) record(vmmT.get(w.name) as Tally, w, vr);
    if (qemuSkipped) continue;
    let qr: BootResult;
    try {
      qr = await runQemu(guest.kernel, guest.initrd, script, o, ws);
    } catch (e) {
      qemuSkipped = `not run (${(e as Error).message}; Debian: apt-get install qemu-system-x86)`;
      console.log(`qemu tcg: ${qemuSkipped}`);
      continue;
    }
    reportBoot('qemu tcg', qr);
    if (qr.measured.size < ws.length) console.log(`qemu: last lines:\n${qr.lastLines}`);
    for (const w of ws) record(qemuT.get(w.name) as Tally, w, qr);
  }

  console.log('');
  const rows: string[][] = [
    ['workload', 'ts-vmm s', 'qemu tcg s', 'ratio', 'within 2x', 'M insns', 'M insns/s'],
  ];
  const ratios: number[] = [];
  for (const w of ws) {
    const v = vmmT.get(w.name) as Tally;
    const q = qemuT.get(w.name) as Tally;
    let ratio = '-';
    let within = '-';
    if (!v.wrong && !q.wrong && v.seconds.length && q.seconds.length) {
      const r = min(v.seconds) / min(q.seconds);
      ratios.push(r);
      ratio = `${r.toFixed(2)}x`;
      within = r <= 2 ? 'yes' : 'no';
    }
    rows.push([
      w.name,
      cell(v, 2),
      qemuSkipped ? '-' : cell(q, 2),
      ratio,
      within,
      range(
        v.instructions.map((n) => n / 1e6),
        0,
      ),
      range(v.mips, 1),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows)
    console.log(r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  '));
  if (qemuSkipped) console.log(`qemu tcg: ${qemuSkipped}`);
  else if (ratios.length) {
    const gm = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
    const within = ratios.filter((r) => r <= 2).length;
    console.log(
      `geometric mean of the ratios (${ratios.length} workloads): ${gm.toFixed(2)}x (target: within 1.5x: ${gm <= 1.5 ? 'met' : 'missed'})`,
    );
    console.log(`workloads within 2x of QEMU TCG (target: all): ${within} of ${ratios.length}`);
    if (o.repeat > 1) console.log('(ratios are of the fastest run of each side)');
  }
  for (const w of ws) console.log(`  ${w.name}: ${w.what}`);
  const bad = [...vmmT.values(), ...qemuT.values()].some((t) => t.wrong || t.missing);
  if (bad) {
    console.log('some workloads gave a wrong result or none: their times are not reported');
    process.exitCode = 1;
  }
}

await main();
