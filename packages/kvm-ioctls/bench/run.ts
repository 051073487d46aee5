// Exit round-trip benchmark: a CPL3 guest loop doing N PIO (or MMIO) exits, driven by VcpuFd.run()
// from TypeScript, against the same guest (same memory image and registers) driven by a small C
// program compiled with gcc at run time. Prints the per-exit cost of each and the TS/C ratio.
//
//   pnpm bench            (from packages/kvm-ioctls; needs /dev/kvm and gcc)
//   TS_VMM_BENCH_EXITS=200000 pnpm bench
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitLoopGuest, GUEST_MEMORY_SIZE, loadGuest, READY_PORT } from '@ts-vmm/hypervisor/testing';
import { KvmRegs, KvmSregs } from '@ts-vmm/kvm-sys';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { hasKvm, openKvm } from '../src/backend/kvm-hypervisor.js';
import type { KvmVcpu } from '../src/backend/kvm-vcpu.js';
import { sregsToKvm } from '../src/neutral-shapes.js';
import { loadNativeAddon, type NativeAddon } from '../src/sys.js';
import { VcpuFd } from '../src/vcpu-fd.js';

const here = dirname(fileURLToPath(import.meta.url));
const EXITS = Number(process.env.TS_VMM_BENCH_EXITS ?? 100_000);
const ROUNDS = 3;

if (!hasKvm()) {
  console.log('skipped: /dev/kvm not available');
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'kvm-ioctls-bench-'));
const cBin = join(work, 'exit-bench');
try {
  execFileSync('gcc', ['-O2', '-o', cBin, join(here, 'exit-bench.c')], { stdio: 'inherit' });
} catch (e) {
  console.log(`skipped: cannot build the C baseline with gcc (${(e as Error).message})`);
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}

const hv = await openKvm();

/** Builds the guest on a fresh VM; returns the vCPU ready to run and a snapshot for the C side. */
async function prepare(kind: 'pio' | 'mmio', n: number) {
  const mem = await GuestMemory.createMemfd([{ start: 0, size: GUEST_MEMORY_SIZE }]);
  const vm = await hv.createVm({ memory: mem });
  const vcpu = vm.createVcpu(0) as KvmVcpu;
  loadGuest(mem, vcpu, exitLoopGuest(kind, n));
  const image = join(work, `${kind}.img`);
  writeFileSync(image, mem.regions[0].bytes);
  writeFileSync(join(work, `${kind}.sregs`), KvmSregs.encode(sregsToKvm(vcpu.getSregs())));
  writeFileSync(join(work, `${kind}.regs`), KvmRegs.encode(vcpu.getRegs()));
  return {
    vcpu,
    close() {
      vcpu.close();
      vm.close();
      mem.close();
    },
  };
}

function runTs(vcpu: KvmVcpu): { exits: number; ns: number } {
  const run = vcpu.raw; // the VcpuFd: same run() the Vcpu interface exposes, one call less
  let exits = 0;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (;;) {
    const e = run.run();
    exits++;
    if (e.kind === 'io-out') {
      if (e.port === READY_PORT) break;
      sink += e.data[0];
    } else if (e.kind === 'mmio-write') sink += e.data[0];
    else throw new Error(`unexpected exit ${e.kind}`);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (sink < 0) console.log(sink);
  return { exits, ns: ns / exits };
}

function runC(kind: string): number {
  const out = execFileSync(
    cBin,
    [join(work, `${kind}.img`), join(work, `${kind}.sregs`), join(work, `${kind}.regs`)],
    {
      encoding: 'utf8',
    },
  );
  const [exits, ns] = out.trim().split(/\s+/).map(Number);
  if (exits !== EXITS + 1) throw new Error(`C baseline saw ${exits} exits, expected ${EXITS + 1}`);
  return ns;
}

/** ns per run() with a fake addon whose KVM_RUN returns at once: the decoding cost alone. */
function decodeCost(): number {
  const run = new ArrayBuffer(3 * 4096);
  const v = new DataView(run);
  v.setUint32(8, 6, true); // KVM_EXIT_MMIO
  v.setUint32(48, 4, true); // len
  new Uint8Array(run)[52] = 1; // is_write
  const fake = {
    mmap: () => run,
    munmap: () => {},
    installKickSignal: () => 0,
    currentThread: () => 0n,
    ioctlFast: () => 0,
  } as unknown as NativeAddon;
  const vcpu = VcpuFd.wrap(fake, 1 << 30, 0, run.byteLength);
  const n = 2_000_000;
  const out: number[] = [];
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const e = vcpu.run();
      if (e.kind === 'mmio-write') sink += e.data[0];
    }
    out.push(Number(process.hrtime.bigint() - t0) / n);
  }
  if (sink < 0) console.log(sink);
  return median(out);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`exit round trip, ${EXITS} exits per round, median of ${ROUNDS} rounds (CPL3 guest loop)`);
console.log('kind   TS ns/exit   C ns/exit   TS/C');
try {
  for (const kind of ['pio', 'mmio'] as const) {
    // warm-up: JIT the run() path
    const warm = await prepare(kind, 20_000);
    runTs(warm.vcpu);
    warm.close();
    const ts: number[] = [];
    const c: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const g = await prepare(kind, EXITS);
      ts.push(runTs(g.vcpu).ns);
      g.close();
      c.push(runC(kind));
    }
    const t = median(ts);
    const b = median(c);
    console.log(
      `${kind.padEnd(6)} ${t.toFixed(0).padStart(10)} ${b.toFixed(0).padStart(11)}   ${(t / b).toFixed(2)}x`,
    );
  }

  // Where the TypeScript time goes: the addon call around the ioctl, and decoding the exit.
  const sys = loadNativeAddon();
  const n = 200_000;
  const kfd = sys.open('/dev/kvm', 2);
  const KVM_CHECK_EXTENSION = 0xae03;
  const calls: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sys.ioctlFast(kfd, KVM_CHECK_EXTENSION);
    calls.push(Number(process.hrtime.bigint() - t0) / n);
  }
  sys.close(kfd);
  const cCalls: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    cCalls.push(
      Number(
        execFileSync(cBin, ['--syscall', String(n)], { encoding: 'utf8' })
          .trim()
          .split(/\s+/)[1],
      ),
    );
  }
  const t = median(calls);
  const b = median(cCalls);
  console.log(
    `ioctl  ${t.toFixed(0).padStart(10)} ${b.toFixed(0).padStart(11)}   ${(t / b).toFixed(2)}x   (bare KVM_CHECK_EXTENSION: addon call vs C)`,
  );
  console.log(
    `decode ${decodeCost().toFixed(1).padStart(10)}           -          (run() decoding an MMIO exit, no syscall)`,
  );
} finally {
  hv.close();
  rmSync(work, { recursive: true, force: true });
}
