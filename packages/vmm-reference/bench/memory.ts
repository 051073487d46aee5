/**
 * Resident memory of the VMM process beyond the guest memory it has touched, for the same boot of
 * the default guest (Debian cloud kernel + initramfs, `/init` runs `true` and powers off) on the
 * reference VMM's emulated backend and on QEMU TCG (`qemu-system-x86_64 -accel tcg`), side by side.
 * Boot time is measured by `bench/boot.ts` (`pnpm bench:boot`); this measures memory only.
 *
 * Both VMMs run as child processes of this one, each sampled the same way: `/proc/<pid>/smaps` every
 * 100 ms (the sampling itself allocates nothing in the measured process). Guest RAM is the mapping
 * whose size is the configured memory (the SharedArrayBuffer there, QEMU's RAM block here);
 * "overhead" is VmRSS minus that mapping's Rss, at the sample where VmRSS peaked, split by kind of
 * mapping: anonymous read-write (for ts-vmm, V8's heap pages and malloc), anonymous executable (V8's
 * code space; QEMU's TCG translation buffer), and file-backed (the executables and libraries). The
 * ts-vmm child also reports V8's own account (heap used/total by space, code, external memory) at
 * its peak and after the boot, and its decode-cache counters. Ratios are against QEMU's overhead
 * measured in the same run; nothing here is a timed assertion.
 *
 *   pnpm --filter @ts-vmm/vmm-reference bench:memory [--memory MIB] [--skip-qemu] [--top]
 *     [--node-flags "--max-semi-space-size=4 ..."]   (V8/Node flags for the ts-vmm child, to compare)
 *
 * `--top` lists each process's biggest mappings at its peak. Flags given with `--node-flags` are what a
 * user gets with `NODE_OPTIONS` (for instance `--max-semi-space-size=4`: V8's young generation
 * otherwise commits 32 MiB for a few MiB in use, and cannot be resized once the process runs).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { resolveConfig } from '../src/config/resolve.js';
import { runParameter } from '../src/guest/init-script.js';
import { Vmm } from '../src/vmm/vmm.js';

const READY = 'ts-vmm-init: ready';
const BASE_CMDLINE = 'console=ttyS0 reboot=k panic=1 pci=off';
const RESULT = 'bench-memory-result ';

/** One smaps sample of a process, in KiB. */
interface Sample {
  rssKib: number;
  guestKib: number;
  /** Anonymous read-write mappings other than guest RAM: V8 heap pages, malloc arenas, stacks. */
  anonKib: number;
  /** Anonymous executable mappings: V8 code space, QEMU's TCG buffer. */
  execKib: number;
  /** File-backed mappings: the executable, shared libraries, mapped files. */
  fileKib: number;
  /** Anonymous mappings of exactly 256 KiB (V8's regular heap pages) and how many. */
  v8PagesKib: number;
  v8Pages: number;
  mappings: number;
  /** The biggest mappings by Rss (`--top`): smaps header line and Rss in KiB. */
  top: { map: string; rssKib: number }[];
}

