/**
 * Guest time on the emulated backend with the default clock (`--clock realtime`): the default
 * guest's CLOCK_MONOTONIC and CLOCK_REALTIME keep the host's time through a compute-bound run.
 *
 * The `ts-vmm` CLI boots the default guest with its shell on the serial console (stdin piped). The
 * guest reads its clock with shell builtins only (no fork, so a reading costs little guest time):
 * CLOCK_MONOTONIC is the `now at N nsecs` line of /proc/timer_list, and CLOCK_REALTIME is that plus
 * the REALTIME base's `.offset` there (how the kernel computes it; read at the start and the end).
 * Each reading is bracketed by host times: when the command was written and when its answer came
 * back. The guest read its clock in between, so the host time of the reading is the midpoint, give
 * or take half the round trip (the best of five readings is kept). Readings are taken before and
 * after TS_VMM_CLOCK_TEST_S (default 20; the run is 60) seconds during which a busy loop
 * keeps the guest's only vCPU computing; the "after" readings are taken while it still runs, so no
 * idle time could let a lagging clock catch up. Asserted: across the run the guest's clocks
 * advanced as much as the host's, within 10 ms (the bound) once corrected for the round
 * trips, give or take the correction's own uncertainty; and, read by the guest kernel itself in one
 * go (the `ktime` and `sched_clk` lines of its scheduler debug header), its CLOCK_MONOTONIC kept
 * within 10 ms of its kvm-clock, which is the host's clock (the emulator computes kvm-clock from
 * `performance.now()`; `backend.test.ts` checks RDTSC and kvm-clock's wall clock against the
 * host). With the instruction-counted `virtual` clock the guest's time ran 12-24x slower than the
 * host's here. Also printed: the same drift from one-way readings (a reporter in the guest printing
 * its clock once a second; they miss the time between the reading and the print, which the busy
 * loop lengthens).
 *
 * CLOCK_REALTIME against the host's wall clock, after the boot and after the run: Linux sets its
 * wall clock in `timekeeping_init` from kvm-clock's wall-clock record plus its system time, and
 * from then on keeps CLOCK_MONOTONIC and CLOCK_REALTIME on the jiffies clocksource until its
 * clocksource switch (an fs_initcall, late in the boot). Jiffies stand still until the first LAPIC
 * timer tick (`smp_prepare_cpus`), and each tick, re-armed one tick after its handler ran, loses the
 * time from its deadline to the re-arm: on the emulator that is 1-11 s of host time in all, which
 * both clocks lose for good. The kernel counts that loss itself: kvm-clock's sched_clock minus
 * CLOCK_MONOTONIC, read in one go from the scheduler debug header. Later in the boot rtc_cmos
 * registers the CMOS RTC (PNP0B00 in the DSDT) and `rtc_hctosys` sets CLOCK_REALTIME to the RTC's
 * whole second plus 0.5 s, which undoes the loss to within half a second. Asserted: with that step
 * (`setting system clock` in the kernel log), CLOCK_REALTIME is within 0.5 s (plus 10 ms and half
 * the round trip) of the host's wall clock after the boot, and keeps its offset through the run;
 * without it (a guest without the RTC), CLOCK_REALTIME minus the host's wall clock equals minus the
 * loss within 10 ms (plus half the round trip): the wall clock the VMM gives (kvm-clock's record plus
 * its system time) is the host's. Closer agreement needs a guest that sets its clock from a finer
 * source after the boot (NTP, or chrony on ptp_kvm); see docs/measurements.md.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildDefaultGuest } from '../src/guest/builder.js';
import type { GuestManifest } from '../src/guest/cache.js';
import { backendAvailable } from '../src/vmm/backend.js';

const BUSY_S = Number(process.env.TS_VMM_CLOCK_TEST_S ?? 20);
// TS_VMM_E2E_QUICK=1 leaves this boot out, as it does linux-boot.test.ts's extra boots
const quick = process.env.TS_VMM_E2E_QUICK === '1';
/** The bound on the disagreement between guest and host clocks. */
const BOUND_MS = 10;

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
if (!guest) console.log(`skipped: guest time test (${why})`);
else if (quick) console.log('skipped: guest time test (TS_VMM_E2E_QUICK=1)');

/** Host monotonic and wall-clock time in ms, read together. */
function hostNow(): { mono: number; wall: number } {
  const mono = performance.now();
  return { mono, wall: performance.timeOrigin + mono };
}

/** A guest clock reading (ns) and the host times (ms) when it arrived. */
interface Report {
  guestNs: bigint;
  at: { mono: number; wall: number };
}

