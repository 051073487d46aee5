// The emulated backend's own behaviour: platform chips inside run(), timers and idle warps, TSC and
// kvm-clock, INIT/SIPI bring-up, determinism, state accessors and misuse errors.
import { MpState, type Vcpu, type VcpuExit, zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it, vi } from 'vitest';
import { X86EmulatorError } from '../errors.js';
import { buildFlatImage, FLAT, flatSregs } from '../flat-long-mode.js';
import { pvclockRead } from '../platform/pvclock.js';
import { EmulatedHypervisor } from './hypervisor.js';
import type { EmulatedBackendOptions } from './options.js';
import type { EmulatedVcpu } from './vcpu.js';
import type { EmulatedVm } from './vm.js';

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const movEcx = (v: number) => [0xb9, ...le32(v)];
const movEax = (v: number) => [0xb8, ...le32(v)];
const XOR_EDX = [0x31, 0xd2];
const RDMSR = [0x0f, 0x32];
const WRMSR = [0x0f, 0x30];
const RDTSC = [0x0f, 0x31];
/** x2APIC on (IA32_APIC_BASE |= EXTD | EN), software-enabled (SVR = 0x1ff). */
const X2APIC_ON = [
  ...movEcx(0x1b),
  ...RDMSR,
  0x0d,
  ...le32(0xc00),
  ...WRMSR,
  ...movEcx(0x80f),
  ...movEax(0x1ff),
  ...XOR_EDX,
  ...WRMSR,
];
const VEC = 0x40;

/** A CPL0 long-mode machine over the flat image, with an irqchip. */
async function machine(code: number[], options: EmulatedBackendOptions = {}, vcpus = 1, wasm = false) {
  const hv = new EmulatedHypervisor({ paceIdle: false, ...options });
  const spec = [{ start: 0, size: FLAT.RAM_SIZE }];
  const mem = wasm ? GuestMemory.createWasm(spec) : GuestMemory.createShared(spec);
  buildFlatImage(mem);
  mem.writeBytes(FLAT.CODE, new Uint8Array(code));
  const vm = (await hv.createVm({ memory: mem })) as EmulatedVm;
  vm.createIrqchip();
  vm.createPit();
  const cpus: Vcpu[] = [];
  for (let id = 0; id < vcpus; id++) cpus.push(vm.createVcpu(id));
  const s = flatSregs();
  const kcs = { ...s.cs, selector: FLAT.KERNEL_CS, dpl: 0 };
  const kds = { ...s.ds, selector: FLAT.KERNEL_DS, dpl: 0 };
  cpus[0].setSregs({ ...s, cs: kcs, ss: kds, ds: kds, es: kds, apic_base: cpus[0].getSregs().apic_base });
  cpus[0].setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.KERNEL_STACK), rflags: 2n });
  return { hv, mem, vm, vcpu: cpus[0], cpus };
}

/** Runs until an exit other than `interrupted`. */
function runToExit(vcpu: Vcpu, max = 1000): VcpuExit {
  for (let i = 0; i < max; i++) {
    const e = vcpu.run();
    if (e.kind !== 'interrupted') return e;
  }
  throw new Error('no exit');
}

