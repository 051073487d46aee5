/**
 * The software TLB: a direct-mapped table keyed by virtual page number, in typed arrays, with six
 * banks for the access kinds (supervisor read/write/execute, user read/write/execute) so that a
 * permission check is one tag comparison. An entry maps a 4 KiB linear page to a RAM region and
 * the offset of the page inside it; MMIO pages never enter the TLB (they take the slow path).
 *
 * @example
 * ```ts
 * const tlb = new Tlb();
 * tlb.fill(TLB_SIZE * 0, 0x7000, 0, 0x7000, 0x7000, false); // supervisor-read entry
 * ```
 */
export const TLB_SIZE = 4096;
/** Number of banks (access kinds). */
export const TLB_KINDS = 6;
/** Invalid tag (no page base is odd). */
const INVALID = 1;
/** Capacity of the filled-slot log. */
const LOG_CAP = 8192;
/** The supervisor execute bank (kinds: read, write, execute; the user banks follow). */
const EXEC_BANK = 2;

/** The translation cache. */
export class Tlb {
  /** Linear page base per slot (INVALID when empty). */
  readonly tag: Float64Array;
  /**
   * Byte address of the page inside the WebAssembly memory holding guest RAM, per slot (only
   * filled when {@link Tlb.wasmBase} is set: the WebAssembly block compiler reads it).
   */
  readonly wad: Int32Array;
  /** Byte offset of each RAM region inside the WebAssembly memory, or null. */
  wasmBase: readonly number[] | null = null;
  /** RAM region index per slot. */
  readonly reg = new Int32Array(TLB_SIZE * TLB_KINDS);
  /** Offset of the page inside the region's bytes. */
  readonly off = new Float64Array(TLB_SIZE * TLB_KINDS);
  /** Physical page address. */
  readonly phys = new Float64Array(TLB_SIZE * TLB_KINDS);
  /** 1 for global pages (survive CR3 writes). */
  readonly global = new Uint8Array(TLB_SIZE * TLB_KINDS);
  /** Whether any entry came from a large page (INVLPG then also drops the other 4 KiB entries made from it). */
  hasLarge = false;
  /** log2 of the size of the page each slot's translation came from (12, or 21/22/30 for large pages). */
  readonly shift = new Uint8Array(TLB_SIZE * TLB_KINDS);
  /** Lowest and highest-plus-one linear address covered by the large pages entries came from since the last full flush. */
  private largeLo = Number.POSITIVE_INFINITY;
  private largeHi = Number.NEGATIVE_INFINITY;
  /**
   * The two epochs below, in an Int32Array (in the WebAssembly state area when the CPU has one: the
   * compiled code's block chaining checks them).
   */
  readonly epochs: Int32Array;
  /** Flush count; also the epoch of chained block links between blocks on non-global pages. */
  get flushes(): number {
    return this.epochs[0];
  }
  set flushes(v: number) {
    this.epochs[0] = v;
  }
  /**
   * Count of flushes that can change global translations (everything but a CR3 reload) and of mode
   * or privilege changes: the epoch of chained links between blocks on global pages (kernel text),
   * which a CR3 reload leaves alone.
   */
  get globalFlushes(): number {
    return this.epochs[1];
  }
  set globalFlushes(v: number) {
    this.epochs[1] = v;
  }
  /**
   * Slots filled since the last flush: flushes touch only these (a CR3 reload costs what was filled
   * since, not the whole table). On overflow the next flush scans everything.
   */
  private readonly filled = new Int32Array(LOG_CAP);
  private filledLen = 0;
  private overflow = false;

  /**
   * A TLB in fresh arrays, or in the given ones (views into the WebAssembly memory that compiled
   * code reads; `TLB_SIZE * TLB_KINDS` entries each).
   * @example const tlb = new Tlb();
   */
  constructor(arrays?: { tag: Float64Array; wad: Int32Array; epochs: Int32Array }) {
    this.tag = arrays?.tag ?? new Float64Array(TLB_SIZE * TLB_KINDS);
    this.wad = arrays?.wad ?? new Int32Array(TLB_SIZE * TLB_KINDS);
    this.epochs = arrays?.epochs ?? new Int32Array(2);
    this.tag.fill(INVALID);
  }

