/**
 * A minimal WebAssembly binary writer for the block compiler (wasm-jit.ts): function bodies as byte
 * arrays built with {@link Code}, and modules of functions that import one shared memory, a few host
 * functions and (optionally) a function table.
 *
 * @example
 * ```ts
 * const c = new Code();
 * c.get(0).i32(1).op(Op.I32_ADD); // (param i32) (result i32): x + 1
 * const bytes = moduleBytes({
 *   types: [[[I32], [I32]]],
 *   imports: [],
 *   funcs: [{ type: 0, locals: [], code: c }],
 *   exports: [{ name: 'inc', func: 0 }],
 * });
 * const inc = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.inc as (x: number) => number;
 * inc(41); // 42
 * ```
 */

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
/** The 128-bit vector type (fixed-width SIMD). */
export const V128 = 0x7b;

/** Value types of a function signature: [params, results]. */
export type Sig = readonly [readonly number[], readonly number[]];

/** Opcodes used by the compiler (WebAssembly MVP plus sign extension). */
export const Op = {
  BLOCK: 0x02,
  LOOP: 0x03,
  IF: 0x04,
  ELSE: 0x05,
  END: 0x0b,
  BR: 0x0c,
  BR_IF: 0x0d,
  RETURN: 0x0f,
  CALL: 0x10,
  CALL_INDIRECT: 0x11,
  DROP: 0x1a,
  SELECT: 0x1b,
  I32_LOAD: 0x28,
  I64_LOAD: 0x29,
  F64_LOAD: 0x2b,
  I64_LOAD8_U: 0x31,
  I64_LOAD16_U: 0x33,
  I64_LOAD32_U: 0x35,
  I32_STORE: 0x36,
  I64_STORE: 0x37,
  F64_STORE: 0x39,
  I64_STORE8: 0x3c,
  I64_STORE16: 0x3d,
  I64_STORE32: 0x3e,
  I32_EQZ: 0x45,
  I32_EQ: 0x46,
  I32_NE: 0x47,
  I32_LT_S: 0x48,
  I32_LE_S: 0x4c,
  I32_LE_U: 0x4d,
  I32_GE_S: 0x4e,
  I32_GT_U: 0x4b,
  I64_EQZ: 0x50,
  I64_EQ: 0x51,
  I64_NE: 0x52,
  I64_LT_S: 0x53,
  I64_LT_U: 0x54,
  I64_GT_U: 0x56,
  I64_LE_S: 0x57,
  I64_LE_U: 0x58,
  F64_EQ: 0x61,
  F64_NE: 0x62,
  I32_POPCNT: 0x69,
  I32_ADD: 0x6a,
  I32_SUB: 0x6b,
  I32_MUL: 0x6c,
  I32_DIV_U: 0x6e,
  I32_AND: 0x71,
  I32_OR: 0x72,
  I32_XOR: 0x73,
  I32_SHL: 0x74,
  I32_SHR_S: 0x75,
  I32_SHR_U: 0x76,
  I32_ROTL: 0x77,
  I32_ROTR: 0x78,
  I64_ADD: 0x7c,
  I64_SUB: 0x7d,
  I64_MUL: 0x7e,
  I64_AND: 0x83,
  I64_OR: 0x84,
  I64_XOR: 0x85,
  I64_SHL: 0x86,
  I64_SHR_S: 0x87,
  I64_SHR_U: 0x88,
  I64_ROTL: 0x89,
  I64_ROTR: 0x8a,
  I32_WRAP_I64: 0xa7,
  I64_TRUNC_F64_S: 0xb0,
  I64_EXTEND_I32_S: 0xac,
  I64_EXTEND_I32_U: 0xad,
  F64_CONVERT_I64_S: 0xb9,
  I64_EXTEND8_S: 0xc2,
  I64_EXTEND16_S: 0xc3,
  I64_EXTEND32_S: 0xc4,
} as const;

/**
 * Fixed-width SIMD opcodes (each emitted as the 0xfd prefix and this number, LEB128-encoded), the
 * subset the compiler uses for SSE.
 */
