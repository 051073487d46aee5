/**
 * RDRAND and RDSEED (0F C7 /6 and /7, register operand): random numbers from the host.
 *
 * Both read one source, by default the host's cryptographically secure generator
 * (`crypto.getRandomValues`, which browsers and Node both have), drawn in blocks of
 * {@link RANDOM_POOL_WORDS} 32-bit words so an instruction costs no host call. On success the
 * destination gets the random value and CF = 1; if the source fails (throws) the destination is
 * zeroed and CF = 0, as hardware reports an exhausted generator. OF, SF, ZF, AF and PF are cleared
 * either way. Both run at every privilege level and in every mode (no VMX exiting to model);
 * CPUID leaf 1 ECX bit 30 and leaf 7 EBX bit 18 advertise them.
 *
 * @module
 */
import type { Cpu } from './cpu.js';
import { setArithFlags } from './flags.js';
import type { Insn } from './insn.js';
import { setR } from './operands.js';

/** Fills `words` with random 32-bit values; may throw to report that none are available. */
export type RandomSource = (words: Uint32Array) => void;

/** 32-bit words drawn from the source at once. */
export const RANDOM_POOL_WORDS = 256;

/** The host's random source: `crypto.getRandomValues`. @example hostRandom(new Uint32Array(4)) */
export const hostRandom: RandomSource = (words) => {
  crypto.getRandomValues(words);
};

/**
 * A reproducible source (for deterministic runs): a SplitMix32-style generator from `seed`.
 * Not cryptographically secure.
 * @example const src = seededRandom(1); src(new Uint32Array(2)); // the same words for seed 1
 */
export function seededRandom(seed: number): RandomSource {
  let s = seed | 0;
  return (words) => {
    for (let k = 0; k < words.length; k++) {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      words[k] = (z ^ (z >>> 16)) >>> 0;
    }
  };
}

/**
 * A CPU's supply of random words: refills from its {@link RandomSource} when used up.
 * @example const pool = new RandomPool(hostRandom); if (pool.take(1)) console.log(pool.next());
 */
export class RandomPool {
  private readonly words = new Uint32Array(RANDOM_POOL_WORDS);
  private pos = RANDOM_POOL_WORDS;

  constructor(private readonly source: RandomSource) {}

  /** Whether `n` (at most 2) words are ready, refilling if needed; false when the source failed. */
  take(n: number): boolean {
    if (this.pos + n <= RANDOM_POOL_WORDS) return true;
    try {
      this.source(this.words);
    } catch {
      return false;
    }
    this.pos = 0;
    return true;
  }

  /** The next word (call {@link take} first). */
  next(): number {
    return this.words[this.pos++] | 0;
  }
}

/** RDRAND r16/r32/r64 (op 0) and RDSEED (op 1): one value from the CPU's random pool. */
export function rdrand(c: Cpu, i: Insn): void {
  const pool = c.random;
  const sz = i.sz;
  const ok = pool.take(sz === 8 ? 2 : 1);
  let lo = 0;
  let hi = 0;
  if (ok) {
    lo = pool.next();
    if (sz === 8) hi = pool.next();
    else if (sz === 2) lo &= 0xffff;
  }
  setR(c, i.rm, 0, sz, lo, hi);
  setArithFlags(c, ok ? 1 : 0);
}
