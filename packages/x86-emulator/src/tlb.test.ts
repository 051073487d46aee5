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
});
