/**
 * The decode cache: basic blocks of decoded instructions, found by (physical address, code mode) in a
 * direct-mapped table, and registered per physical page so a guest write to a page holding code drops
 * that page's blocks (self-modifying code, module loading, alternatives patching).
 *
 * Memory: a block lives exactly as long as it sits in the table. The table is two-way set
 * associative; the set is picked by a multiplicative hash of the key (so code 64 KiB apart, alike in
 * its low address bits, no longer fights over one slot), and a full set gives up its less used block
 * (interpreted before compiled, then the lower execution count). A block pushed out of the table, or
 * dropped by a write to its page, is marked invalid and lets go of its instructions, compiled form and
 * chain links at once, so neither a page's list nor another block's chain keeps dead decode state
 * reachable. A booted Linux (about 45,000 live blocks) fills a sixth of the table.
 *
 * @example
 * ```ts
 * const cache = new BlockCache(memSize);
 * const b = cache.lookup(key, linear); // undefined on a miss
 * ```
 */
import type { Cpu } from './cpu.js';
import type { Insn } from './insn.js';

/** A decoded basic block. */
export interface Block {
  /** Physical address * 4 + mode. */
  key: number;
  /** Linear address of the first instruction. */
  linear: number;
  /** Physical pages the block's bytes lie on (1 to 3). */
  pages: number[];
  /**
   * Linear page of a direct JMP's target that decoding followed onto (-1: none), and the physical
   * page it mapped to then: a lookup re-checks that mapping before it reuses the block.
   */
  xLinear: number;
  xPhys: number;
  insns: Insn[];
  valid: boolean;
  /** Executions so far (drives compilation). */
  count: number;
  /** The compiled form (see jit.ts), once hot. */
  fn: ((c: Cpu, budget: number) => number) | null;
  /** Waiting in the WebAssembly compiler's queue (see wasm-jit.ts). */
  queued: boolean;
  /** Its WebAssembly function's table entry, or -1. */
  wasmId: number;
  /**
   * All its code lies on global pages: its chained links then depend only on the TLB's
   * `globalFlushes`, and it links only to blocks that are global too.
   */
  global: boolean;
  /** Chained successors (by the RIP they start at), valid while `epoch` equals the TLB's (see `global`). */
  succ0: Block | null;
  succ0Rip: number;
  succ1: Block | null;
  succ1Rip: number;
  epoch: number;
  /**
   * The CPL the successor links were made at: they are followed only at the same CPL (a link made
   * in the kernel must not take user code past the permission check of a fetch), so a privilege
   * change (every system call and interrupt from user space) need not break every chain.
   */
  linkCpl: number;
}

/**
 * A fresh (valid, never run, unchained) block decoded at `linear` from physical `pages`.
 * @example const b = newBlock(0x1000, [0x1000], insns); b.key = 0x1000 * 4 + 3;
 */
export function newBlock(linear: number, pages: number[], insns: Insn[], xLinear = -1, xPhys = -1): Block {
  return {
    key: 0,
    linear,
    pages,
    xLinear,
    xPhys,
    global: false,
    insns,
    valid: true,
    count: 0,
    fn: null,
    queued: false,
    wasmId: -1,
    succ0: null,
    succ0Rip: 0,
    succ1: null,
    succ1Rip: 0,
    epoch: -1,
    linkCpl: -1,
  };
}

/** log2 of the table's set count: 2^17 sets of two slots (2 MiB of references). */
const SET_BITS = 17;
const CACHE_SIZE = 2 << SET_BITS;
/** Shared by every released block: holds nothing. */
const NO_INSNS: Insn[] = [];

/** First slot of the set of a block key (Fibonacci hashing of the key's low 32 bits); the second is next to it. */
function setOf(key: number): number {
  return (Math.imul(key, 0x9e3779b1) >>> (32 - SET_BITS)) << 1;
}

/** How much a block is worth keeping: compiled ones most, then by executions. */
function worth(b: Block): number {
  return b.fn !== null ? 0x7fffffff : b.count;
}

/**
 * Marks `b` invalid and drops what it holds (instructions, compiled function, successors): nothing
 * runs it again (the run loop checks `valid` before following a chain), and code already running it
 * holds its own references.
 */
