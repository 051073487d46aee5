// VcpuFd.run() exit decoding against a fake addon whose KVM_RUN writes a chosen exit into the
// "mapped" kvm_run: every exit reason, reply write-back, and arbitrary IO/MMIO contents (fast-check).

import * as K from '@ts-vmm/kvm-sys';
import { KVM_RUN_OFFSETS as O } from '@ts-vmm/kvm-sys';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KvmError } from './errors.js';
import type { NativeAddon } from './sys.js';
import { VcpuFd } from './vcpu-fd.js';

/** A fake addon: mmap gives a zeroed 12 KiB buffer; ioctlFast runs `next` against it. */
function fakeVcpu() {
  const run = new ArrayBuffer(3 * 4096);
  const view = new DataView(run);
  const bytes = new Uint8Array(run);
  const state = {
    next: (_v: DataView, _b: Uint8Array): number => 0,
    seen: [] as Uint8Array[],
  };
  const sys = {
    mmap: () => run,
    munmap: () => {},
    close: () => {},
    installKickSignal: () => 38,
    currentThread: () => 1n,
    ioctlFast: (_fd: number, req: number) => {
      expect(req).toBe(K.KVM_RUN);
      state.seen.push(bytes.slice(0, 512));
      return state.next(view, bytes);
    },
  } as unknown as NativeAddon;
  const vcpu = VcpuFd.wrap(sys, 100, 0, run.byteLength);
  return { vcpu, view, bytes, state };
}

function exitWith(reason: number, fill: (v: DataView, b: Uint8Array) => void) {
  return (v: DataView, b: Uint8Array) => {
    b.fill(0, 8, 288);
    v.setUint32(O.exit_reason, reason, true);
    fill(v, b);
    return 0;
  };
}

