/**
 * Small test guests written against the backend-neutral interfaces: machine code, a GDT, page
 * tables and the register state to start them in real, protected or long mode (CPL0 or CPL3).
 * The KVM tests of this package use them, and other backends (the x86 emulator) can run the same
 * guests through {@link TestBackend}.
 *
 * Memory map of every guest (2 MiB at guest physical 0):
 * - 0x0000-0x03ff real-mode IVT; 0x0800 GDT; 0x0c00 IDT (protected/long mode);
 * - 0x1000 code (entry); 0x7000 CPL0 stack top, 0x7800 CPL3 stack top;
 * - 0x10000-0x15fff long-mode page tables (identity map of 0-4 GiB with 2 MiB pages, user-accessible);
 * - 0x100000-0x1fffff data;
 * - 0xd000_0000: unbacked, so accesses there are MMIO exits ({@link MMIO_BASE}).
 *
 * @module
 */
import type { GuestMemory } from '@ts-vmm/vm-memory';
import type { Hypervisor, Segment, Sregs, Vcpu } from '../types.js';
import type { Watchdog } from './watchdog.js';

/** Size of the guest memory the guests expect at guest physical 0. */
export const GUEST_MEMORY_SIZE = 0x20_0000;
/** Where guest code is loaded and entered. */
export const CODE_ADDRESS = 0x1000;
/** An unbacked guest physical address: accesses exit as MMIO. */
export const MMIO_BASE = 0xd000_0000;
/** A data area inside guest memory. */
export const DATA_ADDRESS = 0x10_0000;
export const GDT_ADDRESS = 0x800;
export const PAGE_TABLE_ADDRESS = 0x1_0000;

/** How a guest starts. `long-user` is 64-bit mode at CPL3 with IOPL 3 (IN/OUT allowed). */
export type GuestMode = 'real' | 'protected' | 'long' | 'long-user';

/** GDT selectors set up for protected and long mode. */
export const SELECTORS = {
  code32: 0x08,
  data: 0x10,
  code64: 0x18,
  userData: 0x23,
  userCode64: 0x2b,
} as const;

/** A guest to load: code bytes and the mode to start in. */
export interface GuestProgram {
  mode: GuestMode;
  code: Uint8Array;
  /** Extra bytes to place in memory (interrupt handlers, data). */
  extra?: { address: number; bytes: Uint8Array }[];
  /** Entry point (default {@link CODE_ADDRESS}). */
  entry?: number;
}

function segment(selector: number, over: Partial<Segment>): Segment {
  return {
    base: 0n,
    limit: 0xffff_ffff,
    selector,
    type: 3,
    present: 1,
    dpl: 0,
    db: 1,
    s: 1,
    l: 0,
    g: 1,
    avl: 0,
    unusable: 0,
    ...over,
  };
}

/** Encodes one 8-byte GDT descriptor. */
function descriptor(access: number, flags: number): bigint {
  // base 0, limit 0xfffff
  return 0xffffn | (BigInt(access) << 40n) | (0xfn << 48n) | (BigInt(flags) << 52n);
}

/** Writes the GDT used by protected and long mode guests at {@link GDT_ADDRESS}. */
export function writeGdt(mem: GuestMemory): void {
  const entries = [
    0n,
    descriptor(0x9b, 0xc), // 0x08: 32-bit code, DPL0
    descriptor(0x93, 0xc), // 0x10: data, DPL0
    descriptor(0x9b, 0xa), // 0x18: 64-bit code, DPL0
    descriptor(0xf3, 0xc), // 0x20: data, DPL3
    descriptor(0xfb, 0xa), // 0x28: 64-bit code, DPL3
  ];
  entries.forEach((d, i) => {
    mem.write64(GDT_ADDRESS + i * 8, d);
  });
}

/** Writes identity-mapping page tables for 0-4 GiB (2 MiB pages, present/writable/user). */
export function writePageTables(mem: GuestMemory): void {
  const pml4 = PAGE_TABLE_ADDRESS;
  const pdpt = pml4 + 0x1000;
  const pd = pml4 + 0x2000;
  mem.fill(pml4, 0x6000, 0);
  mem.write64(pml4, BigInt(pdpt) | 7n);
  for (let i = 0; i < 4; i++) {
    mem.write64(pdpt + i * 8, BigInt(pd + i * 0x1000) | 7n);
    for (let j = 0; j < 512; j++) {
      const addr = (BigInt(i) << 30n) | (BigInt(j) << 21n);
      mem.write64(pd + i * 0x1000 + j * 8, addr | 0x87n); // present, writable, user, 2 MiB
    }
  }
}

