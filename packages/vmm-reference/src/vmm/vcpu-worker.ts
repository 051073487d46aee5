/**
 * The vCPU worker thread: opens the VM shared by the main thread, creates its vCPU, applies the
 * plan, reports the vCPU's kicker, waits for the start signal and runs {@link runVcpu}.
 *
 * Port/MMIO exits go to the main thread through an {@link ExitChannel}, except when this thread owns
 * the legacy devices (`local`, single-vCPU VMs): then COM1, i8042, RTC, debug-exit, ACPI power and
 * the boot timer answer on this thread, console bytes cross through {@link SharedByteRing}s, and
 * only virtio-mmio register accesses travel.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type BackendKind, captureVcpuState, restoreVcpuState } from '@ts-vmm/hypervisor';
import { saveDevices } from '../snapshot/devices.js';
import { BOOT_TIMER_ADDR, I8042_IRQ } from './address-map.js';
import { loadBackend } from './backend.js';
import { VmmError } from './errors.js';
import { ExitChannel, ExitKind, type ExitKindValue } from './exit-channel.js';
import type { StopReason } from './exit-codes.js';
import {
  BOOT_TIMER_SIZE,
  createLegacyDevices,
  type LegacyDevices,
  serialAcceptsInput,
} from './legacy-devices.js';
import { SharedByteRing } from './shared-byte-ring.js';
import { handleExit, runVcpu, type VcpuLoopHooks } from './vcpu-loop.js';
import { applyVcpuPlan, type VcpuPlan } from './vcpu-plan.js';
import { Control, type LocalDevicesSpec, type WorkerMessage } from './worker-protocol.js';

interface VcpuWorkerData {
  backend: BackendKind;
  vm: unknown;
  plan: VcpuPlan;
  channel: SharedArrayBuffer;
  control: SharedArrayBuffer;
  local?: LocalDevicesSpec;
}

const data = workerData as VcpuWorkerData;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

async function main(): Promise<void> {
  const control = new Int32Array(data.control);
  const channel = new ExitChannel(data.channel);
  const hv = await loadBackend(data.backend);
  if (!hv.openVm) throw new VmmError('backend', `the ${data.backend} backend cannot open a VM in a worker`);
  const vm = await hv.openVm(data.vm);
  const id = data.plan.id;
  const stop = (reason: StopReason, detail?: string, code?: number) => {
    if (Atomics.load(control, Control.STOP)) return;
    Atomics.store(control, Control.STOP, 1);
    post({ type: 'stop', id, reason, detail, code });
  };

  let legacy: LegacyDevices | undefined;
  let serialIrq: { close(): void } | undefined;
  let kbdIrq: { close(): void } | undefined;
  let pendingOut: Uint8Array | undefined;
  let output: SharedByteRing | undefined;
  let input: SharedByteRing | undefined;
  if (data.local) {
    output = new SharedByteRing(data.local.output);
    input = new SharedByteRing(data.local.input);
    const out = output;
    const irq = vm.createInterruptLine(4);
    serialIrq = irq;
    const kbd = vm.createInterruptLine(I8042_IRQ);
    kbdIrq = kbd;
    legacy = createLegacyDevices({
      serialIrq: irq,
      kbdIrq: kbd,
      sink: data.local.serialOutput
        ? {
            write: (chunk: Uint8Array) => {
              const n = out.write(chunk);
              if (n < chunk.length) pendingOut = chunk.slice(n);
              return n === chunk.length;
            },
          }
        : undefined,
      hooks: { stop, log: (line) => post({ type: 'log', id, line }) },
      serialInputTimer: false, // this thread's timers do not run while the guest does: poll() ticks
    });
  }
  const inputRing = input;
  const serial = legacy?.serial;
  const poll = () => {
    if (pendingOut && output) {
      const n = output.write(pendingOut);
      pendingOut = n < pendingOut.length ? pendingOut.subarray(n) : undefined;
      if (!pendingOut) serial?.resume();
    }
    if (inputRing && serial) {
      const seq = Atomics.load(control, Control.INPUT_SEQ);
      let waiting = 0;
      if (inputRing.available > 0 || serial.pendingInput > 0) {
        const open = !data.local?.gateInput || serialAcceptsInput(serial);
        if (open && inputRing.available > 0) {
          const bytes = inputRing.peek(serial.inputSpace);
          if (bytes.length) inputRing.consume(serial.enqueueInput(bytes));
        }
        serial.tick(); // paced input that has arrived by now goes into the FIFO
        waiting = serial.pendingInput + (open ? inputRing.available : 0);
      }
      Atomics.store(control, Control.INPUT_PENDING, waiting);
      Atomics.store(control, Control.INPUT_SEEN, seq);
    }
  };

  const io = (
    kind: ExitKindValue,
    address: number,
    size: number,
    count: number,
    bytes: Uint8Array,
  ): boolean => {
    if (legacy) {
      const n = Math.max(count, 1);
      if (kind === ExitKind.PIO_READ) {
        for (let i = 0; i < n; i++) legacy.pio.read(address, bytes.subarray(i * size, (i + 1) * size));
        if (address >= 0x3f8 && address < 0x400) poll();
        return true;
      }
      if (kind === ExitKind.PIO_WRITE) {
        for (let i = 0; i < n; i++) legacy.pio.write(address, bytes.subarray(i * size, (i + 1) * size));
        return !Atomics.load(control, Control.STOP);
      }
      if (address >= BOOT_TIMER_ADDR && address < BOOT_TIMER_ADDR + BOOT_TIMER_SIZE) {
        if (kind === ExitKind.MMIO_READ) legacy.mmio.read(address, bytes.subarray(0, size));
        else legacy.mmio.write(address, bytes.subarray(0, size));
        return true;
      }
    }
    return channel.call(kind, address, size, count, bytes);
  };

  const vcpu = vm.createVcpu(id);
  /**
   * A pause: finish the I/O exit KVM is in the middle of (a run with immediate exit completes it
   * and returns at once), capture the vCPU and the devices this thread owns, report them, and
   * wait for PAUSE to be cleared.
   */
  const pausePoint = () => {
    if (Atomics.load(control, Control.PAUSE) === 0) return;
    vcpu.setImmediateExit(true);
    try {
      handleExit(id, vcpu.run(), hooks, pauseStats);
    } finally {
      vcpu.setImmediateExit(false);
    }
    serial?.flush();
    poll();
    const caps = hv.capabilities;
    const state = captureVcpuState(hv, vcpu, {
      irqchip: caps.irqchip,
      pit: caps.pit,
      cpuid: data.plan.cpuid.map((e) => ({
        ...e,
        eax: e.eax >>> 0,
        ebx: e.ebx >>> 0,
        ecx: e.ecx >>> 0,
        edx: e.edx >>> 0,
      })),
    });
    // until resumed: RESUME_SEQ moves on (PAUSE may be set again at once, for the next pause)
    const seq = Atomics.load(control, Control.RESUME_SEQ);
    post({ type: 'paused', id, state, devices: legacy ? saveDevices(legacy) : undefined });
    while (Atomics.load(control, Control.RESUME_SEQ) === seq && Atomics.load(control, Control.STOP) === 0)
      Atomics.wait(control, Control.RESUME_SEQ, seq, 100);
  };
  const pauseStats = { exits: 0, io: 0, mmio: 0 };
  const hooks: VcpuLoopHooks = {
    io,
    stopping: () => Atomics.load(control, Control.STOP) !== 0,
    idle: () => {
      Atomics.wait(control, Control.STOP, 0, 1);
    },
    stop: (reason, detail) => stop(reason, detail),
    poll: legacy ? poll : undefined,
    pausePoint,
  };
  try {
    if (data.plan.restore) restoreVcpuState(hv, vcpu, data.plan.restore);
    else applyVcpuPlan(vcpu, data.plan);
    post({ type: 'ready', id, kicker: vcpu.kicker() });
    while (Atomics.load(control, Control.START) === 0 && Atomics.load(control, Control.STOP) === 0) {
      Atomics.wait(control, Control.START, 0, 100);
    }
    const stats = runVcpu(vcpu, hooks);
    if (serial) {
      serial.flush();
      poll();
    }
    post({ type: 'exited', id, stats, consoleDropped: serial?.droppedOutputBytes });
  } finally {
    vcpu.close();
    serialIrq?.close();
    kbdIrq?.close();
    vm.close();
    (hv as { close?: () => void }).close?.();
  }
}

main().catch((e: Error) => {
  const id = data.plan?.id ?? -1;
  post({ type: 'stop', id, reason: 'error', detail: e.message });
  post({ type: 'exited', id, stats: { exits: 0, io: 0, mmio: 0 } });
});