/**
 * The CLI as a process: its console output is matched against patterns as it arrives, and the
 * guest reporter's `@P=<ns>` lines are collected with their arrival times.
 */
class GuestConsole {
  private text = '';
  private waiters: { re: RegExp; resolve: (m: { match: RegExpExecArray; at: number }) => void }[] = [];
  readonly reports: Report[] = [];
  private line = '';
  readonly done: Promise<number | null>;
  private readonly p: ChildProcessWithoutNullStreams;

  constructor(args: string[]) {
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    const tsx = createRequire(import.meta.url).resolve('tsx/cli');
    this.p = spawn(process.execPath, [tsx, cli, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.p.stdout.on('data', (d: Buffer) => {
      const at = hostNow();
      const s = d.toString('latin1');
      this.text += s;
      this.line += s;
      for (let nl = this.line.search(/[\r\n]/); nl >= 0; nl = this.line.search(/[\r\n]/)) {
        const m = /@P=(\d+)$/.exec(this.line.slice(0, nl));
        if (m) this.reports.push({ guestNs: BigInt(m[1]), at });
        this.line = this.line.slice(nl + 1);
      }
      this.waiters = this.waiters.filter((w) => {
        const m = w.re.exec(this.text);
        if (!m) return true;
        this.text = this.text.slice(m.index + m[0].length);
        w.resolve({ match: m, at: at.mono });
        return false;
      });
    });
    this.p.stderr.on('data', () => {});
    this.done = new Promise((resolve) => this.p.once('close', resolve));
  }

  /** Resolves with the first match of `re` in output not consumed yet, and the host time it arrived. */
  wait(re: RegExp, timeoutMs: number): Promise<{ match: RegExpExecArray; at: number }> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no ${re} within ${timeoutMs} ms; output: ${this.text.slice(-500)}`)),
        timeoutMs,
      );
      const w = {
        re,
        resolve: (m: { match: RegExpExecArray; at: number }) => {
          clearTimeout(t);
          resolve(m);
        },
      };
      const m = re.exec(this.text);
      if (m) {
        this.text = this.text.slice(m.index + m[0].length);
        w.resolve({ match: m, at: performance.now() });
      } else this.waiters.push(w);
    });
  }

  send(line: string): void {
    this.p.stdin.write(`${line}\n`);
  }

  kill(): void {
    this.p.kill('SIGKILL');
  }
}

/** One bracketed reading: the guest's value (ns) and the host times around it. */
interface Reading {
  guestNs: bigint;
  sent: { mono: number; wall: number };
  /** Host monotonic ms when the answer arrived. */
  back: number;
}

const seq = { R: 0, O: 0 };

/**
 * Asks the guest for `cmd`'s number (printed as `@<tag>=<number>`, the tag counting the commands
 * of its kind) and brackets it by host times.
 */
async function read(con: GuestConsole, kind: 'R' | 'O', cmd: (tag: string) => string): Promise<Reading> {
  const tag = `${kind}${++seq[kind]}`;
  const sent = hostNow();
  con.send(cmd(tag));
  const { match, at } = await con.wait(new RegExp(`@${tag}=(\\d+)\\s`), 30_000);
  return { guestNs: BigInt(match[1]), sent, back: at };
}

/** The reading with the shortest round trip of `n`. */
async function best(con: GuestConsole, n = 5): Promise<Reading> {
  let b: Reading | undefined;
  for (let k = 0; k < n; k++) {
    const r = await read(con, 'R', MONOTONIC);
    if (!b || rtt(r) < rtt(b)) b = r;
  }
  return b!;
}

const rtt = (r: Reading) => r.back - r.sent.mono;
/** Host ms at the middle of the round trip, on the monotonic and on the wall clock. */
const midMono = (r: Reading) => r.sent.mono + rtt(r) / 2;
const midWall = (r: Reading) => r.sent.wall + rtt(r) / 2;
/** Guest minus host (ms), for a guest reading in ns and a host time in ms. */
const offsetMs = (guestNs: bigint, hostMs: number) =>
  Number(guestNs - BigInt(Math.round(hostMs * 1e6))) / 1e6;
/**
 * Guest minus host (ms) from one-way reports: the host saw each one after the guest read its clock,
 * so the largest guest-minus-arrival offset is the closest to the truth (off by the shortest
 * console latency).
 */
const reportOffset = (rs: Report[], wall: bigint) =>
  Math.max(...rs.map((r) => offsetMs(r.guestNs + wall, wall === 0n ? r.at.mono : r.at.wall)));

// guest-side readers, builtins only for the clock itself: `m` prints `@R<n>=<CLOCK_MONOTONIC ns>`
// for its n-th call (a one-letter command, so the console carries little), `p` prints `@P=<ns>`
const MONOTONIC = () => 'm';
const CLOCK = 'while read -r k a v r; do if [ "$k" = now ]; then break; fi; done < /proc/timer_list';
const DEFINE = `m() { n=$((n + 1)); ${CLOCK}; echo "@R$n=$v"; }; p() { ${CLOCK}; echo "@P=$v"; }`;
// `k` prints the scheduler's debug header, where the kernel reads CLOCK_MONOTONIC (`ktime`) and its
// kvm-clock based sched_clock (`sched_clk`) one after the other: `@K<j>=<ktime ms> <sched_clk ms>`
const DEFINE_K =
  'mount -t debugfs none /sys/kernel/debug 2>/dev/null; k() { j=$((j + 1)); awk -v j=$j \'/^ktime/ { k = $3 } /^sched_clk/ { s = $3 } END { print "@K" j "=" k " " s }\' /sys/kernel/debug/sched/debug; }';

let kseq = 0;

/**
 * CLOCK_MONOTONIC minus kvm-clock's sched_clock (ms) at one moment in the guest, read by the kernel
 * itself (no console in between); the median of `n` readings. Minus the time the kernel's clocks lost
 * in the boot: at `timekeeping_init` CLOCK_MONOTONIC was sched_clock (`local_clock()`), and since the
 * clocksource switch both advance with kvm-clock.
 */
async function monoMinusKvmclock(con: GuestConsole, n = 5): Promise<number> {
  const d: number[] = [];
  for (let i = 0; i < n; i++) {
    const j = ++kseq;
    con.send('k');
    const { match } = await con.wait(new RegExp(`@K${j}=(\\d+)\\.(\\d+) (\\d+)\\.(\\d+)\\s`), 30_000);
    const ns = (ms: string, frac: string) =>
      BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(6, '0').slice(0, 6));
    d.push(Number(ns(match[1], match[2]) - ns(match[3], match[4])) / 1e6);
  }
  d.sort((a, b) => a - b);
  return d[Math.floor(n / 2)];
}
/** Whether the kernel set its clock from the RTC (`rtc_hctosys`: whole seconds plus 0.5 s). */
const HCTOSYS = 'echo "@H=$(dmesg | grep -c \'setting system clock\')"';
/** Linux's `rtc_hctosys` sets the RTC's whole second plus half a second: within 0.5 s of the truth. */
const HCTOSYS_BOUND_MS = 500;
const REALTIME_OFFSET = (tag: string) =>
  `echo "@${tag}=$(awk '/ktime_get_real/ { f = 1 } f && /[.]offset/ { print $2; exit }' /proc/timer_list)"`;
/** How many reports (one a second) each end of the run takes. */
const REPORTS = 8;

describe.skipIf(!guest || quick)('guest time on the emulated backend (the default --clock realtime)', () => {
  it(
    `keeps CLOCK_MONOTONIC and CLOCK_REALTIME on the host's clocks through a ${BUSY_S} s compute-bound run`,
    async () => {
      const con = new GuestConsole(['run', '--backend', 'emulated', '--memory', '256']);
      try {
        await con.wait(/ts-vmm-init: ready/, 300_000);
        await con.wait(/\/ # /, 60_000);
        con.send(DEFINE);
        con.send(HCTOSYS);
        const hctosys = Number((await con.wait(/@H=(\d+)\s/, 30_000)).match[1]) > 0;
        const offset0 = await read(con, 'O', REALTIME_OFFSET);
        con.send(DEFINE_K);
        const kvm0 = await monoMinusKvmclock(con);
        const mono0 = await best(con);
        // a reporter that prints CLOCK_MONOTONIC once a second, on its own (one-way readings)
        con.send('(while :; do p; sleep 1; done) &');
        while (con.reports.length < REPORTS) await new Promise((r) => setTimeout(r, 200));
        const before = con.reports.slice(0, REPORTS);

        // the compute-bound run: a busy loop on the guest's only vCPU, in the background
        con.send('(while :; do :; done) &');
        con.send('echo "@S$((1))=1"');
        await con.wait(/@S1=1/, 30_000);
        const busyFrom = con.reports.length;
        await new Promise((r) => setTimeout(r, BUSY_S * 1000));

        // read while the loop still runs: idle time could not have let a lagging clock catch up
        const mono1 = await best(con);
        const kvm1 = await monoMinusKvmclock(con);
        const after = con.reports.slice(-REPORTS);
        const offset1 = await read(con, 'O', REALTIME_OFFSET);
        con.send('kill %1 %2; poweroff -f');
        expect(await con.done).toBe(0);

        const hostS = (midMono(mono1) - midMono(mono0)) / 1000;
        // round trips: sound brackets (the reading lies between sending and the answer)
        const monoDrift = offsetMs(mono1.guestNs, midMono(mono1)) - offsetMs(mono0.guestNs, midMono(mono0));
        const slack = (rtt(mono0) + rtt(mono1)) / 2;
        // one-way reports: no input path, but biased by the reporter's own delay
        const oneWay = reportOffset(after, 0n) - reportOffset(before, 0n);
        // CLOCK_REALTIME = CLOCK_MONOTONIC + the REALTIME offset, as the kernel computes it
        const realBefore = offsetMs(mono0.guestNs + offset0.guestNs, midWall(mono0));
        const realAfter = offsetMs(mono1.guestNs + offset1.guestNs, midWall(mono1));
        // CLOCK_REALTIME - host wall clock less what the kernel's clocks lost in the boot (-kvmN):
        // the error of the wall clock the VMM gave the guest
        const wallBefore = realBefore - kvm0;
        const wallAfter = realAfter - kvm1;
        console.log(
          `guest time over ${hostS.toFixed(1)} s of host time (${con.reports.length - busyFrom} reports while ` +
            `the guest computed): CLOCK_MONOTONIC - host ${monoDrift.toFixed(2)} ms further after than before, ` +
            `by round trips (${rtt(mono0).toFixed(1)} / ${rtt(mono1).toFixed(1)} ms), ${oneWay.toFixed(2)} ms by ` +
            `one-way reports, ${(kvm1 - kvm0).toFixed(3)} ms against kvm-clock in the guest; CLOCK_REALTIME - ` +
            `host wall clock ${realBefore.toFixed(1)} ms before, ${realAfter.toFixed(1)} ms after; the kernel's ` +
            `clocks lost ${(-kvm0).toFixed(1)} / ${(-kvm1).toFixed(1)} ms in the boot (jiffies phase), ` +
            (hctosys
              ? 'and it set CLOCK_REALTIME from the RTC after that'
              : `which leaves ${wallBefore.toFixed(2)} / ${wallAfter.toFixed(2)} ms besides (no RTC step)`),
        );
        expect(hostS).toBeGreaterThanOrEqual(BUSY_S);
        // the guest computed between the readings (the reporter kept its turns)
        expect(con.reports.length - busyFrom).toBeGreaterThanOrEqual(REPORTS);
        // the readings bracket the guest's clock to well under the lag a slow guest clock builds up
        expect(slack).toBeLessThan(1000);
        // CLOCK_MONOTONIC kept the host's time: within 10 ms once corrected for the round trips,
        // give or take half of them (a clock 12x slow would have lost over 90% of the run)
        expect(Math.abs(monoDrift)).toBeLessThanOrEqual(BOUND_MS + slack);
        // and CLOCK_REALTIME with it: the kernel's REALTIME offset did not move
        expect(offset1.guestNs).toBe(offset0.guestNs);
        // and, read by the guest kernel itself, against its kvm-clock (the host's clock itself: the
        // emulator reads performance.now() for it): within 10 ms
        expect(Math.abs(kvm1 - kvm0)).toBeLessThanOrEqual(BOUND_MS);
        if (!hctosys) {
          // after the boot and after the run, CLOCK_REALTIME is the host's wall clock less only what
          // the kernel's own clocks lost before its clocksource switch: within 10 ms, give or take
          // half the round trip (the VMM's wall clock, kvm-clock's record plus its system time, is
          // the host's)
          expect(Math.abs(wallBefore)).toBeLessThanOrEqual(BOUND_MS + rtt(mono0) / 2);
          expect(Math.abs(wallAfter)).toBeLessThanOrEqual(BOUND_MS + rtt(mono1) / 2);
        } else {
          // the kernel stepped its clock to the RTC's whole second plus 0.5 s after the switch
          expect(Math.abs(realBefore)).toBeLessThanOrEqual(HCTOSYS_BOUND_MS + BOUND_MS + rtt(mono0) / 2);
          expect(Math.abs(realAfter - realBefore)).toBeLessThanOrEqual(BOUND_MS + slack);
        }
      } finally {
        con.kill();
      }
    },
    (BUSY_S + 600) * 1000,
  );
});
