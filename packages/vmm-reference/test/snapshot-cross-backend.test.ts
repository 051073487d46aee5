// A guest computing a checksum over a memory area is stopped halfway, its vCPU and VM state
// captured (and passed through the state-file codec) and its memory copied, then restored into a
// fresh VM on the same backend and on the other one; it must finish with the checksum of an
// uninterrupted run (and of the same computation done here in TypeScript).
import {
  captureVcpuState,
  captureVmState,
  type Hypervisor,
  intersectCpuid,
  restoreVcpuState,
  restoreVmState,
  type Vcpu,
  type Vm,
} from '@ts-vmm/hypervisor';
import { DATA_ADDRESS, GUEST_MEMORY_SIZE, loadGuest } from '@ts-vmm/hypervisor/testing';
import { hasKvm, openKvm } from '@ts-vmm/kvm-ioctls';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { EmulatedHypervisor } from '@ts-vmm/x86-emulator';
import { describe, expect, it } from 'vitest';
import { decodeSnapshotState, encodeSnapshotState, type SnapshotState } from '../src/snapshot/format.js';

const kvm = hasKvm();
if (!kvm) console.log('skipped: snapshot restores to and from KVM (/dev/kvm not available)');

/** Dwords summed. */
const N = 0x4000;
/** The guest reports `out 0x11` when this many dwords are left: the snapshot point. */
const HALF = N / 2;
const HALF_PORT = 0x11;
const DONE_PORT = 0x10;

const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/**
 * 64-bit, CPL3 (fast on a paravirtual KVM):
 * ```
 *   mov esi, DATA ; xor eax, eax ; mov ecx, N ; pxor xmm1, xmm1
 * L: mov edx, [rsi] ; add eax, edx ; rol eax, 5 ; xor eax, ecx
 *   movd xmm0, eax ; paddd xmm1, xmm0 ; add rsi, 4 ; dec ecx
 *   cmp ecx, HALF ; jne S ; out 0x11, al
 * S: test ecx, ecx ; jnz L
 *   movd edx, xmm1 ; xor eax, edx ; out 0x10, eax ; jmp $
 * ```
 */
function checksumGuest(): Uint8Array {
  const head = [0xbe, ...u32(DATA_ADDRESS), 0x31, 0xc0, 0xb9, ...u32(N), 0x66, 0x0f, 0xef, 0xc9];
  const body = [
    0x8b, 0x16, 0x01, 0xd0, 0xc1, 0xc0, 0x05, 0x31, 0xc8,
    0x66, 0x0f, 0x6e, 0xc0, 0x66, 0x0f, 0xfe, 0xc8, 0x48, 0x83, 0xc6, 0x04, 0xff, 0xc9,
    0x81, 0xf9, ...u32(HALF), 0x75, 0x02, 0xe6, HALF_PORT,
    0x85, 0xc9,
  ]; // biome-ignore format: assembly
  const back = -(body.length + 2);
  const tail = [0x75, back & 0xff, 0x66, 0x0f, 0x7e, 0xca, 0x31, 0xd0, 0xe7, DONE_PORT, 0xeb, 0xfe];
  return Uint8Array.from([...head, ...body, ...tail]);
}

