/**
 * The Linux default guest on the emulated backend: booted to its shell, it writes a marker to its
 * disk and is snapshotted there (and keeps running); two VMs restored from that one snapshot run
 * side by side: both answer commands on the console, one reads the marker back from the disk
 * (page cache dropped first, so the read reaches the device), and both power off with exit code 0.
 * The source then writes a file in its tmpfs and a second disk block and takes a diff snapshot
 * (only the pages written since the full one): a VM restored from it has both.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/resolve.js';
import { buildDefaultGuest } from '../src/guest/builder.js';
import type { GuestManifest } from '../src/guest/cache.js';
import { backendAvailable } from '../src/vmm/backend.js';
import { EXIT_CODES } from '../src/vmm/exit-codes.js';
import { type ConsoleInput, Vmm, type VmmOptions } from '../src/vmm/vmm.js';

const emulated = await backendAvailable('emulated');
let guest: GuestManifest | undefined;
let why = emulated.ok ? '' : `emulated backend not available: ${emulated.why}`;
if (emulated.ok) {
  try {
    guest = await buildDefaultGuest({});
  } catch (e) {
    why = `default guest unavailable: ${(e as Error).message}`;
  }
}
if (!guest) console.log(`skipped: Linux snapshot test (${why})`);

const root = mkdtempSync(join(tmpdir(), 'ts-vmm-snap-linux-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A console: host input we type, guest output we wait on. */
class Console {
  text = '';
  private listeners: ((chunk: Buffer | string) => void)[] = [];
  private waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
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
        this.waiters = this.waiters.filter((w) => {
          const m = w.re.exec(this.text);
          if (m) {
            this.text = this.text.slice(m.index + m[0].length);
            w.resolve(m);
          }
          return !m;
        });
        return true;
      },
    },
  };
  type(s: string): void {
    for (const l of this.listeners) l(Buffer.from(s));
  }
  wait(re: RegExp, ms: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const m = re.exec(this.text);
      if (m) {
        this.text = this.text.slice(m.index + m[0].length);
        resolve(m);
        return;
      }
      const t = setTimeout(
        () => reject(new Error(`timed out waiting for ${re}; console tail: ${this.text.slice(-300)}`)),
        ms,
      );
      this.waiters.push({
        re,
        resolve: (x) => {
          clearTimeout(t);
          resolve(x);
        },
      });
    });
  }
  /** Types a command that ends by printing `TAG-<n>` computed by the shell, and waits for it. */
  async run(cmd: string, tag: string, ms = 30_000): Promise<string> {
    this.type(`${cmd}; echo ${tag}-$((20+22))\n`);
    const m = await this.wait(new RegExp(`([\\s\\S]*)${tag}-42`), ms);
    return m[1];
  }
}

describe.skipIf(!guest)('snapshot of the Linux default guest (emulated)', () => {
  it('snapshot at the shell; two restored VMs answer, read the disk written before, power off with 0', async () => {
    const disk = join(root, 'disk.img');
    writeFileSync(disk, new Uint8Array(1 << 20));
    const dir = join(root, 'snap');
    const config = resolveConfig({
      flags: {
        kernel: guest!.kernel,
        initrd: guest!.initrd,
        memoryMib: 256,
        backend: 'emulated',
        cmdlineAppend: 'quiet',
      },
    });
    config.disks = [{ path: disk, readOnly: false }];
    const con = new Console();
    const vmm = await Vmm.create(config, con.options);
    const run = vmm.run();
    await con.wait(/busybox shell/, 60_000);
    await con.run('echo SNAPDISK-MARK | dd of=/dev/vda conv=fsync 2>/dev/null', 'W');
    const t0 = performance.now();
    const info = await vmm.snapshot({ dir });
    const createMs = performance.now() - t0;
    // the source keeps running
    expect(await con.run('echo still-here', 'S')).toContain('still-here');
    await con.run(
      'echo in-memory-only > /tmp/m; echo DIFF-MARK | dd of=/dev/vda bs=4096 seek=1 conv=fsync 2>/dev/null',
      'D',
    );
    const diffDir = join(root, 'diff');
    const d = await vmm.snapshot({ dir: diffDir, kind: 'diff' });
    con.type('poweroff -f\n');
    expect((await run).exitCode).toBe(EXIT_CODES.poweroff);
    console.log(
      `snapshot: created in ${createMs.toFixed(0)} ms (guest paused ${info.pausedMs.toFixed(0)} ms), ${((info.pages * 4096) / 2 ** 20).toFixed(1)} MiB of ${info.memoryBytes / 2 ** 20} MiB touched`,
    );

    const a = new Console();
    const b = new Console();
    const t1 = performance.now();
    const va = await Vmm.restore(dir, { options: a.options });
    const vb = await Vmm.restore(dir, { options: b.options });
    const ra = va.run();
    const rb = vb.run();
    const [outA, outB] = await Promise.all([
      a.run(
        'echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=13 count=1 2>/dev/null; echo; cat /tmp/m',
        'A',
      ),
      b.run('echo from-b', 'B'),
    ]);
    console.log(`snapshot: two restores answered a command in ${(performance.now() - t1).toFixed(0)} ms`);
    expect(outA).toContain('SNAPDISK-MARK');
    expect(outA).toMatch(/can't open '\/tmp\/m'|No such file/); // written after the full snapshot
    expect(outB).toContain('from-b');
    a.type('poweroff -f\n');
    b.type('poweroff -f\n');
    const [resA, resB] = await Promise.all([ra, rb]);
    expect(resA.exitCode).toBe(EXIT_CODES.poweroff);
    expect(resB.exitCode).toBe(EXIT_CODES.poweroff);

    // the diff snapshot: far fewer pages than the full one, and a VM restored from it has the
    // tmpfs file (memory) and reads the second block
    expect(d.pages).toBeLessThan(info.pages / 2);
    const c = new Console();
    const vc = await Vmm.restore(diffDir, { options: c.options });
    const rc = vc.run();
    const outC = await c.run(
      'cat /tmp/m; echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=4096 skip=1 count=1 2>/dev/null | head -c 9; echo',
      'C',
    );
    expect(outC).toContain('in-memory-only');
    expect(outC).toContain('DIFF-MARK');
    c.type('poweroff -f\n');
    expect((await rc).exitCode).toBe(EXIT_CODES.poweroff);
    console.log(
      `snapshot: diff of ${((d.pages * 4096) / 2 ** 20).toFixed(1)} MiB against the full ${((info.pages * 4096) / 2 ** 20).toFixed(1)} MiB`,
    );
  }, 120_000);
});