  /** Fills slot for `kindOff` + hash of `pageBase`. */
  fill(
    kindOff: number,
    pageBase: number,
    region: number,
    offset: number,
    phys: number,
    global: boolean,
    /** log2 of the size of the page the translation came from (12 unless a large page). */
    shift = 12,
  ): void {
    const s = kindOff + (((pageBase | 0) >>> 12) & (TLB_SIZE - 1));
    // evicting another page's global execute entry: links between global blocks may rest on it,
    // and an INVLPG of that page would no longer find it to break them (see flushPage)
    if (this.global[s] === 1 && this.tag[s] !== INVALID && this.tag[s] !== pageBase) {
      const bank = (s / TLB_SIZE) | 0;
      if (bank === EXEC_BANK || bank === EXEC_BANK + 3) this.globalFlushes++;
    }
    this.shift[s] = shift;
    if (shift > 12) {
      this.hasLarge = true;
      const size = 2 ** shift;
      const base = pageBase - (((pageBase % size) + size) % size);
      if (base < this.largeLo) this.largeLo = base;
      if (base + size > this.largeHi) this.largeHi = base + size;
    }
    this.tag[s] = pageBase;
    this.reg[s] = region;
    this.off[s] = offset;
    this.phys[s] = phys;
    this.global[s] = global ? 1 : 0;
    if (this.wasmBase !== null) this.wad[s] = this.wasmBase[region] + offset;
    if (this.filledLen < LOG_CAP) this.filled[this.filledLen++] = s;
    else this.overflow = true;
  }

  /** Drops every entry. */
  flushAll(): void {
    if (this.overflow) this.tag.fill(INVALID);
    else for (let k = 0; k < this.filledLen; k++) this.tag[this.filled[k]] = INVALID;
    this.filledLen = 0;
    this.overflow = false;
    this.hasLarge = false;
    this.largeLo = Number.POSITIVE_INFINITY;
    this.largeHi = Number.NEGATIVE_INFINITY;
    this.flushes++;
    this.globalFlushes++;
  }

  /** Drops non-global entries (CR3 write with CR4.PGE). */
  flushNonGlobal(): void {
    const t = this.tag;
    const g = this.global;
    const log = this.filled;
    let w = 0;
    if (this.overflow) {
      let over = false;
      for (let i = 0; i < t.length; i++) {
        if (g[i] === 0) t[i] = INVALID;
        else if (t[i] !== INVALID) {
          if (w < LOG_CAP) log[w++] = i;
          else over = true;
        }
      }
      this.overflow = over;
    } else {
      for (let k = 0; k < this.filledLen; k++) {
        const s = log[k];
        if (g[s] === 0) t[s] = INVALID;
        else log[w++] = s;
      }
    }
    this.filledLen = w;
    this.flushes++;
  }

  /** Breaks every chained block link (a mode or privilege change) without dropping translations. */
  breakChains(): void {
    this.flushes++;
    this.globalFlushes++;
  }

  /** Whether slot `s` holds the global translation of linear page `page`. */
  isGlobal(s: number, page: number): boolean {
    return this.tag[s] === page && this.global[s] === 1;
  }

  /**
   * Drops the entries for one linear page in all banks (INVLPG), and when `la` lies in a large page
   * entries were made from, the entries for the rest of that page. Chained block links between
   * blocks on non-global pages break (the code's translation may have changed); those between
   * blocks on global pages only when a global translation was dropped, so the kernel's chains
   * survive its INVLPGs of user pages.
   */
  flushPage(la: number): void {
    const pb = la - (la & 0xfff);
    const h = ((pb | 0) >>> 12) & (TLB_SIZE - 1);
    const t = this.tag;
    let global = false;
    for (let k = 0; k < TLB_KINDS; k++) {
      const s = k * TLB_SIZE + h;
      if (t[s] === pb) {
        t[s] = INVALID;
        if (this.global[s] === 1) global = true;
      }
    }
    if (this.hasLarge && pb >= this.largeLo && pb < this.largeHi) {
      const drop = (s: number): void => {
        const sh = this.shift[s];
        if (sh === 12 || t[s] === INVALID) return;
        const size = 2 ** sh;
        const tb = t[s] - (((t[s] % size) + size) % size);
        if (pb >= tb && pb < tb + size) {
          t[s] = INVALID;
          if (this.global[s] === 1) global = true;
        }
      };
      if (this.overflow) for (let s = 0; s < t.length; s++) drop(s);
      else for (let k = 0; k < this.filledLen; k++) drop(this.filled[k]);
    }
    this.flushes++;
    if (global) this.globalFlushes++;
  }

  /** Drops write entries (both privilege banks) mapping physical page `physPage` (code was decoded there). */
  dropWritesTo(physPage: number): void {
    for (const bank of [1, 4]) {
      const base = bank * TLB_SIZE;
      for (let i = base; i < base + TLB_SIZE; i++) {
        if (this.phys[i] === physPage) this.tag[i] = INVALID;
      }
    }
  }
}