describe('EmulatedHypervisor', () => {
  it('reports its capabilities and the CPUID the platform backs', () => {
    const hv = new EmulatedHypervisor();
    expect(hv.kind).toBe('emulated');
    expect(hv.capabilities).toMatchObject({ irqchip: true, pit: true, multiThreaded: false, dirtyLog: true });
    const leaves = hv.supportedCpuid();
    const leaf = (f: number) => leaves.find((e) => e.function === f);
    expect(leaf(0)!.eax).toBeGreaterThanOrEqual(0x16);
    expect(leaf(1)!.ecx & (1 << 24)).not.toBe(0); // TSC deadline
    expect(leaf(6)!.eax & (1 << 2)).not.toBe(0); // ARAT
    expect(leaf(0x15)).toMatchObject({ eax: 1, ebx: 2, ecx: 1_000_000_000 }); // 2 GHz TSC, 1 GHz crystal
    expect(leaf(0x16)!.eax).toBe(2000);
    expect([leaf(0x4000_0000)!.ebx, leaf(0x4000_0000)!.ecx, leaf(0x4000_0000)!.edx]).toEqual([
      0x4b4d564b, 0x564b4d56, 0x4d,
    ]);
    expect(leaf(0x4000_0001)!.eax & (1 << 3)).not.toBe(0); // kvm-clock 2
    expect(hv.supportedMsrs()).toEqual(expect.arrayContaining([0x10, 0x1b, 0x6e0, 0xc0000080, 0x4b564d01]));
    expect(
      new EmulatedHypervisor({ kvmclock: false }).supportedCpuid().find((e) => e.function === 0x4000_0001)!
        .eax,
    ).toBe(2);
  });

  it('idles without blocking where Atomics.wait may not be called (a browser main thread)', async () => {
    const { vcpu } = await machine([0xfa, 0xf4]); // cli; hlt: idle with no timer armed
    const wait = vi.spyOn(Atomics, 'wait').mockImplementation(() => {
      throw new TypeError('Atomics.wait cannot be called in this context');
    });
    try {
      const t0 = performance.now();
      expect(vcpu.run().kind).toBe('interrupted');
      expect(vcpu.run().kind).toBe('interrupted');
      expect(wait).toHaveBeenCalledTimes(1); // found out once, then not tried again
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      wait.mockRestore();
    }
  });

  it('rejects misuse with clear errors', async () => {
    const hv = new EmulatedHypervisor();
    const vm = await hv.createVm();
    expect(() => vm.createVcpu(0)).toThrow(/memory first/);
    vm.setMemory(GuestMemory.createShared([{ start: 0, size: 0x10000 }]));
    expect(() => vm.setIrqLine(4, true)).toThrow(X86EmulatorError);
    expect(() => vm.getDirtyLog()).toThrow(/dirtyLog/);
    const v = vm.createVcpu(0);
    expect(() => vm.createVcpu(0)).toThrow(/already exists/);
    expect(() => vm.createVcpu(999)).toThrow(/999/);
    expect(() => v.getLapic()).toThrow(/no irqchip/);
    expect(() => v.getMsrs([0x12345678])).toThrow(/0x12345678/);
    expect(() => hv.openKicker({ nope: 1 })).toThrow(X86EmulatorError);
    expect(() => vm.registerIoEvent({ space: 'pio', address: 0x10, length: 8 }, () => {})).toThrow(
      /length 8/,
    );
    v.close();
    expect(() => v.run()).toThrow(/closed/);
    vm.close();
  });
});