/**
 * Loads `program` into `mem` and sets `vcpu`'s registers to start it.
 *
 * @example
 * ```ts
 * loadGuest(mem, vcpu, { mode: 'real', code: Uint8Array.of(0xf4) }); // hlt
 * vcpu.run(); // { kind: 'hlt' }
 * ```
 */
export function loadGuest(mem: GuestMemory, vcpu: Vcpu, program: GuestProgram): void {
  const entry = program.entry ?? CODE_ADDRESS;
  mem.writeBytes(entry, program.code);
  for (const x of program.extra ?? []) mem.writeBytes(x.address, x.bytes);
  startVcpu(mem, vcpu, program.mode, entry);
}

/** Sets `vcpu`'s registers (and, for paged modes, writes GDT and page tables) to start at `entry`. */
export function startVcpu(mem: GuestMemory, vcpu: Vcpu, mode: GuestMode, entry: number): void {
  const sregs = vcpu.getSregs();
  const regs = { ...vcpu.getRegs(), rip: BigInt(entry), rflags: 2n, rsp: 0x7000n };
  if (mode === 'real') {
    sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
    for (const s of ['ds', 'es', 'ss', 'fs', 'gs'] as const)
      sregs[s] = { ...sregs[s], base: 0n, selector: 0 };
  } else {
    writeGdt(mem);
    sregs.gdt = { base: BigInt(GDT_ADDRESS), limit: 6 * 8 - 1 };
    if (mode === 'protected') {
      sregs.cs = segment(SELECTORS.code32, { type: 11 });
      setDataSegments(sregs, segment(SELECTORS.data, {}));
      sregs.cr0 = (sregs.cr0 | 0x1n) & ~0x8000_0000n;
    } else {
      writePageTables(mem);
      const user = mode === 'long-user';
      sregs.cs = segment(user ? SELECTORS.userCode64 : SELECTORS.code64, {
        type: 11,
        l: 1,
        db: 0,
        dpl: user ? 3 : 0,
      });
      setDataSegments(sregs, segment(user ? SELECTORS.userData : SELECTORS.data, { dpl: user ? 3 : 0 }));
      sregs.cr3 = BigInt(PAGE_TABLE_ADDRESS);
      sregs.cr4 |= 0x20n; // PAE
      sregs.efer |= 0x500n; // LME | LMA
      sregs.cr0 = sregs.cr0 | 0x8000_0001n; // PG | PE
      if (user) {
        regs.rflags = 0x3002n; // IOPL 3
        regs.rsp = 0x7800n;
      }
    }
  }
  vcpu.setSregs(sregs);
  vcpu.setRegs(regs);
}

function setDataSegments(sregs: Sregs, seg: Segment): void {
  sregs.ds = seg;
  sregs.es = { ...seg };
  sregs.fs = { ...seg };
  sregs.gs = { ...seg };
  sregs.ss = { ...seg };
}

/**
 * A backend the shared guest tests ({@link defineGuestSuite}) run on. Everything that differs
 * between backends is a field here, so the tests hold one set of expectations.
 *
 * @example
 * ```ts
 * await defineGuestSuite(kvmTestBackend);
 * ```
 */
export interface TestBackend {
  readonly name: string;
  /** Whether it can run here (prints nothing). */
  available(): boolean;
  /** Why it cannot run here. */
  readonly unavailableReason: string;
  open(): Promise<Hypervisor>;
  /**
   * A hypervisor whose `run()` returns `interrupted` only when kicked, for the kick tests. Backends
   * whose `run()` also returns `interrupted` by itself (the emulator's host time slice) provide it;
   * without it {@link open}'s hypervisor is used.
   */
  openUnsliced?(): Promise<Hypervisor>;
  /** Guest memory the backend can run (memfd for KVM). */
  createMemory(size?: number): Promise<GuestMemory>;
  /** Starts a thread that kicks `vcpu` out of `run()` after `ms` unless cancelled. */
  startWatchdog(vcpu: Vcpu, ms: number): Promise<Watchdog>;
  /**
   * Whether I/O event handlers run synchronously inside `run()` (so they have fired by the time it
   * returns). When false (KVM's ioeventfd, handled later from the event loop) the test waits for them.
   */
  readonly ioEventsSynchronous: boolean;
}