export const Simd = {
  V128_LOAD: 0x00,
  V128_STORE: 0x0b,
  V128_CONST: 0x0c,
  I8X16_SHUFFLE: 0x0d,
  I8X16_EQ: 0x23,
  I8X16_GT_S: 0x27,
  I16X8_EQ: 0x2d,
  I16X8_GT_S: 0x31,
  I32X4_EQ: 0x37,
  I32X4_GT_S: 0x3b,
  V128_AND: 0x4e,
  V128_ANDNOT: 0x4f,
  V128_OR: 0x50,
  V128_XOR: 0x51,
  I8X16_BITMASK: 0x64,
  I8X16_ADD: 0x6e,
  I8X16_ADD_SAT_S: 0x6f,
  I8X16_ADD_SAT_U: 0x70,
  I8X16_SUB: 0x71,
  I8X16_SUB_SAT_S: 0x72,
  I8X16_SUB_SAT_U: 0x73,
  I8X16_MIN_U: 0x77,
  I8X16_MAX_U: 0x79,
  I8X16_AVGR_U: 0x7b,
  I16X8_SHL: 0x8b,
  I16X8_SHR_S: 0x8c,
  I16X8_SHR_U: 0x8d,
  I16X8_ADD: 0x8e,
  I16X8_ADD_SAT_S: 0x8f,
  I16X8_ADD_SAT_U: 0x90,
  I16X8_SUB: 0x91,
  I16X8_SUB_SAT_S: 0x92,
  I16X8_SUB_SAT_U: 0x93,
  I16X8_MUL: 0x95,
  I16X8_MIN_S: 0x96,
  I16X8_MAX_S: 0x98,
  I16X8_AVGR_U: 0x9b,
  I32X4_BITMASK: 0xa4,
  I32X4_SHL: 0xab,
  I32X4_SHR_S: 0xac,
  I32X4_SHR_U: 0xad,
  I32X4_ADD: 0xae,
  I32X4_SUB: 0xb1,
  I64X2_BITMASK: 0xc4,
  I64X2_SHL: 0xcb,
  I64X2_SHR_U: 0xcd,
  I64X2_ADD: 0xce,
  I64X2_SUB: 0xd1,
} as const;

/** Block type "no result". */
export const VOID = 0x40;

function uleb(out: number[], v: number): void {
  if (v < 0x80) {
    out.push(v);
    return;
  }
  if (v < 0x80000000) {
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.push(v);
    return;
  }
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
}

