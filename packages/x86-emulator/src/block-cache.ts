/**
 * The decode cache: basic blocks of decoded instructions, found by (physical address, code mode) in a
 * direct-mapped table, and registered per physical page so a guest write to a page holding code drops
 * that page's blocks (self-modifying code, module loading, alternatives patching).
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
  /** Physical pages the block's bytes lie on (1 or 2). */
  pages: number[];
  insns: Insn[];
  valid: boolean;
  /** Executions so far (drives compilation). */
  count: number;
  /** The compiled form (see jit.ts), once hot. */
  fn: ((c: Cpu) => number) | null;
  /** Chained successors (by the RIP they start at), valid while `epoch` equals the CPU's. */
  succ0: Block | null;
  succ0Rip: number;
  succ1: Block | null;
  succ1Rip: number;
  epoch: number;
}

const CACHE_SIZE = 1 << 16;

/** Block cache with per-page invalidation. */
export class BlockCache {
  private readonly table: (Block | undefined)[] = new Array(CACHE_SIZE).fill(undefined);
  /** Per physical page: 1 when some block was decoded from it. */
  readonly codePage: Uint8Array;
  private readonly byPage = new Map<number, Block[]>();
  hits = 0;
  misses = 0;
  invalidations = 0;

  constructor(physLimit: number) {
    this.codePage = new Uint8Array(Math.ceil(physLimit / 4096) + 1);
  }

  /** Finds the block for `key` decoded at linear address `linear`. */
  lookup(key: number, linear: number): Block | undefined {
    const b = this.table[(key >>> 2) & (CACHE_SIZE - 1)];
    if (b !== undefined && b.key === key && b.linear === linear) {
      this.hits++;
      return b;
    }
    this.misses++;
    return undefined;
  }

  /** Adds a freshly decoded block and marks its pages as holding code. */
  insert(cpu: Cpu, b: Block): void {
    this.table[(b.key >>> 2) & (CACHE_SIZE - 1)] = b;
    for (const p of b.pages) {
      let list = this.byPage.get(p);
      if (list === undefined) {
        list = [];
        this.byPage.set(p, list);
      }
      list.push(b);
      if (list.length >= 64 && (list.length & 63) === 0) {
        // blocks evicted from the table (and decoded again) stay listed: compact now and then
        const live = list.filter((x) => this.table[(x.key >>> 2) & (CACHE_SIZE - 1)] === x);
        list.length = 0;
        list.push(...live);
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
      b.valid = false;
      const s = (b.key >>> 2) & (CACHE_SIZE - 1);
      if (this.table[s] === b) this.table[s] = undefined;
    }
    // the running block may have been dropped: end it after this instruction
    cpu.brk = true;
  }

  /** Drops everything (e.g. after host writes to guest memory). */
  clear(): void {
    for (const b of this.table) if (b !== undefined) b.valid = false;
    for (const list of this.byPage.values()) for (const b of list) b.valid = false;
    this.table.fill(undefined);
    this.byPage.clear();
    this.codePage.fill(0);
  }
}
