// Micro-benchmarks of the addon's hot-path calls and of struct decoding, as ratios against a
// baseline measured in the same run (a trivial native call). Not a timed test.
import { existsSync } from 'node:fs';
import { hasKvm, isAddonAvailable, loadAddon } from '../src/addon.js';
import { KVM_CHECK_EXTENSION, KVM_GET_API_VERSION, O_RDWR } from '../src/ioctl-numbers.js';
import { KvmRegs, KvmSregs } from '../src/structs/regs.js';
import { decodeKvmRunExit, KVM_RUN_OFFSETS, KvmRun } from '../src/structs/run.js';

function time(fn: () => void, iterations: number): number {
  for (let i = 0; i < Math.min(iterations, 10_000); i++) fn(); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - start) / iterations;
}

const N = 200_000;
const results: [string, number][] = [];
const run = new Uint8Array(KvmRun.size);
const view = new DataView(run.buffer);
const regs = new Uint8Array(KvmRegs.size);
const sregs = new Uint8Array(KvmSregs.size);

let baseline: number;
let baselineName: string;
if (isAddonAvailable()) {
  const addon = loadAddon();
  baselineName = 'addon.currentThread() (trivial native call)';
  baseline = time(() => addon.currentThread(), N);
  if (hasKvm() && existsSync('/dev/kvm')) {
    const kvm = addon.open('/dev/kvm', O_RDWR);
    results.push([
      'ioctlFast(kvm, KVM_GET_API_VERSION)',
      time(() => addon.ioctlFast(kvm, KVM_GET_API_VERSION), N),
    ]);
    results.push(['ioctl(kvm, KVM_GET_API_VERSION)', time(() => addon.ioctl(kvm, KVM_GET_API_VERSION), N)]);
    results.push([
      'ioctl(kvm, KVM_CHECK_EXTENSION, 1)',
      time(() => addon.ioctl(kvm, KVM_CHECK_EXTENSION, 1), N),
    ]);
    addon.close(kvm);
  }
  const efd = addon.eventfd(0, 0o4000);
  results.push([
    'eventfdWrite + eventfdRead',
    time(() => {
      addon.eventfdWrite(efd, 1);
      addon.eventfdRead(efd);
    }, N),
  ]);
  addon.close(efd);
} else {
  baselineName = 'DataView.getUint32 of exit_reason (addon not available)';
  baseline = time(() => view.getUint32(KVM_RUN_OFFSETS.exit_reason, true), N);
}
results.push([
  'DataView read of kvm_run.exit_reason',
  time(() => view.getUint32(KVM_RUN_OFFSETS.exit_reason, true), N),
]);
results.push(['KvmRegs.decode', time(() => KvmRegs.decode(regs), N / 4)]);
results.push(['KvmSregs.decode', time(() => KvmSregs.decode(sregs), N / 10)]);
view.setUint32(KVM_RUN_OFFSETS.exit_reason, 2, true);
results.push(['decodeKvmRunExit (io)', time(() => decodeKvmRunExit(run), N / 4)]);

console.log(`baseline: ${baselineName} = 1.00`);
for (const [name, ns] of results) console.log(`${(ns / baseline).toFixed(2).padStart(8)}x  ${name}`);
