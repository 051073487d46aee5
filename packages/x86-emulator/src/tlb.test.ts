import { describe, expect, it } from 'vitest';
import { TLB_SIZE, Tlb } from './tlb.js';

function present(t: Tlb, kindOff: number, page: number): boolean {
  return t.tag[kindOff + (((page | 0) >>> 12) & (TLB_SIZE - 1))] === page;
}

describe('Tlb', () => {
  it('keeps global entries across a non-global flush and drops everything on a full flush', () => {
    const t = new Tlb();
    t.fill(0, 0x1000, 0, 0x1000, 0x1000, false);
    t.fill(TLB_SIZE, -0x7f000000, 0, 0x2000, 0x2000, true);
    t.flushNonGlobal();
    expect(present(t, 0, 0x1000)).toBe(false);
    expect(present(t, TLB_SIZE, -0x7f000000)).toBe(true);
    t.fill(0, 0x3000, 0, 0x3000, 0x3000, false);
    t.flushNonGlobal();
    expect(present(t, TLB_SIZE, -0x7f000000)).toBe(true);
    t.flushAll();
    expect(present(t, TLB_SIZE, -0x7f000000)).toBe(false);
  });

  it('flushes correctly after more fills than its fill log holds', () => {
    const t = new Tlb();
    for (let k = 0; k < 20000; k++) t.fill((k % 6) * TLB_SIZE, k * 4096, 0, 0, 0, k % 7 === 0);
    t.flushNonGlobal();
    let live = 0;
    for (let s = 0; s < t.tag.length; s++) if (t.tag[s] !== 1) live++;
    for (let s = 0; s < t.tag.length; s++) if (t.tag[s] !== 1) expect(t.global[s]).toBe(1);
    expect(live).toBeGreaterThan(0);
    t.flushAll();
    for (let s = 0; s < t.tag.length; s++) expect(t.tag[s]).toBe(1);
  });

  it('INVLPG drops one page in every bank', () => {
    const t = new Tlb();
    for (let k = 0; k < 6; k++) t.fill(k * TLB_SIZE, 0x5000, 0, 0, 0, true);
    t.flushPage(0x5123);
    for (let k = 0; k < 6; k++) expect(present(t, k * TLB_SIZE, 0x5000)).toBe(false);
  });

  it('INVLPG of a user page keeps the global (kernel) entries and the global epoch', () => {
    const t = new Tlb();
    // kernel text (global) and the direct map (a global 2 MiB page) as the kernel leaves them
    t.fill(2 * TLB_SIZE, -0x7f000000, 0, 0x2000, 0x2000, true);
    t.fill(0, -0x77000000, 0, 0x200000, 0x200000, true, 21);
    t.fill(3 * TLB_SIZE, 0x400000, 0, 0x9000, 0x9000, false);
    const { flushes, globalFlushes } = t;
    t.flushPage(0x400123);
    expect(present(t, 3 * TLB_SIZE, 0x400000)).toBe(false);
    expect(present(t, 2 * TLB_SIZE, -0x7f000000)).toBe(true);
    expect(present(t, 0, -0x77000000)).toBe(true);
    expect(t.flushes).toBe(flushes + 1);
    expect(t.globalFlushes).toBe(globalFlushes);
    // a global page: the global epoch moves (links between global blocks may rest on it)
    t.flushPage(-0x7f000000);
    expect(t.globalFlushes).toBe(globalFlushes + 1);
  });

  it('INVLPG anywhere in a large page drops every 4 KiB entry made from it, and only those', () => {
    const t = new Tlb();
    const big = 0x40000000; // a 2 MiB page at 1 GiB
    for (const off of [0, 0x1000, 0x1ff000]) t.fill(0, big + off, 0, off, 0x600000 + off, false, 21);
    t.fill(0, big + 0x200000, 0, 0, 0x900000, false, 21); // the next 2 MiB page
    t.fill(0, big - 0x1000, 0, 0, 0xa00000, false); // a 4 KiB page just below
    t.flushPage(big + 0x1234);
    for (const off of [0, 0x1000, 0x1ff000]) expect(present(t, 0, big + off)).toBe(false);
    expect(present(t, 0, big + 0x200000)).toBe(true);
    expect(present(t, 0, big - 0x1000)).toBe(true);
    // the same for a 1 GiB page at a negative (upper-half) address
    const g = -0x80000000;
    t.fill(TLB_SIZE, g + 0x3000, 0, 0, 0, true, 30);
    t.flushPage(g + 0x3fff0000);
    expect(present(t, TLB_SIZE, g + 0x3000)).toBe(false);
  });

  it('moves the global epoch when a global execute entry is evicted by another page', () => {
    const t = new Tlb();
    t.fill(2 * TLB_SIZE, -0x7f000000, 0, 0, 0, true);
    const e = t.globalFlushes;
    t.fill(2 * TLB_SIZE, -0x7f000000, 0, 0, 0, true); // the same page again: no eviction
    expect(t.globalFlushes).toBe(e);
    t.fill(2 * TLB_SIZE, -0x7f000000 + TLB_SIZE * 4096, 0, 0, 0, true); // same slot, another page
    expect(t.globalFlushes).toBe(e + 1);
    t.fill(0, -0x7f000000, 0, 0, 0, true);
    t.fill(0, -0x7f000000 + TLB_SIZE * 4096, 0, 0, 0, true); // a data bank: links do not rest on it
    expect(t.globalFlushes).toBe(e + 1);
  });
});
