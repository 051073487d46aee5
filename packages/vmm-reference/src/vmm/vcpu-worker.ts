/**
 * The vCPU worker thread: opens the VM shared by the main thread, creates its vCPU, applies the
 * plan, reports the vCPU's kicker, waits for the start signal and runs {@link runVcpu}. Port/MMIO
 * exits go to the main thread through an {@link ExitChannel}.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BackendKind } from '@ts-vmm/kvm-ioctls';
import { loadBackend } from './backend.js';
import { ExitChannel } from './exit-channel.js';
import { runVcpu } from './vcpu-loop.js';
import { applyVcpuPlan, type VcpuPlan } from './vcpu-plan.js';
import { Control, type WorkerMessage } from './worker-protocol.js';

interface VcpuWorkerData {
  backend: BackendKind;
  vm: unknown;
  plan: VcpuPlan;
  channel: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

const data = workerData as VcpuWorkerData;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

async function main(): Promise<void> {
  const control = new Int32Array(data.control);
  const channel = new ExitChannel(data.channel);
  const hv = await loadBackend(data.backend);
  if (!hv.openVm) throw new Error(`the ${data.backend} backend cannot open a VM in a worker`);
  const vm = await hv.openVm(data.vm);
  const vcpu = vm.createVcpu(data.plan.id);
  try {
    applyVcpuPlan(vcpu, data.plan);
    post({ type: 'ready', id: data.plan.id, kicker: vcpu.kicker() });
    while (Atomics.load(control, Control.START) === 0 && Atomics.load(control, Control.STOP) === 0) {
      Atomics.wait(control, Control.START, 0, 100);
    }
    const stats = runVcpu(vcpu, {
      io: (kind, address, size, count, bytes) => channel.call(kind, address, size, count, bytes),
      stopping: () => Atomics.load(control, Control.STOP) !== 0,
      idle: () => {
        Atomics.wait(control, Control.STOP, 0, 1);
      },
      stop: (reason, detail) => post({ type: 'stop', id: data.plan.id, reason, detail }),
    });
    post({ type: 'exited', id: data.plan.id, stats });
  } finally {
    vcpu.close();
    vm.close();
    (hv as { close?: () => void }).close?.();
  }
}

main().catch((e: Error) => {
  post({ type: 'stop', id: data.plan?.id ?? -1, reason: 'error', detail: e.message });
  post({ type: 'exited', id: data.plan?.id ?? -1, stats: { exits: 0, io: 0, mmio: 0 } });
});