describe('EmulatedVcpu', () => {
  it('takes a TSC-deadline timer interrupt from HLT by warping the idle clock', async () => {
    const code = [
      ...X2APIC_ON,
      ...movEcx(0x832),
      ...movEax(VEC | (2 << 17)), // LVT timer: TSC-deadline mode
      ...WRMSR,
      ...RDTSC,
      0x05,
      ...le32(20_000_000), // + 10 ms at 2 GHz
      0x83,
      0xd2,
      0x00, // adc edx, 0
      ...movEcx(0x6e0),
      ...WRMSR,
      0xfb, // sti
      0xf4, // hlt
    ];
    const { vm, vcpu } = await machine(code);
    const t0 = performance.now();
    const exit = runToExit(vcpu);
    expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + VEC });
    expect(vm.clock.now()).toBeGreaterThanOrEqual(10_000_000);
    expect(performance.now() - t0).toBeLessThan(5_000); // skipped, not slept
    expect(vcpu.getLapic().length).toBe(1024);
  });

  it('paces idle jumps so guest time never runs ahead of host time (paceIdle)', async () => {
    const code = [
      ...X2APIC_ON,
      ...movEcx(0x832),
      ...movEax(VEC | (2 << 17)),
      ...WRMSR,
      ...RDTSC,
      0x05,
      ...le32(80_000_000), // + 40 ms at 2 GHz
      0x83,
      0xd2,
      0x00,
      ...movEcx(0x6e0),
      ...WRMSR,
      0xfb,
      0xf4,
    ];
    const { vm, vcpu } = await machine(code, { paceIdle: true });
    const exit = runToExit(vcpu);
    expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + VEC });
    // the deadline lay 40 ms of guest time after creation: host time had to catch up first
    expect(performance.now() - vm.hostStartMs).toBeGreaterThanOrEqual(35);
  });

  it('serves the PIT and PIC ports inside run(): only the VMM port exits', async () => {
    // PIT channel 2 gate on via port 0x61, read it back, then out to 0x99
    const code = [0xe4, 0x61, 0x0c, 0x01, 0xe6, 0x61, 0xe4, 0x61, 0xe6, 0x99, 0xe4, 0x21, 0xe6, 0x98, 0xf4];
    const { vcpu } = await machine(code);
    const e = runToExit(vcpu);
    expect(e).toMatchObject({ kind: 'io-out', port: 0x99 });
    if (e.kind === 'io-out') expect(e.data[0] & 1).toBe(1);
    expect(runToExit(vcpu)).toMatchObject({ kind: 'io-out', port: 0x98 });
  });

  it('writes a kvm-clock record that reads back the machine time', async () => {
    const at = 0x20_0000;
    const code = [...movEcx(0x4b56_4d01), ...movEax(at | 1), ...XOR_EDX, ...WRMSR, 0xe6, 0x99, 0xf4];
    const { vm, vcpu, mem } = await machine(code);
    expect(runToExit(vcpu)).toMatchObject({ kind: 'io-out', port: 0x99 });
    const version = mem.read32(at);
    expect(version % 2).toBe(0);
    expect(version).toBeGreaterThan(0);
    const info = {
      version,
      tscTimestamp: mem.read64(at + 8),
      systemTime: mem.read64(at + 16),
      tscToSystemMul: mem.read32(at + 24),
      tscShift: (mem.read8(at + 28) << 24) >> 24,
      flags: mem.read8(at + 29),
    };
    const tsc = BigInt(vm.clock.tsc());
    const ns = Number(pvclockRead(info, tsc));
    expect(Math.abs(ns - vm.clock.now())).toBeLessThan(1000);
    expect(vcpu.getMsrs([0x4b56_4d01])[0].data).toBe(BigInt(at | 1));
  });

  it('RDTSC follows the machine clock and IA32_TSC writes offset it', async () => {
    const code = [...RDTSC, 0xe6, 0x99, 0xf4];
    const { vm, vcpu } = await machine(code);
    vcpu.setMsrs([{ index: 0x10, data: 1_000_000_000n }]);
    expect(runToExit(vcpu)).toMatchObject({ kind: 'io-out', port: 0x99 });
    const r = vcpu.getRegs();
    const tsc = (r.rdx << 32n) | (r.rax & 0xffff_ffffn);
    expect(tsc).toBeGreaterThanOrEqual(1_000_000_000n);
    expect(tsc).toBeLessThan(1_000_000_000n + 1000n);
    expect(vm.clock.now()).toBeLessThan(1000);
  });

  it('starts an application processor with INIT and SIPI (APs wait UNINITIALIZED)', async () => {
    // BSP: x2APIC on, INIT then SIPI (vector 0x10 -> 0x10000) to APIC 1, then hlt with IF=0
    const icr = (low: number) => [...movEcx(0x830), ...movEax(low), 0xba, ...le32(1), ...WRMSR];
    const code = [...X2APIC_ON, ...icr(0x4500), ...icr(0x4610), 0xf4];
    const { mem, cpus, vm } = await machine(code, {}, 2);
    // AP code at 0x10000 (real mode): mov al, 0x5a ; out 0x77, al ; hlt
    mem.writeBytes(0x10000, new Uint8Array([0xb0, 0x5a, 0xe6, 0x77, 0xf4]));
    const [bsp, ap] = cpus;
    ap.setMpState(MpState.UNINITIALIZED);
    expect(ap.run().kind).toBe('interrupted'); // nothing to do yet: the BSP can run
    let seen: VcpuExit | undefined;
    for (let round = 0; round < 100 && !seen; round++) {
      for (const v of [bsp, ap]) {
        const e = v.run();
        if (v === ap && e.kind === 'io-out') seen = { ...e };
      }
    }
    expect(seen).toMatchObject({ kind: 'io-out', port: 0x77 });
    expect(ap.getMpState()).toBe(MpState.RUNNABLE);
    expect(ap.getSregs().cs.selector).toBe(0x1000);
    expect(vm.vcpuCount).toBe(2);
  });

  it('skips busy-wait time: a 1 s RDTSC polling loop costs few instructions (skipBusyWaits)', async () => {
    const TSC64 = [0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0]; // rdtsc; shl rdx,32; or rax,rdx
    const code = [
      ...TSC64,
      0x48,
      0x89,
      0xc3, // mov rbx, rax
      0x48,
      0xb9,
      ...le32(2_000_000_000),
      0,
      0,
      0,
      0, // mov rcx, 2e9 (1 s at 2 GHz)
      0x48,
      0x01,
      0xcb, // add rbx, rcx
      0xf3,
      0x90, // l: pause
      ...TSC64,
      0x48,
      0x39,
      0xd8, // cmp rax, rbx
      0x72,
      0xf0, // jb l
      0xe6,
      0x99,
      0xf4,
    ];
    const { vm, vcpu } = await machine(code);
    expect(runToExit(vcpu)).toMatchObject({ kind: 'io-out', port: 0x99 });
    expect(vm.clock.now()).toBeGreaterThanOrEqual(1e9);
    expect((vcpu as EmulatedVcpu).cpu.icount).toBeLessThan(30_000_000); // not 1e9 instructions
  });

  it('a code write on one vCPU drops the decoded code of the others (shared decode cache)', async () => {
    const F = FLAT.DATA; // mov eax, 1 ; ret
    const movb = (at: number, v: number) => [0xc6, 0x04, 0x25, ...le32(at), v];
    const code0 = [...movb(F + 0x800, 0), 0xe6, 0x90, ...movb(F + 1, 2), 0xe6, 0x90, 0xf4];
    const { mem, cpus } = await machine(code0, {}, 2);
    const code1At = FLAT.CODE + 0x1000;
    const rel = F - (code1At + 5);
    mem.writeBytes(code1At, new Uint8Array([0xe8, ...le32(rel >>> 0), 0xe6, 0x91, 0xeb, 0xf7]));
    mem.writeBytes(F, new Uint8Array([0xb8, 1, 0, 0, 0, 0xc3]));
    const [v0, v1] = cpus;
    v1.setSregs(v0.getSregs());
    v1.setRegs({ ...zeroRegs(), rip: BigInt(code1At), rsp: BigInt(FLAT.KERNEL_STACK - 0x1000), rflags: 2n });
    expect(runToExit(v0)).toMatchObject({ kind: 'io-out', port: 0x90 }); // v0 now may write F's page fast
    const a = runToExit(v1);
    expect(a).toMatchObject({ kind: 'io-out', port: 0x91 });
    if (a.kind === 'io-out') expect(a.data[0]).toBe(1);
    expect(runToExit(v0)).toMatchObject({ kind: 'io-out', port: 0x90 }); // patched F: mov eax, 2
    const b = runToExit(v1);
    expect(b).toMatchObject({ kind: 'io-out', port: 0x91 });
    if (b.kind === 'io-out') expect(b.data[0]).toBe(2);
  });

  it('is deterministic: the same guest gives the same instruction count and interrupt count', async () => {
    // handler for VEC: inc r12 ; EOI ; iretq. Main: periodic LAPIC timer, then count rbx to 2M.
    const handler = [0x49, 0xff, 0xc4, ...movEcx(0x80b), 0x31, 0xc0, ...XOR_EDX, ...WRMSR, 0x48, 0xcf];
    const code = [
      ...X2APIC_ON,
      ...movEcx(0x83e),
      ...movEax(0xb), // divide by 1
      ...XOR_EDX,
      ...WRMSR,
      ...movEcx(0x832),
      ...movEax(VEC | (1 << 17)), // periodic
      ...WRMSR,
      ...movEcx(0x838),
      ...movEax(200_000), // 200 us at 1 GHz
      ...WRMSR,
      0xfb, // sti
      0x48,
      0xff,
      0xc3, // l: inc rbx
      0x48,
      0x81,
      0xfb,
      ...le32(2_000_000), // cmp rbx, 2M
      0x75,
      0xf5, // jne l
      0xe6,
      0x99,
      0xf4,
    ];
    const once = async () => {
      const m = await machine(code, { deterministic: true, deterministicSlice: 100_000 });
      // vector VEC's stub: jmp to the handler at DATA
      m.mem.writeBytes(FLAT.DATA, new Uint8Array(handler));
      const stub = FLAT.HANDLERS + VEC * 16;
      const rel = FLAT.DATA - (stub + 5);
      m.mem.writeBytes(stub, new Uint8Array([0xe9, ...le32(rel >>> 0)]));
      let interrupted = 0;
      for (;;) {
        const e = m.vcpu.run();
        if (e.kind === 'interrupted') interrupted++;
        else break;
      }
      const r = m.vcpu.getRegs();
      return { icount: (m.vcpu as EmulatedVcpu).cpu.icount, ticks: r.r12, rbx: r.rbx, interrupted };
    };
    const a = await once();
    const b = await once();
    expect(a).toEqual(b);
    expect(a.rbx).toBe(2_000_000n);
    // ~6M instructions at 1 ns each, a tick every 200 us: about 30 ticks
    expect(Number(a.ticks)).toBeGreaterThan(10);
    expect(a.interrupted).toBeGreaterThan(10);
  });

  it('translates linear addresses without touching accessed bits', async () => {
    const { vcpu, mem } = await machine([0xf4]);
    const before = mem.read64(FLAT.PD + 8);
    const t = vcpu.translate(0x20_1234n);
    expect(t).toMatchObject({ valid: true, physicalAddress: 0x20_1234n, writeable: true, usermode: true });
    expect(vcpu.translate(0x8000_0000_0000n).valid).toBe(false);
    expect(mem.read64(FLAT.PD + 8)).toBe(before);
  });

  it('stops before an instruction at a hardware breakpoint, then runs on', async () => {
    const code = [0x90, 0x90, 0xe6, 0x99, 0xf4];
    const { vcpu } = await machine(code);
    vcpu.setGuestDebug({ enable: true, hwBreakpoints: [BigInt(FLAT.CODE + 2)] });
    expect(runToExit(vcpu)).toMatchObject({ kind: 'debug', exception: 1, pc: BigInt(FLAT.CODE + 2) });
    expect(runToExit(vcpu)).toMatchObject({ kind: 'io-out', port: 0x99 });
  });

  it('without an irqchip HLT exits to the VMM and the next run() resumes after it (as KVM)', async () => {
    const hv = new EmulatedHypervisor();
    const mem = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
    mem.writeBytes(0x1000, new Uint8Array([0xf4, 0xb0, 0x07, 0xe6, 0x99, 0xf4])); // hlt; mov al, 7; out 0x99, al; hlt
    const vm = await hv.createVm({ memory: mem });
    const v = vm.createVcpu(0);
    const s = v.getSregs();
    v.setSregs({ ...s, cs: { ...s.cs, selector: 0, base: 0n } });
    v.setRegs({ ...v.getRegs(), rip: 0x1000n });
    expect(v.run().kind).toBe('hlt');
    expect(v.getRegs().rip).toBe(0x1001n);
    expect(runToExit(v)).toMatchObject({ kind: 'io-out', port: 0x99 });
    expect(() => v.interrupt(0x20)).not.toThrow();
  });

  it('a synchronous loop of run() calls on WebAssembly memory makes progress while a background compile is pending', async () => {
    // mov ecx, 30M ; l: dec ecx ; jnz l ; out 0x99, al ; hlt: the loop's block is queued for the
    // WebAssembly compiler and compiled in the background, whose result only the event loop delivers
    const { vcpu } = await machine(
      [...movEcx(30_000_000), 0xff, 0xc9, 0x75, 0xfc, 0xe6, 0x99, 0xf4],
      { runSliceMs: 1000 },
      1,
      true,
    );
    const cpu = (vcpu as EmulatedVcpu).cpu;
    expect(cpu.wasmJit).toBeDefined();
    let exit: VcpuExit = { kind: 'interrupted' };
    let calls = 0;
    let idleCalls = 0;
    let sawCompiling = false;
    for (; calls < 2000 && exit.kind === 'interrupted'; calls++) {
      const before = cpu.icount;
      exit = vcpu.run();
      if (cpu.wasmJit?.compiling) sawCompiling = true;
      if (cpu.icount === before) idleCalls++;
    }
    expect(exit).toMatchObject({ kind: 'io-out', port: 0x99 });
    expect(sawCompiling).toBe(true); // a background compile was in flight between calls
    expect(idleCalls).toBe(0); // every call ran guest instructions
    expect(cpu.compiledBlocks).toBeGreaterThan(0); // and the loop ran compiled (compiled on the spot)
    expect(cpu.icount).toBeGreaterThanOrEqual(60_000_000);
  });

  it('HLT with interrupts off and no timer returns interrupted without spinning', async () => {
    const { vcpu } = await machine([0xfa, 0xf4], { runSliceMs: 30, idleWaitMs: 25 });
    expect(vcpu.run().kind).toBe('interrupted');
    const t0 = performance.now();
    const e = vcpu.run();
    expect(e.kind).toBe('interrupted');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(20); // waited on the host, did not spin back at once
    expect(vcpu.getMpState()).toBe(MpState.HALTED);
  });
});