/** Reads `/proc/<pid>/smaps` once; the guest mapping is the one closest in size to `guestKib` (within 5%). */
function sample(pid: number, guestKib: number): Sample | undefined {
  let smaps: string;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const maps: { map: string; size: number; rss: number; perms: string; file: boolean }[] = [];
  let cur: (typeof maps)[number] | undefined;
  for (const line of smaps.split('\n')) {
    const h = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (h) {
      // inode 0 and no path, or a bracketed pseudo-path ([heap], [stack]): anonymous
      cur = { map: line.replace(/\s+/g, ' ').trim(), size: 0, rss: 0, perms: h[1], file: h[2] !== '0' };
      maps.push(cur);
    } else if (cur && line.startsWith('Size:')) cur.size = Number(line.split(/\s+/)[1]);
    else if (cur && line.startsWith('Rss:')) cur.rss = Number(line.split(/\s+/)[1]);
  }
  let guest: (typeof maps)[number] | undefined;
  for (const m of maps) {
    const diff = Math.abs(m.size - guestKib);
    if (!m.file && diff <= guestKib * 0.05 && (!guest || diff < Math.abs(guest.size - guestKib))) guest = m;
  }
  const s: Sample = {
    rssKib: 0,
    guestKib: guest?.rss ?? 0,
    anonKib: 0,
    execKib: 0,
    fileKib: 0,
    v8PagesKib: 0,
    v8Pages: 0,
    mappings: maps.length,
    top: [],
  };
  for (const m of maps) {
    s.rssKib += m.rss;
    if (m === guest) continue;
    if (m.file) s.fileKib += m.rss;
    else if (m.perms.includes('x')) s.execKib += m.rss;
    else s.anonKib += m.rss;
    if (!m.file && m.size === 256 && m.perms.startsWith('rw')) {
      s.v8PagesKib += m.rss;
      s.v8Pages++;
    }
  }
  const sorted = [...maps].sort((a, b) => b.rss - a.rss);
  const rest = sorted.slice(8);
  s.top = [
    ...sorted.slice(0, 8).map((m) => ({ map: `${m.map} (size ${m.size} KiB)`, rssKib: m.rss })),
    { map: `${rest.length} other mappings`, rssKib: rest.reduce((n, m) => n + m.rss, 0) },
  ];
  return s;
}

/** Samples `pid` every 100 ms until stopped; keeps the sample with the highest VmRSS. */
function sampler(pid: number, guestKib: number): { stop(): Sample | undefined } {
  let peak: Sample | undefined;
  const take = () => {
    const s = sample(pid, guestKib);
    if (s && (!peak || s.rssKib > peak.rssKib)) peak = s;
  };
  const t = setInterval(take, 100);
  return {
    stop() {
      take();
      clearInterval(t);
      return peak;
    },
  };
}

function guestFiles(): { kernel: string; initrd: string } {
  const cache = process.env.TS_VMM_CACHE ?? join(homedir(), '.cache', 'ts-vmm');
  const desc = join(cache, 'guest', 'guest.json');
  if (!existsSync(desc)) throw new Error(`${desc} is missing: run 'ts-vmm guest fetch' first`);
  return JSON.parse(readFileSync(desc, 'utf8')) as { kernel: string; initrd: string };
}

/** V8's account of the ts-vmm process, in bytes. */
interface HeapAccount {
  used: number;
  total: number;
  physical: number;
  external: number;
  arrayBuffers: number;
  /** Committed size of each space (new, old, code, large object, ...). */
  spaces: Record<string, { size: number; used: number }>;
  /** Machine code and metadata (compiled functions, including the compiled guest blocks). */
  code: number;
}

function heapAccount(): HeapAccount {
  const h = v8.getHeapStatistics();
  const spaces: HeapAccount['spaces'] = {};
  for (const s of v8.getHeapSpaceStatistics())
    if (s.space_size > 0)
      spaces[s.space_name.replace(/_space$/, '')] = { size: s.space_size, used: s.space_used_size };
  return {
    used: h.used_heap_size,
    total: h.total_heap_size,
    physical: h.total_physical_size,
    external: h.external_memory,
    arrayBuffers: process.memoryUsage().arrayBuffers,
    spaces,
    code: v8.getHeapCodeStatistics().code_and_metadata_size,
  };
}

/** What the ts-vmm child reports when its boot ends. */
interface ChildReport {
  exitCode: number;
  reason: string;
  ready: boolean;
  tail: string;
  /** V8's account at the sample where its committed heap peaked, and after the boot. */
  peak: HeapAccount;
  end: HeapAccount;
  /** The emulator's decode cache and block compiler, when reachable. */
  cpu?: { compiledBlocks: number; decodes: number; evictions: number; instructions: number };
}

/** The emulated CPU as far as this bench reads it. */
interface CpuPeek {
  compiledBlocks: number;
  icount: number;
  blocks: { misses: number; evictions?: number };
}

/** The emulated CPU of the VMM's first inline vCPU while it runs (a bench-only peek at internals). */
function peekCpu(vmm: Vmm): CpuPeek | undefined {
  const vcpus = (vmm as unknown as { inlineVcpus?: { cpu?: unknown }[] }).inlineVcpus;
  return vcpus?.[0]?.cpu as CpuPeek | undefined;
}

