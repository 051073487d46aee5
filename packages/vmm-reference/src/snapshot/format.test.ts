import { captureVcpuState, captureVmState } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { EmulatedHypervisor } from '@ts-vmm/x86-emulator';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { VmmError } from '../vmm/errors.js';
import {
  crc32,
  decodeSnapshotState,
  encodeSnapshotState,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_HEADER_SIZE,
  type SnapshotState,
  type StateValue,
} from './format.js';

let base: SnapshotState;

beforeAll(async () => {
  // a real state: one captured from an emulated VM with irqchip and PIT
  const hv = new EmulatedHypervisor({ deterministic: true });
  const memory = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
  const vm = await hv.createVm({ memory });
  vm.createIrqchip();
  vm.createPit();
  const vcpu = vm.createVcpu(0);
  base = {
    backend: 'emulated',
    vcpus: [captureVcpuState(hv, vcpu, { irqchip: true })],
    vm: captureVmState(vm, { irqchip: true, pit: true }),
    devices: { serial0: { ier: 1, fifo: new Uint8Array([65, 66]), big: 1n << 63n, list: [null, true, 'x'] } },
    memory: { file: 'memory', size: 1 << 20, pageSize: 4096, pages: [[0, 16]], kind: 'full' },
  };
  vcpu.close();
  vm.close();
});

function snapshotError(f: () => unknown): VmmError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(VmmError);
    expect((e as VmmError).kind).toBe('snapshot');
    return e as VmmError;
  }
  throw new Error('expected a VmmError');
}

const stateValue: fc.Arbitrary<StateValue> = fc.letrec<{ v: StateValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.string(),
    fc.bigInt({ min: -(1n << 100n), max: 1n << 100n }),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(
      fc.string({ minLength: 1 }).filter((k) => !k.startsWith('$') && k !== '__proto__'),
      tie('v'),
      { maxKeys: 4 },
    ),
  ),
})).v;

describe('snapshot state file', () => {
  it('CRC-32 is the IEEE one', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('round-trips a captured state exactly (bigints, bytes, device states)', () => {
    const back = decodeSnapshotState(encodeSnapshotState(base));
    expect(back).toEqual(base);
  });

  it('round-trips random register values, MSRs and device states', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.array(
          fc.record({ index: fc.nat(0xffff_ffff), data: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
          {
            maxLength: 8,
          },
        ),
        fc.dictionary(
          fc.string({ minLength: 1 }).filter((k) => k !== '__proto__'),
          stateValue,
          { maxKeys: 3 },
        ),
        (rip, msrs, devices) => {
          const s: SnapshotState = {
            ...base,
            vcpus: [{ ...base.vcpus[0], regs: { ...base.vcpus[0].regs, rip }, msrs }],
            devices,
          };
          expect(decodeSnapshotState(encodeSnapshotState(s))).toEqual(s);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('names the problem: truncated, bad magic, version, checksum, trailing bytes', () => {
    const file = encodeSnapshotState(base);
    expect(snapshotError(() => decodeSnapshotState(file.subarray(0, 10))).message).toMatch(/truncated/);
    expect(snapshotError(() => decodeSnapshotState(file.subarray(0, file.length - 1))).message).toMatch(
      /truncated: the body is/,
    );
    const magic = file.slice();
    magic[0] ^= 1;
    expect(snapshotError(() => decodeSnapshotState(magic)).message).toMatch(/bad magic/);
    const version = file.slice();
    new DataView(version.buffer).setUint32(8, SNAPSHOT_FORMAT_VERSION + 1, true);
    expect(snapshotError(() => decodeSnapshotState(version)).message).toContain(
      `unsupported format version ${SNAPSHOT_FORMAT_VERSION + 1} (this build reads ${SNAPSHOT_FORMAT_VERSION})`,
    );
    const body = file.slice();
    body[SNAPSHOT_HEADER_SIZE + 5] ^= 0x20;
    expect(snapshotError(() => decodeSnapshotState(body)).message).toMatch(/checksum mismatch/);
    const longer = new Uint8Array(file.length + 3);
    longer.set(file);
    expect(snapshotError(() => decodeSnapshotState(longer)).message).toMatch(/3 bytes after/);
  });

  it('names a malformed field, even under a valid checksum', () => {
    const bad = (mutate: (s: Record<string, unknown>) => void): string => {
      const file = encodeSnapshotState(base);
      const json = JSON.parse(new TextDecoder().decode(file.subarray(SNAPSHOT_HEADER_SIZE)));
      mutate(json);
      const body = new TextEncoder().encode(JSON.stringify(json));
      const out = new Uint8Array(SNAPSHOT_HEADER_SIZE + body.length);
      out.set(file.subarray(0, SNAPSHOT_HEADER_SIZE));
      const dv = new DataView(out.buffer);
      dv.setBigUint64(16, BigInt(body.length), true);
      dv.setUint32(24, crc32(body), true);
      out.set(body, SNAPSHOT_HEADER_SIZE);
      return snapshotError(() => decodeSnapshotState(out)).message;
    };
    expect(bad((s) => delete (s.vcpus as { regs: Record<string, unknown> }[])[0].regs.rip)).toContain(
      'malformed field vcpus[0].regs.rip: is missing',
    );
    expect(bad((s) => ((s.vcpus as { mpState: unknown }[])[0].mpState = 'x'))).toContain(
      'malformed field vcpus[0].mpState',
    );
    expect(bad((s) => ((s.vm as { pit: { channels: unknown[] } }).pit.channels.length = 2))).toContain(
      'malformed field vm.pit.channels: expected 3 entries, found 2',
    );
    expect(bad((s) => ((s.memory as { pages: unknown }).pages = [[0, 9999]]))).toContain('memory.pages[0]');
    expect(bad((s) => ((s as { extra?: number }).extra = 1))).toContain('malformed field extra');
  });

  it('any truncation or bit flip gives a snapshot error, never another exception or a wrong state', () => {
    const file = encodeSnapshotState(base);
    fc.assert(
      fc.property(fc.nat(file.length - 1), fc.nat(7), fc.boolean(), (at, bit, truncate) => {
        const bytes = truncate ? file.subarray(0, at) : file.slice();
        if (!truncate) bytes[at] ^= 1 << bit;
        let state: SnapshotState | undefined;
        try {
          state = decodeSnapshotState(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(VmmError);
          expect((e as VmmError).kind).toBe('snapshot');
          return;
        }
        // a flip the format cannot see (none should exist: the CRC covers the body, the rest is checked)
        expect(state).toEqual(base);
      }),
      { numRuns: 400 },
    );
  });

  it('refuses to write a state it could not read back', () => {
    const s = { ...base, memory: { ...base.memory, pageSize: 3000 } };
    expect(snapshotError(() => encodeSnapshotState(s)).message).toContain('memory.pageSize');
  });
});
