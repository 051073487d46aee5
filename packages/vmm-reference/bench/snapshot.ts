/**
 * Snapshot benchmark: the default guest (256 MiB) booted cold to a shell that answers a command on
 * the console, against the same guest restored from a snapshot taken at that shell, in the same
 * run. Prints: cold boot to an answering shell, snapshot create time (and how long the guest was
 * paused), restore to an answering shell (Vmm.restore plus the first answer), their ratio, and the
 * memory file's size on disk against the memory the guest touched.
 *
 *   pnpm --filter @ts-vmm/vmm-reference bench:snapshot [--backend emulated|kvm] [--memory MIB]
 *     [--restores N]
 *
 * Needs the default guest (`ts-vmm guest fetch`). Results are printed, never asserted.
 *
 * @module
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../src/config/resolve.js';
import type { BackendChoice } from '../src/config/types.js';
import { parseBackend, parseMemoryMib } from '../src/config/values.js';
import { cachedGuest } from '../src/guest/cache.js';
import type { ConsoleInput, VmmOptions } from '../src/vmm/vmm.js';
import { Vmm } from '../src/vmm/vmm.js';

/** A console the benchmark types into and reads. */
class BenchConsole {
  private text = '';
  private listeners: ((chunk: Buffer | string) => void)[] = [];
  private waiter: { re: RegExp; resolve: () => void } | undefined;
  readonly input: ConsoleInput = {
    on: (_e, l) => this.listeners.push(l),
    removeListener: (_e, l) => {
      this.listeners = this.listeners.filter((x) => x !== l);
    },
    pause: () => {},
    resume: () => {},
  };
  readonly options: VmmOptions = {
    input: this.input,
    handleSignals: false,
    log: () => {},
    output: {
      write: (c: Uint8Array) => {
        this.text += Buffer.from(c).toString('latin1');
        if (this.waiter?.re.test(this.text)) {
          this.text = '';
          const w = this.waiter;
          this.waiter = undefined;
          w.resolve();
        }
        return true;
      },
    },
  };
  /** Types `echo TAG-$((6*7))` until the shell answers `TAG-42`. */
  async answer(tag: string, timeoutMs: number): Promise<void> {
    const re = new RegExp(`${tag}-42`);
    const done = new Promise<void>((resolve) => {
      this.waiter = { re, resolve };
    });
    const deadline = performance.now() + timeoutMs;
    let answered = false;
    void done.then(() => {
      answered = true;
    });
    while (!answered) {
      if (performance.now() > deadline) throw new Error(`no answer to ${tag} within ${timeoutMs} ms`);
      for (const l of this.listeners) l(Buffer.from(`echo ${tag}-$((6*7))\n`));
      await Promise.race([done, new Promise((r) => setTimeout(r, 200))]);
    }
  }
  poweroff(): void {
    for (const l of this.listeners) l(Buffer.from('poweroff -f\n'));
  }
}

function parseArgs(argv: readonly string[]) {
  const o = { backend: 'emulated' as BackendChoice, memoryMib: 256, restores: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backend') o.backend = parseBackend(argv[++i]);
    else if (a === '--memory') o.memoryMib = parseMemoryMib(argv[++i]);
    else if (a === '--restores') o.restores = Number(argv[++i]);
    else if (a !== '--') throw new Error(`unknown argument ${a}`);
  }
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const guest = cachedGuest();
  if (!guest) {
    console.log('skipped: snapshot benchmark (the default guest is not built: ts-vmm guest fetch)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ts-vmm-bench-snap-'));
  try {
    const config = resolveConfig({
      flags: { kernel: guest.kernel, initrd: guest.initrd, memoryMib: o.memoryMib, backend: o.backend },
    });
    const con = new BenchConsole();
    const t0 = performance.now();
    const vmm = await Vmm.create(config, con.options);
    const run = vmm.run();
    await con.answer('COLD', 600_000);
    const coldMs = performance.now() - t0;
    const t1 = performance.now();
    const info = await vmm.snapshot({ dir });
    const createMs = performance.now() - t1;
    con.poweroff();
    await run;

    const restoreMs: number[] = [];
    const buildMs: number[] = [];
    for (let i = 0; i < o.restores; i++) {
      const c = new BenchConsole();
      const t = performance.now();
      const r = await Vmm.restore(dir, { options: c.options });
      buildMs.push(performance.now() - t);
      const rr = r.run();
      await c.answer(`WARM${i}`, 60_000);
      restoreMs.push(performance.now() - t);
      c.poweroff();
      await rr;
    }
    const best = Math.min(...restoreMs);
    const touchedMiB = (info.pages * 4096) / 2 ** 20;
    const blocks = (statSync(join(dir, 'memory')) as { blocks?: number }).blocks;
    const onDiskMiB = blocks === undefined ? Number.NaN : (blocks * 512) / 2 ** 20;
    console.log(`snapshot benchmark: default guest, ${o.memoryMib} MiB, ${vmm.hypervisor.kind} backend`);
    console.log(`  cold boot to an answering shell:   ${coldMs.toFixed(0)} ms`);
    console.log(
      `  snapshot create:                   ${createMs.toFixed(0)} ms (guest paused ${info.pausedMs.toFixed(0)} ms)`,
    );
    console.log(
      `  restore to an answering shell:     ${restoreMs.map((m) => m.toFixed(0)).join(', ')} ms (best ${best.toFixed(0)})`,
    );
    console.log(
      `    of which Vmm.restore (state, memory, devices): ${buildMs.map((m) => m.toFixed(0)).join(', ')} ms`,
    );
    console.log(`  cold boot / restore:               ${(coldMs / best).toFixed(1)}x`);
    console.log(
      `  memory file: ${onDiskMiB.toFixed(1)} MiB on disk for ${touchedMiB.toFixed(1)} MiB touched (${(info.memoryBytes / 2 ** 20).toFixed(0)} MiB of guest memory)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