function cpuCounters(cpu: CpuPeek | undefined): ChildReport['cpu'] {
  if (!cpu) return undefined;
  return {
    compiledBlocks: cpu.compiledBlocks,
    decodes: cpu.blocks.misses,
    evictions: cpu.blocks.evictions ?? -1,
    instructions: cpu.icount,
  };
}

/** Child side: boots the guest in this process and prints one result line. */
async function child(memoryMib: number): Promise<void> {
  const g = guestFiles();
  const config = resolveConfig({
    flags: {
      kernel: g.kernel,
      initrd: g.initrd,
      memoryMib,
      backend: 'emulated',
      cmdline: BASE_CMDLINE,
      cmdlineAppend: runParameter('true'),
    },
  });
  let text = '';
  let peak = heapAccount();
  let cpu: CpuPeek | undefined;
  let vmm: Vmm | undefined;
  const t = setInterval(() => {
    if (vmm) cpu ??= peekCpu(vmm);
    const a = heapAccount();
    if (a.physical > peak.physical) peak = a;
  }, 100);
  vmm = await Vmm.create(config, {
    input: null,
    handleSignals: false,
    log: () => {},
    output: {
      write(chunk: Uint8Array) {
        text = (text + Buffer.from(chunk).toString('latin1')).slice(-8000);
        return true;
      },
    },
  });
  const r = await vmm.run();
  clearInterval(t);
  const end = heapAccount();
  if (end.physical > peak.physical) peak = end;
  const report: ChildReport = {
    exitCode: r.exitCode,
    reason: r.reason,
    ready: text.includes(READY),
    tail: text.slice(-400),
    peak,
    end,
    cpu: cpuCounters(cpu),
  };
  process.stdout.write(`${RESULT}${JSON.stringify(report)}\n`);
}

/** Runs `cmd args` to its end, sampling its memory; `out` collects its stdout. */
function measure(
  cmd: string,
  args: string[],
  memoryMib: number,
): Promise<{ peak: Sample | undefined; out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const s = p.pid ? sampler(p.pid, memoryMib * 1024) : undefined;
    const kill = setTimeout(() => p.kill('SIGKILL'), 600_000);
    p.stdout.on('data', (d: Buffer) => {
      out = (out + d.toString('latin1')).slice(-64_000);
    });
    p.on('error', (e) => {
      clearTimeout(kill);
      s?.stop();
      reject(e);
    });
    // smaps is gone once the process exits: the last sample is taken on 'exit', the text on 'close'
    let peak: Sample | undefined;
    p.on('exit', () => {
      clearTimeout(kill);
      peak = s?.stop();
    });
    p.on('close', (code) => resolve({ peak, out, code }));
  });
}

const mib = (kib: number) => (kib / 1024).toFixed(1);
const mibB = (bytes: number) => (bytes / 1048576).toFixed(1);

function row(label: string, a: string, b = '', note = ''): void {
  console.log(`  ${label.padEnd(44)}${a.padStart(10)}${b.padStart(12)}${note ? `   ${note}` : ''}`);
}