function sleb32(out: number[], v: number): void {
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

function sleb64(out: number[], v: bigint): void {
  v = BigInt.asIntN(64, v);
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** Signed LEB128 of a safe integer (|v| < 2^53), without bigint arithmetic. */
function slebSafe(out: number[], v: number): void {
  if (!Number.isSafeInteger(v)) throw new RangeError(`i64 constant ${v} is not a safe integer`);
  for (;;) {
    const b = v & 0x7f; // low 7 bits of the two's complement value
    v = Math.floor(v / 128);
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

const f64Scratch = new DataView(new ArrayBuffer(8));

/**
 * A function body under construction: chainable emitters for the instructions the compiler uses.
 * @example new Code().get(0).i64(1n).op(Op.I64_ADD)
 */
export class Code {
  readonly b: number[] = [];
  /** A dry run: emitters do nothing (a compiler's analysis pass runs its emitting code for its side effects). */
  dry = false;
  op(...ops: number[]): this {
    if (this.dry) return this;
    for (const o of ops) this.b.push(o);
    return this;
  }
  get(l: number): this {
    if (this.dry) return this;
    this.b.push(0x20);
    uleb(this.b, l);
    return this;
  }
  set(l: number): this {
    if (this.dry) return this;
    this.b.push(0x21);
    uleb(this.b, l);
    return this;
  }
  tee(l: number): this {
    if (this.dry) return this;
    this.b.push(0x22);
    uleb(this.b, l);
    return this;
  }
  i32(v: number): this {
    if (this.dry) return this;
    this.b.push(0x41);
    sleb32(this.b, v);
    return this;
  }
  /** An i64 constant: a safe integer (the fast path) or any bigint (taken modulo 2^64). */
  i64(v: bigint | number): this {
    if (this.dry) return this;
    this.b.push(0x42);
    if (typeof v === 'number') slebSafe(this.b, v);
    else sleb64(this.b, v);
    return this;
  }
  f64(v: number): this {
    if (this.dry) return this;
    this.b.push(0x44);
    f64Scratch.setFloat64(0, v, true);
    for (let k = 0; k < 8; k++) this.b.push(f64Scratch.getUint8(k));
    return this;
  }
  /** A load or store with a constant offset (alignment hint 0: unaligned accesses are legal). */
  mem(opcode: number, offset: number): this {
    if (this.dry) return this;
    this.b.push(opcode, 0);
    uleb(this.b, offset);
    return this;
  }
  call(f: number): this {
    if (this.dry) return this;
    this.b.push(Op.CALL);
    uleb(this.b, f);
    return this;
  }
  br(depth: number): this {
    if (this.dry) return this;
    this.b.push(Op.BR);
    uleb(this.b, depth);
    return this;
  }
  brIf(depth: number): this {
    if (this.dry) return this;
    this.b.push(Op.BR_IF);
    uleb(this.b, depth);
    return this;
  }
  /** `if` with no result. */
  if(): this {
    if (this.dry) return this;
    this.b.push(Op.IF, VOID);
    return this;
  }
  /** `if` yielding one value of type `t`. */
  ifT(t: number): this {
    if (this.dry) return this;
    this.b.push(Op.IF, t);
    return this;
  }
  block(): this {
    if (this.dry) return this;
    this.b.push(Op.BLOCK, VOID);
    return this;
  }
  loop(): this {
    if (this.dry) return this;
    this.b.push(Op.LOOP, VOID);
    return this;
  }
  end(): this {
    if (this.dry) return this;
    this.b.push(Op.END);
    return this;
  }
  /** A SIMD instruction without immediates ({@link Simd}). */
  simd(opcode: number): this {
    if (this.dry) return this;
    this.b.push(0xfd);
    uleb(this.b, opcode);
    return this;
  }
  /** A SIMD load or store (v128.load / v128.store) with a constant offset, alignment hint 0. */
  simdMem(opcode: number, offset: number): this {
    if (this.dry) return this;
    this.b.push(0xfd);
    uleb(this.b, opcode);
    this.b.push(0);
    uleb(this.b, offset);
    return this;
  }
  /** `i8x16.shuffle` of the two vectors on the stack: result byte k is byte `lanes[k]` of a (0-15) or b (16-31). */
  shuffle(lanes: readonly number[]): this {
    if (this.dry) return this;
    this.b.push(0xfd);
    uleb(this.b, Simd.I8X16_SHUFFLE);
    for (let k = 0; k < 16; k++) this.b.push(lanes[k]);
    return this;
  }
  /** The all-zero vector (`v128.const 0`). */
  v128Zero(): this {
    if (this.dry) return this;
    this.b.push(0xfd);
    uleb(this.b, Simd.V128_CONST);
    for (let k = 0; k < 16; k++) this.b.push(0);
    return this;
  }
  /** Appends another body's bytes. */
  append(c: Code): this {
    for (const x of c.b) this.b.push(x);
    return this;
  }
}

/** One function of a module: its type index, extra locals (value types) and body. */
export interface FuncDef {
  type: number;
  locals: readonly number[];
  /** Emitted before `code` (a compiler's entry code, generated after the body). */
  prologue?: Code;
  code: Code;
}

/** What a module holds. Imports come from module "e". */
export interface ModuleDef {
  types: readonly Sig[];
  /** Imported host functions: name and type index (they take the first function indices). */
  imports: readonly { name: string; type: number }[];
  /** Import the shared memory "e"."m" with these page limits. */
  memory?: { min: number; max: number };
  /** Import the function table "e"."t". */
  table?: boolean;
  funcs: readonly FuncDef[];
  /** Exported functions: name and function index. */
  exports: readonly { name: string; func: number }[];
}

function name(out: number[], s: string): void {
  uleb(out, s.length);
  for (let k = 0; k < s.length; k++) out.push(s.charCodeAt(k));
}

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const x of body) out.push(x);
}

/** Encodes a module. @example new WebAssembly.Module(moduleBytes(def)) */
export function moduleBytes(d: ModuleDef): Uint8Array<ArrayBuffer> {
  const out = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
  const types: number[] = [];
  uleb(types, d.types.length);
  for (const [p, r] of d.types) {
    types.push(0x60);
    uleb(types, p.length);
    types.push(...p);
    uleb(types, r.length);
    types.push(...r);
  }
  section(out, 1, types);
  const imps: number[] = [];
  uleb(imps, d.imports.length + (d.memory ? 1 : 0) + (d.table ? 1 : 0));
  if (d.memory) {
    name(imps, 'e');
    name(imps, 'm');
    imps.push(2, 3); // memory, shared with a maximum
    uleb(imps, d.memory.min);
    uleb(imps, d.memory.max);
  }
  if (d.table) {
    name(imps, 'e');
    name(imps, 't');
    imps.push(1, 0x70, 0, 0); // table of funcref, minimum 0
  }
  for (const im of d.imports) {
    name(imps, 'e');
    name(imps, im.name);
    imps.push(0);
    uleb(imps, im.type);
  }
  section(out, 2, imps);
  const fsec: number[] = [];
  uleb(fsec, d.funcs.length);
  for (const f of d.funcs) uleb(fsec, f.type);
  section(out, 3, fsec);
  const ex: number[] = [];
  uleb(ex, d.exports.length);
  for (const e of d.exports) {
    name(ex, e.name);
    ex.push(0);
    uleb(ex, e.func);
  }
  section(out, 7, ex);
  // the code section, written straight into the result (it is most of the module)
  const heads: number[][] = [];
  let codeLen = 0;
  for (const f of d.funcs) {
    const loc = localsBytes(f.locals);
    const pro = f.prologue?.b.length ?? 0;
    const head: number[] = [];
    uleb(head, loc.length + pro + f.code.b.length + 1);
    for (const x of loc) head.push(x);
    heads.push(head);
    codeLen += head.length + pro + f.code.b.length + 1;
  }
  const count: number[] = [];
  uleb(count, d.funcs.length);
  const secHead = [10];
  uleb(secHead, count.length + codeLen);
  const bytes = new Uint8Array(out.length + secHead.length + count.length + codeLen);
  bytes.set(out, 0);
  let p = out.length;
  bytes.set(secHead, p);
  p += secHead.length;
  bytes.set(count, p);
  p += count.length;
  for (let k = 0; k < d.funcs.length; k++) {
    bytes.set(heads[k], p);
    p += heads[k].length;
    const pro = d.funcs[k].prologue;
    if (pro !== undefined) {
      bytes.set(pro.b, p);
      p += pro.b.length;
    }
    const b = d.funcs[k].code.b;
    bytes.set(b, p);
    p += b.length;
    bytes[p++] = Op.END;
  }
  return bytes;
}

const localsCache = new WeakMap<readonly number[], number[]>();

/** Local declarations of a function body (run-length grouped by type), cached per list. */
function localsBytes(locals: readonly number[]): number[] {
  const hit = localsCache.get(locals);
  if (hit !== undefined) return hit;
  const groups: [number, number][] = [];
  for (const t of locals) {
    const g = groups[groups.length - 1];
    if (g !== undefined && g[1] === t) g[0]++;
    else groups.push([1, t]);
  }
  const out: number[] = [];
  uleb(out, groups.length);
  for (const [n, t] of groups) {
    uleb(out, n);
    out.push(t);
  }
  localsCache.set(locals, out);
  return out;
}
