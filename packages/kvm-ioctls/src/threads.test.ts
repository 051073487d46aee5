// Two vCPUs on two worker threads running at once on shared guest memory. The workers load the
// built dist/ of this package (tests run after the build).
import { Worker } from 'node:worker_threads';
import { DATA_ADDRESS, DONE_PORT, distUrl, GUEST_MEMORY_SIZE } from '@ts-vmm/hypervisor/testing';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasKvm, type KvmHypervisor, openKvm } from './backend/kvm-hypervisor.js';
import type { KvmVm } from './backend/kvm-vm.js';

const kvm = hasKvm();
if (!kvm) console.log('skipped: /dev/kvm not available');

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  const k = await import(workerData.index);
  const t = await import(workerData.testing);
  const hv = await k.openKvm();
  const vm = await hv.openVm(workerData.vm);
  const vcpu = vm.createVcpu(workerData.id);
  t.loadGuest(vm.memory, vcpu, t.counterGuest(workerData.address, workerData.count, workerData.port, workerData.entry));
  parentPort.postMessage({ type: 'ready', thread: vcpu.kicker().thread, kicker: vcpu.kicker() });
  Atomics.wait(new Int32Array(workerData.go), 0, 0);
  const start = performance.timeOrigin + performance.now();
  const exit = vcpu.run();
  const end = performance.timeOrigin + performance.now();
  const rip = vcpu.getRegs().rip;
  parentPort.postMessage({ type: 'done', kind: exit.kind, port: exit.port, start, end, rip });
  vcpu.close();
  vm.close();
  hv.close();
})().catch((e) => parentPort.postMessage({ type: 'error', message: String(e && e.stack || e) }));
`;

interface Done {
  type: 'done';
  kind: string;
  port: number;
  start: number;
  end: number;
}

describe.skipIf(!kvm)('vCPUs on worker threads', () => {
  let hv: KvmHypervisor;
  beforeAll(async () => {
    hv = await openKvm();
  });
  afterAll(() => hv?.close());

  it('two vCPUs on two workers run at once on shared memory', async () => {
    const mem = await GuestMemory.createMemfd([{ start: 0, size: GUEST_MEMORY_SIZE }]);
    const vm: KvmVm = await hv.createVm({ memory: mem });
    const go = new SharedArrayBuffer(4);
    const count = 30_000_000;
    const exited: Promise<unknown>[] = [];
    const ready: Promise<unknown>[] = [];
    const done: Promise<Done>[] = [];
    for (const id of [0, 1]) {
      const w = new Worker(WORKER, {
        eval: true,
        workerData: {
          index: distUrl('@ts-vmm/kvm-ioctls', import.meta.url, 'index.js'),
          testing: distUrl(
            '@ts-vmm/hypervisor',
            new URL('../node_modules/@ts-vmm/hypervisor/package.json', import.meta.url).href,
            'testing/index.js',
          ),
          vm: vm.shareable(),
          id,
          address: DATA_ADDRESS + id * 8,
          count,
          port: DONE_PORT + id,
          entry: 0x1000 + id * 0x800,
          go,
        },
      });
      exited.push(new Promise((r) => w.once('exit', r))); // attached now: a worker may exit early
      const messages = new Map<string, (m: unknown) => void>();
      ready.push(new Promise((r) => messages.set('ready', r)));
      done.push(new Promise((r) => messages.set('done', r as (m: unknown) => void)));
      const failed = new Promise<never>((_, reject) => {
        w.on('message', (m: { type: string; message?: string }) => {
          if (m.type === 'error') reject(new Error(m.message));
          messages.get(m.type)?.(m);
        });
        w.on('error', reject);
      });
      done[id] = Promise.race([done[id], failed]);
      ready[id] = Promise.race([ready[id], failed]);
    }
    const threads = (await Promise.all(ready)) as { thread: bigint }[];
    expect(threads[0].thread).not.toBe(threads[1].thread);
    Atomics.store(new Int32Array(go), 0, 1);
    Atomics.notify(new Int32Array(go), 0);
    const [a, b] = await Promise.all(done);
    await Promise.all(exited);

    expect(a).toMatchObject({ kind: 'io-out', port: DONE_PORT });
    expect(b).toMatchObject({ kind: 'io-out', port: DONE_PORT + 1 });
    // Each guest's counter, read through the main thread's mapping of the same memfd.
    expect(mem.read64(DATA_ADDRESS)).toBe(BigInt(count));
    expect(mem.read64(DATA_ADDRESS + 8)).toBe(BigInt(count));
    // The two runs overlapped in time: they ran at once.
    expect(a.start).toBeLessThan(b.end);
    expect(b.start).toBeLessThan(a.end);
    vm.close();
    mem.close();
  });
});