describe('EmulatedVcpu on the realtime clock', () => {
  /** Stores EDX:EAX at [addr] (mov [addr], eax ; mov [addr + 4], edx). */
  const storeEdxEax = (addr: number) => [
    0x89,
    0x04,
    0x25,
    ...le32(addr),
    0x89,
    0x14,
    0x25,
    ...le32(addr + 4),
  ];
  const TSC_AT = 0x20_1000;

  it('RDTSC follows host time while the guest computes, not the instructions it ran', async () => {
    // rdtsc ; store ; mov ecx, 30M ; l: dec ecx ; jnz l ; rdtsc ; store ; out 0x99, al
    const code = [
      ...RDTSC,
      ...storeEdxEax(TSC_AT),
      ...movEcx(30_000_000),
      0xff,
      0xc9,
      0x75,
      0xfc,
      ...RDTSC,
      ...storeEdxEax(TSC_AT + 8),
      0xe6,
      0x99,
      0xf4,
    ];
    // the host interval also holds the run's start and end around the two RDTSCs, which a busy
    // host can stretch (the process scheduled out there): the least stretched of three runs counts
    let missed = Number.POSITIVE_INFINITY;
    for (let k = 0; k < 3 && missed > 10; k++) {
      const { vcpu, mem, vm } = await machine(code, { clockMode: 'realtime' });
      const t0 = performance.now();
      expect(runToExit(vcpu, 100_000)).toMatchObject({ kind: 'io-out', port: 0x99 });
      const hostMs = performance.now() - t0;
      const guestMs = (Number(mem.read64(TSC_AT + 8) - mem.read64(TSC_AT)) / vm.clock.tscHz) * 1000;
      // both TSC reads lie inside the host interval
      expect(guestMs).toBeLessThanOrEqual(hostMs + 0.001);
      expect((vcpu as EmulatedVcpu).cpu.icount).toBeGreaterThan(60_000_000);
      missed = Math.min(missed, hostMs - guestMs);
      console.log(
        `RDTSC across 60 M instructions: ${guestMs.toFixed(2)} ms of guest TSC in ${hostMs.toFixed(2)} ms of host time`,
      );
    }
    // and miss at most 10 ms of it (the bound)
    expect(missed).toBeLessThanOrEqual(10);
  });

  it("gives kvm-clock's wall clock the host's wall time", async () => {
    const sys = 0x20_0000;
    const wall = 0x20_2000;
    const code = [
      ...movEcx(0x4b56_4d01),
      ...movEax(sys | 1),
      ...XOR_EDX,
      ...WRMSR,
      ...movEcx(0x4b56_4d00),
      ...movEax(wall),
      ...WRMSR,
      0xe6,
      0x99,
      0xf4,
    ];
    const { vm, vcpu, mem } = await machine(code, { clockMode: 'realtime' });
    await new Promise((r) => setTimeout(r, 30)); // guest time 0 is not "now"
    expect(runToExit(vcpu)).toMatchObject({ kind: 'io-out', port: 0x99 });
    await new Promise((r) => setTimeout(r, 30));
    expect(mem.read32(wall) % 2).toBe(0);
    const epochNs = BigInt(mem.read32(wall + 4)) * 1_000_000_000n + BigInt(mem.read32(wall + 8));
    const info = {
      version: mem.read32(sys),
      tscTimestamp: mem.read64(sys + 8),
      systemTime: mem.read64(sys + 16),
      tscToSystemMul: mem.read32(sys + 24),
      tscShift: (mem.read8(sys + 28) << 24) >> 24,
      flags: mem.read8(sys + 29),
    };
    // what the guest computes now: the wall-clock record plus kvm-clock's system time
    const guestWallMs = Number(epochNs + pvclockRead(info, BigInt(vm.clock.tsc()))) / 1e6;
    expect(Math.abs(guestWallMs - Date.now())).toBeLessThanOrEqual(10);
  });

  it('fires a TSC-deadline timer on the host clock: 20 ms after it was armed, however few instructions ran', async () => {
    const code = [
      ...X2APIC_ON,
      ...movEcx(0x832),
      ...movEax(VEC | (2 << 17)), // LVT timer: TSC-deadline mode
      ...WRMSR,
      ...RDTSC,
      0x05,
      ...le32(40_000_000), // + 20 ms at 2 GHz
      0x83,
      0xd2,
      0x00, // adc edx, 0
      ...movEcx(0x6e0),
      ...WRMSR,
      0xfb, // sti
      0xf4, // hlt
    ];
    const { vcpu } = await machine(code, { clockMode: 'realtime' });
    const t0 = performance.now();
    expect(runToExit(vcpu, 100_000)).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + VEC });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(20);
    expect((vcpu as EmulatedVcpu).cpu.icount).toBeLessThan(1000);
  });
});