function data(): Uint8Array {
  const out = new Uint8Array(N * 4);
  let x = 0x12345678;
  for (let i = 0; i < out.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** The same computation in TypeScript. */
function expectedChecksum(bytes: Uint8Array): number {
  const dv = new DataView(bytes.buffer);
  let eax = 0;
  let xmm = 0;
  for (let ecx = N, i = 0; ecx > 0; i++) {
    eax = (eax + dv.getUint32(i * 4, true)) >>> 0;
    eax = ((eax << 5) | (eax >>> 27)) >>> 0;
    eax = (eax ^ ecx) >>> 0;
    xmm = (xmm + eax) >>> 0;
    ecx--;
  }
  return (eax ^ xmm) >>> 0;
}

type Kind = 'emulated' | 'kvm';
interface Machine {
  hv: Hypervisor;
  vm: Vm;
  vcpu: Vcpu;
  memory: GuestMemory;
  cpuid?: ReturnType<Hypervisor['supportedCpuid']>;
}

const hypervisors = new Map<Kind, Hypervisor>();
async function hypervisor(kind: Kind): Promise<Hypervisor> {
  let hv = hypervisors.get(kind);
  if (!hv) {
    hv = kind === 'kvm' ? await openKvm() : new EmulatedHypervisor({ deterministic: true });
    hypervisors.set(kind, hv);
  }
  return hv;
}

/** The CPUID every guest here is given: what both backends offer, so its state moves between them. */
async function template(): Promise<ReturnType<Hypervisor['supportedCpuid']>> {
  const emu = (await hypervisor('emulated')).supportedCpuid();
  return kvm ? intersectCpuid(emu, (await hypervisor('kvm')).supportedCpuid()) : emu;
}

async function machine(kind: Kind): Promise<Machine> {
  const hv = await hypervisor(kind);
  const regions = [{ start: 0, size: GUEST_MEMORY_SIZE }];
  const memory = kind === 'kvm' ? await GuestMemory.createMemfd(regions) : GuestMemory.createShared(regions);
  const vm = await hv.createVm({ memory });
  vm.createIrqchip();
  vm.createPit();
  const vcpu = vm.createVcpu(0);
  return { hv, vm, vcpu, memory };
}

function close(m: Machine): void {
  m.vcpu.close();
  m.vm.close();
  m.memory.close();
}

/** Runs until an `io-out` to `port` (other exits but `interrupted` fail the test). */
function runTo(vcpu: Vcpu, port: number): Uint8Array {
  for (let i = 0; i < 100_000; i++) {
    const exit = vcpu.run();
    if (exit.kind === 'interrupted') continue;
    if (exit.kind === 'io-out' && exit.port === port) return exit.data.slice();
    throw new Error(
      `unexpected exit ${JSON.stringify(exit, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}`,
    );
  }
  throw new Error(`no exit to port 0x${port.toString(16)}`);
}

const word = (d: Uint8Array) => new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);

async function start(kind: Kind): Promise<Machine> {
  const m = await machine(kind);
  m.cpuid = await template();
  m.vcpu.setCpuid(m.cpuid);
  m.memory.writeBytes(DATA_ADDRESS, data());
  loadGuest(m.memory, m.vcpu, { mode: 'long-user', code: checksumGuest() });
  // SSE on: CR4.OSFXSR | OSXMMEXCPT
  const sregs = m.vcpu.getSregs();
  m.vcpu.setSregs({ ...sregs, cr4: sregs.cr4 | 0x600n });
  return m;
}

/** Stops `m` at the halfway exit and captures everything, through the state-file codec. */
function snapshot(m: Machine, kind: Kind): { state: SnapshotState; memory: Uint8Array } {
  runTo(m.vcpu, HALF_PORT);
  // complete the OUT in flight (KVM finishes an I/O exit on the next KVM_RUN) without running on
  m.vcpu.setImmediateExit(true);
  expect(m.vcpu.run().kind).toBe('interrupted');
  m.vcpu.setImmediateExit(false);
  const state: SnapshotState = {
    backend: kind,
    // the CPUID given, not getCpuid(): a paravirtual KVM (PVM) reports the host's leaves there
    vcpus: [captureVcpuState(m.hv, m.vcpu, { irqchip: true, cpuid: m.cpuid })],
    vm: captureVmState(m.vm, { irqchip: true, pit: true }),
    devices: {},
    memory: {
      file: 'memory',
      size: GUEST_MEMORY_SIZE,
      pageSize: 4096,
      pages: [[0, GUEST_MEMORY_SIZE / 4096]],
      kind: 'full',
    },
  };
  const memory = m.memory.readBytes(0, GUEST_MEMORY_SIZE);
  return { state: decodeSnapshotState(encodeSnapshotState(state)), memory };
}

async function restore(kind: Kind, saved: { state: SnapshotState; memory: Uint8Array }): Promise<Machine> {
  const m = await machine(kind);
  restoreVmState(m.vm, saved.state.vm);
  m.memory.writeBytes(0, saved.memory);
  restoreVcpuState(m.hv, m.vcpu, saved.state.vcpus[0]);
  return m;
}

const kinds: Kind[] = kvm ? ['emulated', 'kvm'] : ['emulated'];

describe('snapshot halfway, restore, same checksum', () => {
  const want = expectedChecksum(data());

  for (const kind of kinds) {
    it(`${kind}: an uninterrupted run gives the checksum computed here`, async () => {
      const m = await start(kind);
      try {
        runTo(m.vcpu, HALF_PORT);
        expect(word(runTo(m.vcpu, DONE_PORT))).toBe(want);
      } finally {
        close(m);
      }
    });
  }

  for (const from of kinds) {
    for (const to of kinds) {
      it(`${from} -> ${to}`, async () => {
        const src = await start(from);
        let saved: ReturnType<typeof snapshot>;
        try {
          saved = snapshot(src, from);
          // the source goes on as well, unharmed by the capture
          expect(word(runTo(src.vcpu, DONE_PORT))).toBe(want);
        } finally {
          close(src);
        }
        const dst = await restore(to, saved);
        try {
          // the halfway OUT is not repeated: the next exit is the result
          expect(word(runTo(dst.vcpu, DONE_PORT))).toBe(want);
        } finally {
          close(dst);
        }
      });
    }
  }
});
