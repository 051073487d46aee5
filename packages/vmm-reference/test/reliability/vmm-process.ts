/**
 * Starts `ts-vmm` as a child process for the reliability tests, with its stdout and stderr read,
 * stalled (a pipe nobody reads: the kernel's pipe buffer and the reader's stream fill, then every
 * write waits) or closed (the reader takes some bytes, then closes its end: the next write gets
 * EPIPE), and reports its exit and its peak resident memory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
const rssReporter = pathToFileURL(here('./rss-report.mjs')).href;
/** The real CLI (src/cli.ts). */
export const CLI = here('../../src/cli.ts');
/** The CLI with `run` booting a raw image (raw-cli.ts). */
export const RAW_CLI = here('./raw-cli.ts');

/** What the test does with one of the child's output streams. */
export type OutputMode = 'read' | 'stalled' | { closeAfter: number };

export interface VmmProcessOptions {
  /** A raw guest image for RAW_CLI; omit to run the real CLI. */
  raw?: Uint8Array;
  /** Enter the raw image at CPL0 (default CPL3, which a KVM that emulates CPL0 runs fast). */
  cpl0?: boolean;
  args: string[];
  stdout?: OutputMode;
  stderr?: OutputMode;
  /** Bytes written to stdin (then closed); default: stdin is /dev/null. */
  stdin?: Iterable<Uint8Array> | 'pipe';
  env?: Record<string, string>;
}

export interface VmmExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Peak resident memory of the process (KiB), when it exited through process exit handlers. */
  maxRssKiB: number | undefined;
}

/** A running VMM process. */
export class VmmProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<VmmExit>;
  private out = Buffer.alloc(0);
  private err = '';
  private readonly dir: string;
  private readonly waiters: (() => void)[] = [];

  constructor(o: VmmProcessOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'ts-vmm-rel-'));
    const report = join(this.dir, 'rss.json');
    const env: Record<string, string> = { ...(process.env as Record<string, string>), ...o.env };
    env.TS_VMM_RSS_REPORT = report;
    let script = CLI;
    if (o.raw) {
      const image = join(this.dir, 'guest.bin');
      writeFileSync(image, o.raw);
      env.TS_VMM_RAW_IMAGE = image;
      if (o.cpl0) env.TS_VMM_RAW_CPL0 = '1';
      script = RAW_CLI;
    }
    const stdin = o.stdin === undefined ? 'ignore' : 'pipe';
    this.child = spawn(
      process.execPath,
      ['--import', tsxLoader, '--import', rssReporter, script, ...o.args],
      {
        env,
        stdio: [stdin, 'pipe', 'pipe'],
      },
    );
    this.attach('stdout', o.stdout ?? 'read');
    this.attach('stderr', o.stderr ?? 'read');
    if (o.stdin && o.stdin !== 'pipe') void this.feed(o.stdin);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        let maxRssKiB: number | undefined;
        try {
          maxRssKiB = (JSON.parse(readFileSync(report, 'utf8')) as { maxRssKiB: number }).maxRssKiB;
        } catch {
          maxRssKiB = undefined;
        }
        rmSync(this.dir, { recursive: true, force: true });
        resolve({ code, signal, maxRssKiB });
      });
    });
  }

  private attach(which: 'stdout' | 'stderr', mode: OutputMode): void {
    const s = this.child[which]!;
    if (mode === 'stalled') {
      // Never read: once the pipe and this stream's buffer are full, the child's writes wait.
      s.pause();
      return;
    }
    const closeAfter = typeof mode === 'object' ? mode.closeAfter : Number.POSITIVE_INFINITY;
    let taken = 0;
    s.on('data', (d: Buffer) => {
      taken += d.length;
      if (which === 'stderr') this.err += d.toString('utf8');
      else if (this.out.length < 1 << 20) this.out = Buffer.concat([this.out, d]);
      if (taken >= closeAfter) s.destroy(); // the reader goes away, like `| head -c N`
      for (const w of this.waiters.splice(0)) w();
    });
    s.on('error', () => {});
  }

  private async feed(chunks: Iterable<Uint8Array>): Promise<void> {
    const stdin = this.child.stdin!;
    stdin.on('error', () => {}); // EPIPE once the VMM exits before taking everything
    for (const c of chunks) {
      if (stdin.destroyed) return;
      const ok = stdin.write(c, (e) => {
        if (!e) this.stdinFlushed += c.length;
      });
      if (!ok) {
        const more = await new Promise<boolean>((r) => {
          stdin.once('drain', () => r(true));
          stdin.once('close', () => r(false));
        });
        if (!more) return;
      }
    }
    stdin.end();
  }

  /**
   * Bytes of `stdin` that went into the pipe to the child (a write's callback ran): what the VMM
   * read, plus at most the pipe's capacity.
   */
  stdinFlushed = 0;

  /** What the child wrote to stderr so far. */
  get stderr(): string {
    return this.err;
  }

  /** The first MiB of what the child wrote to stdout (read modes only). */
  get stdout(): string {
    return this.out.toString('latin1');
  }

  /** Resolves once stderr (read mode) contains `text`; rejects if the process exits first. */
  async waitForStderr(text: string | RegExp): Promise<void> {
    const has = () => (typeof text === 'string' ? this.err.includes(text) : text.test(this.err));
    let done = false;
    void this.exited.then(() => {
      done = true;
      for (const w of this.waiters.splice(0)) w();
    });
    while (!has()) {
      if (done) throw new Error(`ts-vmm exited before printing ${text}; stderr:\n${this.err}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /**
   * The exit, or an error naming what was last printed when the process is still alive after
   * `graceMs` (the VMM hangs instead of exiting). The process is killed then.
   */
  async exit(graceMs: number): Promise<VmmExit> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`ts-vmm still running ${graceMs} ms later; stderr:\n${this.err.slice(-2000)}`));
      }, graceMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** Peak-RSS growth (MiB) of `run` over `baseline`. */
export function growthMiB(run: VmmExit, baseline: VmmExit): number {
  if (run.maxRssKiB === undefined || baseline.maxRssKiB === undefined)
    throw new Error('no peak RSS report from the VMM process (it did not exit through its exit handlers)');
  return (run.maxRssKiB - baseline.maxRssKiB) / 1024;
}