describe('VcpuFd.run() exit decoding', () => {
  it('decodes arbitrary PIO exits with a data view into kvm_run at data_offset', () => {
    const { vcpu, state, bytes } = fakeVcpu();
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.constantFrom(1, 2, 4),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.constantFrom(4096, 4096 + 512),
        (out, size, count, port, dataOffset) => {
          state.next = exitWith(K.KVM_EXIT_IO, (v, b) => {
            b[O.io_direction] = out ? 1 : 0;
            b[O.io_size] = size;
            v.setUint16(O.io_port, port, true);
            v.setUint32(O.io_count, count, true);
            v.setBigUint64(O.io_data_offset, BigInt(dataOffset), true);
            for (let i = 0; i < size * count; i++) b[dataOffset + i] = (i * 7 + 1) & 0xff;
          });
          const e = vcpu.run();
          expect(e.kind).toBe(out ? 'io-out' : 'io-in');
          if (e.kind !== 'io-out' && e.kind !== 'io-in') return;
          expect([e.port, e.size, e.count, e.data.length]).toEqual([port, size, count, size * count]);
          expect(e.data.byteOffset).toBe(dataOffset);
          expect(e.data.buffer).toBe(bytes.buffer); // a view, not a copy
          for (let i = 0; i < e.data.length; i++) expect(e.data[i]).toBe((i * 7 + 1) & 0xff);
        },
      ),
    );
  });

  it('decodes arbitrary MMIO exits, reusing one object per kind', () => {
    const { vcpu, state } = fakeVcpu();
    let lastRead: unknown;
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 2 ** 52 - 1 }),
        (write, len, addr) => {
          state.next = exitWith(K.KVM_EXIT_MMIO, (v, b) => {
            v.setBigUint64(O.mmio_phys_addr, BigInt(addr), true);
            v.setUint32(O.mmio_len, len, true);
            b[O.mmio_is_write] = write ? 1 : 0;
            for (let i = 0; i < 8; i++) b[O.mmio_data + i] = 0xa0 + i;
          });
          const e = vcpu.run();
          expect(e).toMatchObject({ kind: write ? 'mmio-write' : 'mmio-read', address: addr, size: len });
          if (e.kind !== 'mmio-write' && e.kind !== 'mmio-read') return;
          expect([...e.data]).toEqual([0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7].slice(0, len));
          if (!write) {
            if (lastRead) expect(e).toBe(lastRead);
            lastRead = e;
          }
        },
      ),
    );
  });

  it('repeated single PIO and MMIO exits reuse the same exit objects and data views (no allocation)', () => {
    const { vcpu, state } = fakeVcpu();
    const pio = exitWith(K.KVM_EXIT_IO, (v, b) => {
      b[O.io_direction] = 1;
      b[O.io_size] = 1;
      v.setUint16(O.io_port, 0x3f8, true);
      v.setUint32(O.io_count, 1, true);
      v.setBigUint64(O.io_data_offset, 4096n, true);
    });
    const mmio = exitWith(K.KVM_EXIT_MMIO, (v, b) => {
      v.setUint32(O.mmio_len, 4, true);
      b[O.mmio_is_write] = 1;
    });
    state.next = pio;
    const firstPio = vcpu.run();
    const firstPioData = (firstPio as { data: Uint8Array }).data;
    state.next = mmio;
    const firstMmio = vcpu.run();
    const firstMmioData = (firstMmio as { data: Uint8Array }).data;
    for (let i = 0; i < 100; i++) {
      state.next = pio;
      const p = vcpu.run();
      expect(p).toBe(firstPio);
      expect((p as { data: Uint8Array }).data).toBe(firstPioData);
      state.next = mmio;
      const m = vcpu.run();
      expect(m).toBe(firstMmio);
      expect((m as { data: Uint8Array }).data).toBe(firstMmioData);
    }
  });

  it('an MMIO read answer written into data lands in kvm_run.mmio.data', () => {
    const { vcpu, state, bytes } = fakeVcpu();
    state.next = exitWith(K.KVM_EXIT_MMIO, (v) => v.setUint32(O.mmio_len, 4, true));
    const e = vcpu.run();
    if (e.kind !== 'mmio-read') throw new Error(e.kind);
    e.data.set([1, 2, 3, 4]);
    expect([...bytes.subarray(O.mmio_data, O.mmio_data + 4)]).toEqual([1, 2, 3, 4]);
  });

  it('decodes the other x86 exits', () => {
    const { vcpu, state } = fakeVcpu();
    const cases: [number, (v: DataView, b: Uint8Array) => void, object][] = [
      [K.KVM_EXIT_HLT, () => {}, { kind: 'hlt' }],
      [K.KVM_EXIT_SHUTDOWN, () => {}, { kind: 'shutdown' }],
      [K.KVM_EXIT_INTR, () => {}, { kind: 'interrupted' }],
      [K.KVM_EXIT_IRQ_WINDOW_OPEN, () => {}, { kind: 'irq-window-open' }],
      [K.KVM_EXIT_NMI, () => {}, { kind: 'nmi' }],
      [K.KVM_EXIT_SET_TPR, () => {}, { kind: 'set-tpr' }],
      [K.KVM_EXIT_DIRTY_RING_FULL, () => {}, { kind: 'dirty-ring-full' }],
      [K.KVM_EXIT_AP_RESET_HOLD, () => {}, { kind: 'ap-reset-hold' }],
      [K.KVM_EXIT_X86_BUS_LOCK, () => {}, { kind: 'bus-lock' }],
      [
        K.KVM_EXIT_DEBUG,
        (v) => {
          v.setUint32(O.debug_arch_exception, 1, true);
          v.setBigUint64(O.debug_arch_pc, 0x1003n, true);
          v.setBigUint64(O.debug_arch_dr6, 0xffff4ff0n, true);
          v.setBigUint64(O.debug_arch_dr7, 0x400n, true);
        },
        { kind: 'debug', exception: 1, pc: 0x1003n, dr6: 0xffff4ff0n, dr7: 0x400n },
      ],
      [
        K.KVM_EXIT_EXCEPTION,
        (v) => {
          v.setUint32(O.ex_exception, 13, true);
          v.setUint32(O.ex_error_code, 0x18, true);
        },
        { kind: 'exception', vector: 13, errorCode: 0x18 },
      ],
      [
        K.KVM_EXIT_FAIL_ENTRY,
        (v) => {
          v.setBigUint64(O.fail_entry_hardware_entry_failure_reason, 0x21n, true);
          v.setUint32(O.fail_entry_cpu, 3, true);
        },
        { kind: 'fail-entry', reason: 0x21n, cpu: 3 },
      ],
      [
        K.KVM_EXIT_SYSTEM_EVENT,
        (v) => {
          v.setUint32(O.system_event_type, 2, true);
          v.setUint32(O.system_event_ndata, 1, true);
          v.setBigUint64(O.system_event_data, 7n, true);
        },
        { kind: 'system-event', type: 'reset', code: 2, data: [7n] },
      ],
      [
        K.KVM_EXIT_INTERNAL_ERROR,
        (v, b) => {
          v.setUint32(O.internal_suberror, 1, true);
          v.setUint32(O.internal_ndata, 3, true);
          v.setBigUint64(O.emulation_failure_flags, 1n, true);
          b[O.emulation_failure_insn_size] = 3;
          b.set([0xf0, 0x0f, 0xc7], O.emulation_failure_insn_bytes);
        },
        {
          kind: 'internal-error',
          suberror: 1,
          message: 'emulation failure',
          bytes: Uint8Array.of(0xf0, 0x0f, 0xc7),
        },
      ],
      [K.KVM_EXIT_IOAPIC_EOI, (_v, b) => (b[O.eoi_vector] = 0x31), { kind: 'ioapic-eoi', vector: 0x31 }],
      [
        K.KVM_EXIT_TPR_ACCESS,
        (v) => {
          v.setBigUint64(O.tpr_access_rip, 0x2000n, true);
          v.setUint32(O.tpr_access_is_write, 1, true);
        },
        { kind: 'tpr-access', rip: 0x2000n, isWrite: true },
      ],
      [K.KVM_EXIT_NOTIFY, (v) => v.setUint32(O.notify_flags, 1, true), { kind: 'notify', flags: 1 }],
      [
        K.KVM_EXIT_MEMORY_FAULT,
        (v) => {
          v.setBigUint64(O.memory_fault_flags, 8n, true);
          v.setBigUint64(O.memory_fault_gpa, 0x5000n, true);
          v.setBigUint64(O.memory_fault_size, 0x1000n, true);
        },
        { kind: 'memory-fault', flags: 8n, address: 0x5000n, size: 0x1000n },
      ],
      [K.KVM_EXIT_HYPERV, (_v, b) => (b[O.exit] = 1), { kind: 'hyperv' }],
      [K.KVM_EXIT_XEN, () => {}, { kind: 'xen' }],
      [
        12345,
        (v) => v.setBigUint64(O.hw_hardware_exit_reason, 0x30n, true),
        { kind: 'unknown', reason: 12345, hardwareReason: 0x30n },
      ],
    ];
    for (const [reason, fill, expected] of cases) {
      state.next = exitWith(reason, fill);
      expect(vcpu.run(), `exit reason ${reason}`).toMatchObject(expected);
    }
  });

  it('writes rdmsr / wrmsr / hypercall replies back before the next KVM_RUN', () => {
    const { vcpu, state } = fakeVcpu();
    state.next = exitWith(K.KVM_EXIT_X86_RDMSR, (v) => {
      v.setUint32(O.msr_index, 0x1234, true);
      v.setUint32(O.msr_reason, 2, true);
    });
    const rd = vcpu.run();
    expect(rd).toMatchObject({ kind: 'rdmsr', index: 0x1234, reason: 2, error: false });
    if (rd.kind !== 'rdmsr') return;
    rd.data = 0xdead_beef_0000_0001n;
    state.next = exitWith(K.KVM_EXIT_X86_WRMSR, (v) => {
      v.setUint32(O.msr_index, 0x10, true);
      v.setBigUint64(O.msr_data, 5n, true);
    });
    const before = state.seen.length;
    const wr = vcpu.run();
    const atEntry = new DataView(state.seen[before].buffer);
    expect(atEntry.getBigUint64(O.msr_data, true)).toBe(0xdead_beef_0000_0001n);
    expect(atEntry.getUint8(O.msr_error)).toBe(0);
    expect(wr).toMatchObject({ kind: 'wrmsr', index: 0x10, data: 5n });
    if (wr.kind !== 'wrmsr') return;
    wr.error = true;
    state.next = exitWith(K.KVM_EXIT_HYPERCALL, (v) => {
      v.setBigUint64(O.hypercall_nr, 9n, true);
      v.setBigUint64(O.hypercall_args + 8, 2n, true);
      v.setUint32(O.hypercall_longmode, 1, true);
    });
    const hc = vcpu.run();
    expect(new DataView(state.seen[before + 1].buffer).getUint8(O.msr_error)).toBe(1);
    expect(hc).toMatchObject({ kind: 'hypercall', nr: 9n, args: [0n, 2n, 0n, 0n, 0n, 0n], longMode: true });
    if (hc.kind !== 'hypercall') return;
    hc.ret = 42n;
    state.next = exitWith(K.KVM_EXIT_HLT, () => {});
    vcpu.run();
    expect(new DataView(state.seen[before + 2].buffer).getBigUint64(O.hypercall_ret, true)).toBe(42n);
  });

  it('EINTR and immediate_exit: interrupted, and immediate_exit is cleared', () => {
    const { vcpu, state, bytes } = fakeVcpu();
    vcpu.setImmediateExit(true);
    expect(bytes[O.immediate_exit]).toBe(1);
    state.next = () => -4;
    expect(vcpu.run().kind).toBe('interrupted');
    expect(bytes[O.immediate_exit]).toBe(0);
  });

  it('a failing KVM_RUN throws a KvmError naming the vCPU', () => {
    const { vcpu, state } = fakeVcpu();
    state.next = () => {
      throw Object.assign(new Error('ioctl failed'), { errno: 14, code: 'EFAULT', syscall: 'ioctl' });
    };
    expect(() => vcpu.run()).toThrowError(
      new KvmError('syscall', 'KVM_RUN vCPU 0', 'EFAULT', 14, 'Bad address'),
    );
  });
});
