/**
 * Exit round-trip benchmarks for the threading design (docs/architecture.md):
 *  1. ExitChannel ping-pong between a worker (Atomics spin-then-wait) and this thread (Atomics.waitAsync),
 *     against the same with no spinning (pure futex wait), and against a direct same-thread call (baseline).
 *  2. On KVM (when /dev/kvm is there): a guest doing N port writes at CPL3, each a vCPU exit, handled
 *     on the vCPU's own thread (baseline) versus forwarded to the device thread through the channel.
 * Results are ratios against the baseline measured in the same run.
 */
import { Worker } from 'node:worker_threads';
import { Bus } from '@ts-vmm/devices';
import { hasKvm } from '@ts-vmm/kvm-ioctls';
import { bootRegs, bootSregs, writeGdt, writeIdentityPageTables } from '@ts-vmm/linux-loader';
import { resolveConfig } from '../src/config/resolve.js';
import { loadBackend } from '../src/vmm/backend.js';
import { ExitChannel } from '../src/vmm/exit-channel.js';
import { createGuestMemory } from '../src/vmm/guest-memory.js';
import { Vmm } from '../src/vmm/vmm.js';

const N = 20_000;

async function channelRoundTrip(spin: number, serveSpin: number): Promise<number> {
  const ch = ExitChannel.create();
  ch.serveSpin = serveSpin;
  let served = 0;
  const serving = ch.serve((req) => {
    served++;
    req.data[0] = 0x60;
  });
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const w = new Int32Array(workerData.sab, 0, 16);
    const bytes = new Uint8Array(workerData.sab, 64, 4096);
    let seq = Atomics.load(w, 0);
    const data = new Uint8Array(1);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < workerData.n; i++) {
      w[3] = 1; w[4] = 1; w[5] = 1; w[6] = 0x3fd; w[7] = 0;
      seq = (seq + 1) | 0;
      Atomics.store(w, 0, seq);
      Atomics.notify(w, 0);
      let spins = workerData.spin;
      while (Atomics.load(w, 1) !== seq) {
        if (spins > 0) spins--; else Atomics.wait(w, 1, Atomics.load(w, 1), 50);
      }
      data[0] = bytes[0];
    }
    parentPort.postMessage(Number(process.hrtime.bigint() - t0));`;
  const worker = new Worker(code, { eval: true, workerData: { sab: ch.sab, n: N, spin } });
  const ns = await new Promise<number>((r) => worker.once('message', r));
  ch.close();
  await serving;
  await worker.terminate();
  if (served !== N) throw new Error(`served ${served} of ${N}`);
  return ns / N / 1000;
}

function directCall(): number {
  const bus = new Bus('pio');
  bus.register(0x3f8, 8, { read: (_o, d) => d.fill(0x60), write: () => {} });
  const data = new Uint8Array(1);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) bus.read(0x3fd, data);
  return Number(process.hrtime.bigint() - t0) / N / 1000;
}

/** CPL3: mov ecx, n; l: out 0x80, al; dec ecx; jnz l; mov al, 0x34; mov dx, 0x600; out dx, al; jmp $ */
function outLoop(n: number): Uint8Array {
  return Uint8Array.of(
    0xb9,
    n & 0xff,
    (n >> 8) & 0xff,
    (n >> 16) & 0xff,
    (n >>> 24) & 0xff,
    0xe6,
    0x80,
    0xff,
    0xc9,
    0x75,
    0xfa,
    0xb0,
    0x34,
    0x66,
    0xba,
    0x00,
    0x06,
    0xee,
    0xeb,
    0xfe,
  );
}

async function kvmSameThread(n: number): Promise<number> {
  const hv = await loadBackend('kvm');
  const { memory, release } = await createGuestMemory('kvm', [{ start: 0, size: 2 << 20 }]);
  const vm = await hv.createVm({ memory });
  const vcpu = vm.createVcpu(0);
  const bus = new Bus('pio');
  bus.register(0x80, 1, { read: (_o, d) => d.fill(0), write: () => {} });
  try {
    writeGdt(memory);
    writeIdentityPageTables(memory, { user: true });
    memory.writeBytes(0x100000, outLoop(n));
    vcpu.setCpuid(hv.supportedCpuid());
    const entry = { kind: 'raw64' as const, entry: 0x100000, stack: 0x8000, cpl3: true };
    vcpu.setSregs(bootSregs(vcpu.getSregs(), entry));
    vcpu.setRegs(bootRegs(entry));
    const t0 = process.hrtime.bigint();
    for (;;) {
      const e = vcpu.run();
      if (e.kind === 'io-out' && e.port === 0x80) bus.write(0x80, e.data.subarray(0, 1));
      else if (e.kind === 'io-out' && e.port === 0x600) break;
      else if (e.kind !== 'interrupted') throw new Error(`unexpected exit ${e.kind}`);
    }
    return Number(process.hrtime.bigint() - t0) / n / 1000;
  } finally {
    vcpu.close();
    vm.close();
    release();
  }
}

async function kvmVmm(n: number, threadLocalDevices: boolean): Promise<number> {
  const cfg = resolveConfig({ flags: { backend: 'kvm', memoryMib: 16, console: 'none' } });
  const vmm = await Vmm.create(cfg, {
    raw: { image: outLoop(n), cpl3: true },
    input: null,
    log: () => {},
    handleSignals: false,
    threadLocalDevices,
  });
  const t0 = process.hrtime.bigint();
  const r = await vmm.run();
  if (r.reason !== 'poweroff') throw new Error(`guest stopped: ${r.reason} ${r.detail ?? ''}`);
  return Number(process.hrtime.bigint() - t0) / n / 1000;
}

const fmt = (us: number) => `${us.toFixed(2)} us`;
const base = directCall();
const both = await channelRoundTrip(4000, 2000);
const vcpuOnly = await channelRoundTrip(4000, 0);
const wait = await channelRoundTrip(0, 0);
console.log(`device call on the same thread (baseline):        ${fmt(base)} per access`);
console.log(
  `channel, both sides spin then wait (default):     ${fmt(both)} per round trip (${(both / base).toFixed(0)}x)`,
);
console.log(
  `channel, vCPU spins, device side waitAsync only:  ${fmt(vcpuOnly)} per round trip (${(vcpuOnly / base).toFixed(0)}x)`,
);
console.log(
  `channel, both sides wait only:                    ${fmt(wait)} per round trip (${(wait / base).toFixed(0)}x)`,
);
if (hasKvm()) {
  // Per-exit cost as the slope between two guest runs, so VM start-up and teardown cancel out.
  const [n1, n2] = [5_000, 25_000];
  const slope = async (f: (n: number) => Promise<number>) =>
    ((await f(n2)) * n2 - (await f(n1)) * n1) / (n2 - n1);
  const same = await slope(kvmSameThread);
  const local = await slope((n) => kvmVmm(n, true));
  const via = await slope((n) => kvmVmm(n, false));
  console.log(`KVM port exit, bare loop on the vCPU thread (baseline): ${fmt(same)} per exit`);
  console.log(
    `KVM port exit, Vmm with thread-local legacy devices:    ${fmt(local)} per exit (${(local / same).toFixed(2)}x)`,
  );
  console.log(
    `KVM port exit, Vmm forwarding to the device thread:     ${fmt(via)} per exit (${(via / same).toFixed(2)}x)`,
  );
} else {
  console.log('skipped: KVM exit benchmarks (/dev/kvm not available)');
}
