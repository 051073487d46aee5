import { describe, expect, it } from 'vitest';
import { nop } from './alu.js';
import { type Block, BlockCache, newBlock } from './block-cache.js';
import type { Cpu } from './cpu.js';
import { Insn } from './insn.js';

/** The little of a CPU that the cache touches: the TLB hook and the break flag. */
function fakeCpu(): Cpu & { dropped: number[] } {
  const dropped: number[] = [];
  return { dropped, brk: false, tlb: { dropWritesTo: (p: number) => dropped.push(p) } } as unknown as Cpu & {
    dropped: number[];
  };
}

/** A 64-bit block of `n` NOPs at physical `pa` (linear = physical). */
function block(pa: number, n = 2): Block {
  const insns = Array.from({ length: n }, (_, k) => {
    const i = new Insn(nop);
    i.ip = pa + k;
    i.next = pa + k + 1;
    i.len = 1;
    i.idx = k;
    return i;
  });
  const b = newBlock(pa, [pa - (pa % 4096)], insns);
  b.key = pa * 4 + 3;
  return b;
}

describe('BlockCache', () => {
  it('keeps blocks whose physical addresses share their low 16 bits apart (no slot fight)', () => {
    const cpu = fakeCpu();
    const cache = new BlockCache(64 << 20);
    const blocks = Array.from({ length: 256 }, (_, k) => block(0x100000 + k * 0x10000 + 0x123));
    for (const b of blocks) cache.insert(cpu, b);
    for (const b of blocks) expect(cache.lookup(b.key, b.linear)).toBe(b);
    expect(cache.evictions).toBe(0);
  });

  it('finds what it holds and misses what it does not', () => {
    const cpu = fakeCpu();
    const cache = new BlockCache(1 << 20);
    const b = block(0x2000);
    cache.insert(cpu, b);
    expect(cache.lookup(b.key, 0x2000)).toBe(b);
    expect(cache.lookup(b.key, 0x3000)).toBeUndefined(); // same physical code, other linear address
    expect(cache.lookup(b.key - 1, 0x2000)).toBeUndefined(); // other code mode
    expect(cache.hits).toBe(1);
    expect(cache.misses).toBe(2);
    expect(cpu.dropped).toEqual([0x2000]); // the page lost its write translations once
  });

  it('keeps two blocks per set; a full set gives up the less used, released: invalid, no instructions, no compiled code, no chains', () => {
    const cpu = fakeCpu();
    const cache = new BlockCache(1 << 20);
    const a = block(0x2000);
    a.fn = () => 2;
    const other = block(0x4000);
    a.succ0 = other;
    cache.insert(cpu, a);
    // the same key under other linear addresses (alias mappings) fills a's set: two ways
    const b = { ...block(0x2000), linear: 0xffff_8000_0000_2000, count: 5 };
    cache.insert(cpu, b);
    expect(cache.evictions).toBe(0);
    expect(cache.lookup(a.key, a.linear)).toBe(a);
    expect(cache.lookup(b.key, b.linear)).toBe(b);
    const c = { ...block(0x2000), linear: 0xffff_9000_0000_2000 };
    cache.insert(cpu, c);
    // b (interpreted, 5 runs) goes rather than a (compiled)
    expect(cache.evictions).toBe(1);
    expect(b.valid).toBe(false);
    expect(b.insns).toHaveLength(0);
    expect(a.valid).toBe(true);
    expect(cache.lookup(c.key, c.linear)).toBe(c);
    expect(cache.lookup(b.key, b.linear)).toBeUndefined();
    const d = { ...block(0x2000), linear: 0xffff_a000_0000_2000 };
    d.fn = () => 2;
    cache.insert(cpu, d);
    // c (interpreted) goes; a, compiled, stays
    const e = { ...block(0x2000), linear: 0xffff_b000_0000_2000 };
    cache.insert(cpu, e);
    // both compiled: the first way goes
    expect(cache.evictions).toBe(3);
    expect(a.valid).toBe(false);
    expect(a.insns).toHaveLength(0);
    expect(a.fn).toBeNull();
    expect(a.succ0).toBeNull();
    expect(d.valid).toBe(true);
    expect(e.valid).toBe(true);
  });

  it('a write to a code page releases exactly the blocks on that page and asks the CPU to stop', () => {
    const cpu = fakeCpu();
    const cache = new BlockCache(1 << 20);
    const onPage = [block(0x5000), block(0x5100)];
    const elsewhere = block(0x6000);
    for (const b of [...onPage, elsewhere]) cache.insert(cpu, b);
    cache.notifyWrite(cpu, 0x5abc);
    expect(cpu.brk).toBe(true);
    expect(cache.invalidations).toBe(1);
    for (const b of onPage) {
      expect(b.valid).toBe(false);
      expect(b.insns).toHaveLength(0);
      expect(cache.lookup(b.key, b.linear)).toBeUndefined();
    }
    expect(elsewhere.valid).toBe(true);
    expect(cache.lookup(elsewhere.key, elsewhere.linear)).toBe(elsewhere);
    expect(cache.codePage[5]).toBe(0);
    expect(cache.codePage[6]).toBe(1);
    cpu.brk = false;
    cache.notifyWrite(cpu, 0x5000); // no code there any more: nothing to do
    expect(cpu.brk).toBe(false);
    expect(cache.invalidations).toBe(1);
  });

  it('a block displaced many times over on one page never leaves a stale block valid (page write drops all)', () => {
    const cpu = fakeCpu();
    const cache = new BlockCache(1 << 20);
    const all: Block[] = [];
    // 200 decodes of the same code under three alternating linear aliases: they displace each other
    for (let k = 0; k < 200; k++) {
      const b = { ...block(0x7010), linear: 0x7010 + (k % 3) * 0x1_0000_0000 };
      all.push(b);
      cache.insert(cpu, b);
    }
    expect(all.filter((b) => b.valid)).toHaveLength(2);
    expect(cache.evictions).toBe(198);
    cache.notifyWrite(cpu, 0x7000);
    expect(all.filter((b) => b.valid)).toHaveLength(0);
  });

  it('clear() releases everything', () => {
    const cpu = fakeCpu();
    const cache = new BlockCache(1 << 20);
    const bs = [block(0x1000), block(0x9000)];
    for (const b of bs) cache.insert(cpu, b);
    cache.clear();
    for (const b of bs) {
      expect(b.valid).toBe(false);
      expect(cache.lookup(b.key, b.linear)).toBeUndefined();
    }
    expect([...cache.codePage].every((x) => x === 0)).toBe(true);
  });
});
