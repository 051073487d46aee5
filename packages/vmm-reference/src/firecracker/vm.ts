/**
 * The real {@link StartVm}: a {@link Vmm} whose console is the process's stdin and stdout (as
 * Firecracker's serial console is), with its i8042 on the main thread so `SendCtrlAltDel` reaches it.
 *
 * @module
 */
import { Block, Net } from '@ts-vmm/devices';
import { Vmm, type VmmOptions } from '../vmm/vmm.js';
import type { StartVm } from './instance.js';
import type { VmCounters } from './metrics.js';

/**
 * The counters of a VM: vCPU exits, block bytes and requests, net frames.
 * @example const c = vmCounters(vmm); c.vcpu.exits
 */
export function vmCounters(vmm: Vmm): VmCounters {
  const c: VmCounters = {
    vcpu: { exits: 0, exit_io: 0, exit_mmio: 0 },
    block: { read_bytes: 0, write_bytes: 0, requests: 0, errors: 0 },
    net: { rx_packets_count: 0, tx_packets_count: 0, rx_dropped: 0, tx_dropped: 0 },
  };
  for (const s of vmm.stats) {
    if (!s) continue;
    c.vcpu.exits += s.exits;
    c.vcpu.exit_io += s.io;
    c.vcpu.exit_mmio += s.mmio;
  }
  for (const w of vmm.machine.virtio) {
    const d = w.transport.device;
    if (d instanceof Block) {
      c.block.read_bytes += d.stats.readBytes;
      c.block.write_bytes += d.stats.writtenBytes;
      c.block.requests += d.stats.requests;
      c.block.errors += d.stats.errors;
    } else if (d instanceof Net) {
      c.net.rx_packets_count += d.stats.rxFrames;
      c.net.tx_packets_count += d.stats.txFrames;
      c.net.rx_dropped += d.stats.rxDropped;
      c.net.tx_dropped += d.stats.txDropped;
    }
  }
  return c;
}

/**
 * Starts VMs with {@link Vmm}; `options` go to {@link Vmm.create} (console streams, signals).
 *
 * @example
 * ```ts
 * const inst = new FirecrackerInstance({ startVm: firecrackerStartVm({ input: null }) });
 * ```
 */
export function firecrackerStartVm(options: Omit<VmmOptions, 'log' | 'threadLocalDevices'> = {}): StartVm {
  return async (config, log) => {
    const vmm = await Vmm.create(config, { ...options, log, threadLocalDevices: false });
    return {
      result: vmm.run(),
      sendCtrlAltDel: () => vmm.sendCtrlAltDel(),
      counters: () => vmCounters(vmm),
    };
  };
}