function release(b: Block, onRelease: ((b: Block) => void) | null): void {
  if (b.wasmId >= 0) {
    onRelease?.(b);
    b.wasmId = -1;
  }
  b.valid = false;
  b.insns = NO_INSNS;
  b.fn = null;
  b.succ0 = null;
  b.succ1 = null;
}

/** Block cache with per-page invalidation. */
export class BlockCache {
  private readonly table: (Block | undefined)[] = new Array(CACHE_SIZE).fill(undefined);
  /** Per physical page: 1 when some block was decoded from it. */
  readonly codePage: Uint8Array;
  private readonly byPage = new Map<number, Block[]>();
  hits = 0;
  misses = 0;
  /** Page invalidations (a guest write to a page holding code). */
  invalidations = 0;
  /** Blocks pushed out of their slot by another block. */
  evictions = 0;
  /** Called for a block with a WebAssembly function when it is dropped (its table entry is freed). */
  onRelease: ((b: Block) => void) | null = null;

  constructor(physLimit: number) {
    this.codePage = new Uint8Array(Math.ceil(physLimit / 4096) + 1);
  }

  /** Finds the block for `key` decoded at linear address `linear`. */
  lookup(key: number, linear: number): Block | undefined {
    const s = setOf(key);
    const table = this.table;
    const b = table[s];
    if (b !== undefined && b.key === key && b.linear === linear) {
      this.hits++;
      return b;
    }
    const c = table[s + 1];
    if (c !== undefined && c.key === key && c.linear === linear) {
      this.hits++;
      return c;
    }
    this.misses++;
    return undefined;
  }

  /** Adds a freshly decoded block (releasing the one it displaces) and marks its pages as holding code. */
  insert(cpu: Cpu, b: Block): void {
    const table = this.table;
    let s = setOf(b.key);
    const w0 = table[s];
    if (w0 !== undefined) {
      const w1 = table[s + 1];
      if (w1 === undefined) s++;
      else {
        if (worth(w1) < worth(w0)) s++;
        this.evictions++;
        release(table[s] as Block, this.onRelease);
      }
    }
    table[s] = b;
    for (const p of b.pages) {
      let list = this.byPage.get(p);
      if (list === undefined) {
        list = [];
        this.byPage.set(p, list);
      }
      list.push(b);
      if (list.length >= 64 && (list.length & 63) === 0) {
        // released blocks stay listed until their page is written: compact now and then
        let n = 0;
        for (const x of list) if (x.valid) list[n++] = x;
        list.length = n;
      }
      const pn = p / 4096;
      if (pn < this.codePage.length && this.codePage[pn] === 0) {
        this.codePage[pn] = 1;
        cpu.tlb.dropWritesTo(p);
      }
    }
  }

  /** Called on every slow-path write to RAM at physical `pa`: drops the page's blocks if it holds code. */
  notifyWrite(cpu: Cpu, pa: number): void {
    const p = pa - (pa % 4096);
    const pn = p / 4096;
    if (pn >= this.codePage.length || this.codePage[pn] === 0) return;
    this.codePage[pn] = 0;
    const list = this.byPage.get(p);
    if (list === undefined) return;
    this.byPage.delete(p);
    this.invalidations++;
    for (const b of list) {
      if (!b.valid) continue;
      const s = setOf(b.key);
      if (this.table[s] === b) this.table[s] = undefined;
      else if (this.table[s + 1] === b) this.table[s + 1] = undefined;
      release(b, this.onRelease);
    }
    // the running block may have been dropped: end it after this instruction
    cpu.brk = true;
  }

  /** Removes `b` from the table and releases it (its code was found mapped differently). */
  drop(b: Block): void {
    const s = setOf(b.key);
    if (this.table[s] === b) this.table[s] = undefined;
    else if (this.table[s + 1] === b) this.table[s + 1] = undefined;
    release(b, this.onRelease);
  }

  /** Drops everything (e.g. after host writes to guest memory). */
  clear(): void {
    for (const b of this.table) if (b !== undefined) release(b, this.onRelease);
    for (const list of this.byPage.values()) for (const b of list) release(b, this.onRelease);
    this.table.fill(undefined);
    this.byPage.clear();
    this.codePage.fill(0);
  }
}