async function main() {
  const argv = process.argv.slice(2);
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const memoryMib = Number(opt('--memory') ?? 512);
  if (argv.includes('--child')) return child(memoryMib);
  const g = guestFiles();
  const nodeFlags = (opt('--node-flags') ?? '').split(/\s+/).filter(Boolean);
  const self = fileURLToPath(import.meta.url);
  const ts = await measure(
    process.execPath,
    [...process.execArgv, ...nodeFlags, self, '--child', '--memory', String(memoryMib)],
    memoryMib,
  );
  const line = ts.out.split('\n').find((l) => l.startsWith(RESULT));
  if (!line || !ts.peak)
    throw new Error(`the ts-vmm child reported nothing (exit ${ts.code}): ${ts.out.slice(-400)}`);
  const rep = JSON.parse(line.slice(RESULT.length)) as ChildReport;
  if (rep.exitCode !== 0)
    throw new Error(`ts-vmm boot ended with ${rep.reason} (${rep.exitCode}): ${rep.tail}`);

  let q: Sample | undefined;
  let qReady = false;
  let qNote = '';
  if (!argv.includes('--skip-qemu')) {
    const args = ['-accel', 'tcg', '-m', String(memoryMib), '-nographic', '-no-reboot'];
    args.push('-kernel', g.kernel, '-initrd', g.initrd, '-append', `${BASE_CMDLINE} ${runParameter('true')}`);
    try {
      const r = await measure('qemu-system-x86_64', args, memoryMib);
      q = r.peak;
      qReady = r.out.includes(READY);
    } catch (e) {
      qNote = (e as Error).message;
    }
  }

  const t = ts.peak;
  const over = (s: Sample) => s.rssKib - s.guestKib;
  const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}x` : '');
  console.log(
    `Boot of the default guest to /init and poweroff, ${memoryMib} MiB guest${nodeFlags.length ? `; ts-vmm node flags: ${nodeFlags.join(' ')}` : ''}`,
  );
  console.log(`Peak resident memory (MiB, at each process's VmRSS peak):`);
  row('', 'ts-vmm', 'qemu tcg', 'ts-vmm / qemu');
  row('VmRSS', mib(t.rssKib), q ? mib(q.rssKib) : '-');
  row('guest RAM touched', mib(t.guestKib), q ? mib(q.guestKib) : '-');
  row('VMM overhead (VmRSS - guest RAM)', mib(over(t)), q ? mib(over(q)) : '-', ratio(over(t), q && over(q)));
  row(
    '  anonymous rw (V8 heap pages, malloc, stacks)',
    mib(t.anonKib),
    q ? mib(q.anonKib) : '-',
    ratio(t.anonKib, q?.anonKib),
  );
  row('    of which 256 KiB pages (V8 heap)', `${mib(t.v8PagesKib)}`, '', `${t.v8Pages} pages`);
  row(
    '  anonymous exec (V8 code space / TCG buffer)',
    mib(t.execKib),
    q ? mib(q.execKib) : '-',
    ratio(t.execKib, q?.execKib),
  );
  row(
    '  file-backed (executable, libraries)',
    mib(t.fileKib),
    q ? mib(q.fileKib) : '-',
    ratio(t.fileKib, q?.fileKib),
  );
  row('mappings', String(t.mappings), q ? String(q.mappings) : '-');
  if (!rep.ready) console.log('  (ts-vmm: no ready line!)');
  if (q && !qReady) console.log('  (qemu: no ready line!)');
  if (qNote) console.log(`  qemu tcg: not run (${qNote})`);

  console.log(`V8 inside ts-vmm (MiB):`);
  row('', 'at peak', 'after boot');
  row('heap used', mibB(rep.peak.used), mibB(rep.end.used));
  row(
    'heap committed (total)',
    mibB(rep.peak.total),
    mibB(rep.end.total),
    `used/committed ${ratio(rep.peak.used, rep.peak.total)} at peak`,
  );
  for (const name of Object.keys({ ...rep.peak.spaces, ...rep.end.spaces })) {
    const a = rep.peak.spaces[name];
    const b = rep.end.spaces[name];
    const f = (x?: { size: number; used: number }) => (x ? `${mibB(x.used)}/${mibB(x.size)}` : '-');
    row(`  ${name} space (used/committed)`, f(a), f(b));
  }
  row('code and metadata', mibB(rep.peak.code), mibB(rep.end.code));
  row('external (off-heap memory V8 accounts for)', mibB(rep.peak.external), mibB(rep.end.external));
  if (rep.cpu) {
    const c = rep.cpu;
    console.log(
      `Emulator: ${(c.instructions / 1e6).toFixed(0)}M guest instructions, ${c.decodes} blocks decoded, ${c.evictions} evicted from the decode cache, ${c.compiledBlocks} compiled`,
    );
  }
  if (argv.includes('--top')) {
    for (const [name, s] of [
      ['ts-vmm', t],
      ['qemu tcg', q],
    ] as const) {
      if (!s) continue;
      console.log(`${name}: biggest mappings at peak`);
      for (const m of s.top) console.log(`    ${mib(m.rssKib).padStart(7)} MiB  ${m.map}`);
    }
  }
}

await main();
