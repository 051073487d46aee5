/**
 * Resident memory of the VMM process beyond the guest memory it has touched, for the same boot of
 * the default guest (Debian cloud kernel + initramfs, `/init` runs `true` and powers off) on the
 * reference VMM's emulated backend (in this process) and on QEMU TCG (`qemu-system-x86_64 -accel
 * tcg`). Boot time is measured by `packages/x86-emulator/src/backend/bench/boot.ts`; this measures
 * memory only.
 *
 * Each process's `/proc/<pid>/smaps` is sampled every 100 ms; guest RAM is the mapping whose size is
 * the configured memory (the SharedArrayBuffer here, QEMU's RAM block there), and "overhead" is
 * VmRSS minus that mapping's Rss, at the sample where VmRSS peaked. Results print in MiB and as a
 * ratio against QEMU's overhead measured in the same run.
 *
 *   pnpm --filter @ts-vmm/vmm-reference bench:memory [--memory MIB] [--skip-qemu] [--top]
 *
 * `--top` lists each process's biggest mappings at its peak.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../src/config/resolve.js';
import { runParameter } from '../src/guest/init-script.js';
import { Vmm } from '../src/vmm/vmm.js';

const READY = 'ts-vmm-init: ready';
const BASE_CMDLINE = 'console=ttyS0 reboot=k panic=1 pci=off';

interface Sample {
  rssKib: number;
  guestKib: number;
  /** The biggest mappings by Rss (`--top`): smaps header line and Rss in KiB. */
  top?: { map: string; rssKib: number }[];
}

/** VmRSS of `pid` and the Rss of its mapping closest in size to the guest RAM (within 5%, else 0). */
function sample(pid: number, guestKib: number): Sample | undefined {
  let smaps: string;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  let rssKib = 0;
  let best = { diff: Number.POSITIVE_INFINITY, rss: 0 };
  let size = 0;
  let header = '';
  const maps: { map: string; rssKib: number }[] = [];
  for (const line of smaps.split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) header = line;
    else if (line.startsWith('Size:')) size = Number(line.split(/\s+/)[1]);
    else if (line.startsWith('Rss:')) {
      const rss = Number(line.split(/\s+/)[1]);
      rssKib += rss;
      maps.push({ map: `${header.replace(/\s+/g, ' ').trim()} (size ${size} KiB)`, rssKib: rss });
      const diff = Math.abs(size - guestKib);
      if (diff <= guestKib * 0.05 && diff < best.diff) best = { diff, rss };
    }
  }
  maps.sort((a, b) => b.rssKib - a.rssKib);
  const rest = maps.slice(8);
  const restKib = rest.reduce((n, m) => n + m.rssKib, 0);
  const top = [...maps.slice(0, 8), { map: `${rest.length} other mappings`, rssKib: restKib }];
  return { rssKib, guestKib: best.rss, top };
}

/** Samples `pid` every 100 ms until stopped; keeps the sample with the highest VmRSS. */
function sampler(pid: number, guestKib: number): { stop(): Sample } {
  let peak: Sample = { rssKib: 0, guestKib: 0 };
  const take = () => {
    const s = sample(pid, guestKib);
    if (s && s.rssKib > peak.rssKib) peak = s;
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

async function bootTsVmm(
  g: { kernel: string; initrd: string },
  memoryMib: number,
): Promise<Sample & { ready: boolean }> {
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
  const s = sampler(process.pid, memoryMib * 1024);
  const vmm = await Vmm.create(config, {
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
  // Sample once more just before poweroff: the guest is still mapped then.
  const r = await vmm.run();
  const peak = s.stop();
  if (r.exitCode !== 0)
    throw new Error(`ts-vmm boot ended with ${r.reason} (${r.exitCode}): ${text.slice(-400)}`);
  return { ...peak, ready: text.includes(READY) };
}

function bootQemu(
  g: { kernel: string; initrd: string },
  memoryMib: number,
): Promise<Sample & { ready: boolean }> {
  return new Promise((resolve, reject) => {
    const args = ['-accel', 'tcg', '-m', String(memoryMib), '-nographic', '-no-reboot'];
    args.push('-kernel', g.kernel, '-initrd', g.initrd, '-append', `${BASE_CMDLINE} ${runParameter('true')}`);
    const q = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const s = q.pid ? sampler(q.pid, memoryMib * 1024) : undefined;
    const kill = setTimeout(() => q.kill('SIGKILL'), 300_000);
    q.stdout.on('data', (d: Buffer) => {
      text = (text + d.toString('latin1')).slice(-8000);
    });
    q.on('error', (e) => {
      clearTimeout(kill);
      s?.stop();
      reject(e);
    });
    q.on('exit', () => {
      clearTimeout(kill);
      const peak = s ? s.stop() : { rssKib: 0, guestKib: 0 };
      resolve({ ...peak, ready: text.includes(READY) });
    });
  });
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

async function main() {
  const argv = process.argv.slice(2);
  const mi = argv.indexOf('--memory');
  const memoryMib = mi >= 0 ? Number(argv[mi + 1]) : 512;
  const g = guestFiles();
  const idle = sample(process.pid, memoryMib * 1024);
  console.log(`node process before the VMM: VmRSS ${idle ? mib(idle.rssKib) : '?'} MiB`);
  const ts = await bootTsVmm(g, memoryMib);
  const tsOver = ts.rssKib - ts.guestKib;
  console.log(
    `ts-vmm (emulated): peak VmRSS ${mib(ts.rssKib)} MiB = guest RAM touched ${mib(ts.guestKib)} MiB + VMM ${mib(tsOver)} MiB${ts.ready ? '' : ' (no ready line!)'}`,
  );
  const top = (x: Sample) => {
    if (argv.includes('--top'))
      for (const m of x.top ?? []) console.log(`    ${mib(m.rssKib).padStart(7)} MiB  ${m.map}`);
  };
  top(ts);
  if (argv.includes('--skip-qemu')) return;
  try {
    const q = await bootQemu(g, memoryMib);
    const qOver = q.rssKib - q.guestKib;
    console.log(
      `qemu tcg:          peak VmRSS ${mib(q.rssKib)} MiB = guest RAM touched ${mib(q.guestKib)} MiB + VMM ${mib(qOver)} MiB${q.ready ? '' : ' (no ready line!)'}`,
    );
    top(q);
    console.log(`ratio:             ts-vmm / qemu VMM overhead = ${(tsOver / qOver).toFixed(2)}x`);
  } catch (e) {
    console.log(`qemu tcg: not run (${(e as Error).message})`);
  }
}

await main();
