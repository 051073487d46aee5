/**
 * Page-table walks for 32-bit, PAE and 4-level paging: U/S, R/W, NX, CR0.WP, accessed and dirty bit
 * updates, global pages, 4 MiB / 2 MiB / 1 GiB pages. A successful walk fills the software TLB for
 * the access kind that asked; a failed one raises #PF with the architectural error code and CR2.
 *
 * Reserved bits (SDM 4.5, 4.4, 4.3) raise #PF with P and RSVD set: physical-address bits from
 * MAXPHYADDR (CPUID 0x80000008 EAX[7:0]) to 51 (to 62 in PAE entries), bit 63 when EFER.NXE = 0,
 * PS in a PML4E, the address bits below a large page's frame (bits 20:13 of a 2 MiB, 29:13 of a
 * 1 GiB page, 21 of a 4 MiB one). PAE PDPTEs are not checked (hardware checks them on CR3 loads).
 *
 * Not modelled: SMEP/SMAP/PKU (not advertised), PCID (CR3 low bits are ignored), PSE-36.
 *
 * @example
 * ```ts
 * const pa = translate(cpu, 0xffffffff81000000, TLB_SIZE * 2); // supervisor execute
 * ```
 */
import { CR0, CR4, EFER, PFERR, SEG, VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import { TLB_SIZE } from './tlb.js';

const TWO32 = 4294967296;
const TWO47 = 2 ** 47;
const TWO48 = 2 ** 48;
const touched = new Float64Array(4);
let leafGlobal = false;
/** log2 of the size of the page the last walk ended in (12, or 21/22/30 for a large page). */
let leafShift = 12;

function pageFault(c: Cpu, la: number, present: boolean, access: number, user: boolean, rsvd = false): never {
  c.cr2 = la;
  let code = present ? PFERR.P : 0;
  if (rsvd) code |= PFERR.RSVD;
  if (access === 1) code |= PFERR.W;
  if (user) code |= PFERR.U;
  if (access === 2 && (c.efer & EFER.NXE) !== 0) code |= PFERR.I;
  throw new GuestFault(VEC.PF, code);
}

function checkPerms(
  c: Cpu,
  la: number,
  access: number,
  user: boolean,
  rw: number,
  us: number,
  nx: number,
): void {
  if (user && us === 0) pageFault(c, la, true, access, user);
  if (access === 1 && rw === 0 && (user || (c.cr0 & CR0.WP) !== 0)) pageFault(c, la, true, access, user);
  if (access === 2 && nx !== 0) pageFault(c, la, true, access, user);
}

function setAccessed(c: Cpu, n: number, leafAddr: number, write: boolean, wide: boolean): void {
  for (let k = 0; k < n; k++) {
    const a = touched[k];
    const lo = c.physRead32(a);
    let want = lo | 0x20;
    if (write && a === leafAddr) want |= 0x40;
    if (want !== lo) c.physWrite32(a, want);
  }
  void wide;
}

/** Cached reserved high-word bits for a CPUID table: bits 51:MAXPHYADDR of an entry (bits 19:M-32 of its high half). */
let physTable: unknown = null;
let physHi = 0;

/** Reserved bits of an entry's high half from the physical-address width (4-level: up to bit 51; PAE: up to 62). */
function reservedHi(c: Cpu, pae: boolean): number {
  if (c.cpuid !== physTable) {
    physTable = c.cpuid;
    const m = c.cpuidLookup(0x80000008, 0)[0] & 0xff;
    const bits = m >= 32 && m <= 52 ? m : 36;
    physHi = (0xfffff & ~((1 << (bits - 32)) - 1)) >>> 0;
  }
  const hi = pae ? physHi | 0x7ff00000 : physHi;
  return (c.efer & EFER.NXE) !== 0 ? hi : (hi | 0x80000000) >>> 0;
}

function walk64(c: Cpu, la: number, access: number, user: boolean): number {
  const u = la < 0 ? la + TWO48 : la;
  let table = Math.floor(c.cr3 / 4096) * 4096;
  table %= 2 ** 52;
  let rw = 1;
  let us = 1;
  let nx = 0;
  const nxe = (c.efer & EFER.NXE) !== 0;
  const rsvd = reservedHi(c, false) | 0;
  let shift = 39;
  let n = 0;
  for (;;) {
    const idx = Math.floor(u / 2 ** shift) % 512;
    const ea = table + idx * 8;
    const lo = c.physRead32(ea);
    const hi = c.physRead32(ea + 4);
    if ((lo & 1) === 0) pageFault(c, la, false, access, user);
    if (
      (hi & rsvd) !== 0 ||
      ((lo & 0x80) !== 0 &&
        (shift === 39 || (lo & (shift === 30 ? 0x3fffe000 : shift === 21 ? 0x1fe000 : 0)) !== 0))
    )
      pageFault(c, la, true, access, user, true);
    touched[n++] = ea;
    rw &= (lo >> 1) & 1;
    us &= (lo >> 2) & 1;
    if (nxe) nx |= hi >>> 31;
    const frame = (lo & 0xfffff000) >>> 0;
    const frameHi = (hi & 0xfffff) * TWO32;
    if (shift === 12 || ((shift === 30 || shift === 21) && (lo & 0x80) !== 0)) {
      checkPerms(c, la, access, user, rw, us, nx);
      setAccessed(c, n, ea, access === 1, true);
      leafGlobal = (lo & 0x100) !== 0 && (c.cr4 & CR4.PGE) !== 0;
      leafShift = shift;
      const size = 2 ** shift;
      const base = frameHi + frame - ((frameHi + frame) % size);
      return base + (u % size);
    }
    table = frameHi + frame;
    shift -= 9;
  }
}

function walkPae(c: Cpu, la: number, access: number, user: boolean): number {
  const nxe = (c.efer & EFER.NXE) !== 0;
  const rsvd = reservedHi(c, true) | 0;
  const pdpte = ((c.cr3 & 0xffffffe0) >>> 0) + ((la >>> 30) & 3) * 8;
  const plo = c.physRead32(pdpte);
  const phi = c.physRead32(pdpte + 4);
  if ((plo & 1) === 0) pageFault(c, la, false, access, user);
  let table = ((plo & 0xfffff000) >>> 0) + (phi & 0xfffff) * TWO32;
  let rw = 1;
  let us = 1;
  let nx = 0;
  let n = 0;
  for (let shift = 21; ; shift -= 9) {
    const idx = (la >>> shift) & 511;
    const ea = table + idx * 8;
    const lo = c.physRead32(ea);
    const hi = c.physRead32(ea + 4);
    if ((lo & 1) === 0) pageFault(c, la, false, access, user);
    if ((hi & rsvd) !== 0 || (shift === 21 && (lo & 0x80) !== 0 && (lo & 0x1fe000) !== 0))
      pageFault(c, la, true, access, user, true);
    touched[n++] = ea;
    rw &= (lo >> 1) & 1;
    us &= (lo >> 2) & 1;
    if (nxe) nx |= hi >>> 31;
    const base = ((lo & 0xfffff000) >>> 0) + (hi & 0xfffff) * TWO32;
    if (shift === 12 || (lo & 0x80) !== 0) {
      checkPerms(c, la, access, user, rw, us, nx);
      setAccessed(c, n, ea, access === 1, true);
      leafGlobal = (lo & 0x100) !== 0 && (c.cr4 & CR4.PGE) !== 0;
      leafShift = shift;
      if (shift === 21) return base - (base % 0x200000) + (la & 0x1fffff);
      return base + (la & 0xfff);
    }
    table = base;
  }
}

function walk32(c: Cpu, la: number, access: number, user: boolean): number {
  const pdeAddr = ((c.cr3 & 0xfffff000) >>> 0) + (la >>> 22) * 4;
  const pde = c.physRead32(pdeAddr);
  if ((pde & 1) === 0) pageFault(c, la, false, access, user);
  touched[0] = pdeAddr;
  if ((pde & 0x80) !== 0 && (c.cr4 & CR4.PSE) !== 0) {
    if ((pde & 0x200000) !== 0) pageFault(c, la, true, access, user, true);
    checkPerms(c, la, access, user, (pde >> 1) & 1, (pde >> 2) & 1, 0);
    setAccessed(c, 1, pdeAddr, access === 1, false);
    leafGlobal = (pde & 0x100) !== 0 && (c.cr4 & CR4.PGE) !== 0;
    leafShift = 22;
    return ((pde & 0xffc00000) >>> 0) + (la & 0x3fffff);
  }
  const pteAddr = ((pde & 0xfffff000) >>> 0) + ((la >>> 12) & 0x3ff) * 4;
  const pte = c.physRead32(pteAddr);
  if ((pte & 1) === 0) pageFault(c, la, false, access, user);
  touched[1] = pteAddr;
  checkPerms(c, la, access, user, (pde >> 1) & (pte >> 1) & 1, (pde >> 2) & (pte >> 2) & 1, 0);
  setAccessed(c, 2, pteAddr, access === 1, false);
  leafGlobal = (pte & 0x100) !== 0 && (c.cr4 & CR4.PGE) !== 0;
  leafShift = 12;
  return ((pte & 0xfffff000) >>> 0) + (la & 0xfff);
}

/**
 * Translates linear `la` for the access kind selected by `kindOff` (a TLB bank offset:
 * bank = read/write/execute + 3 for user) and fills the TLB. Returns the physical address.
 *
 * @example translate(cpu, 0x401000, 2 * TLB_SIZE) // supervisor instruction fetch
 */
export function translate(c: Cpu, la: number, kindOff: number): number {
  const kind = kindOff / TLB_SIZE;
  const access = kind % 3;
  const user = kind >= 3;
  let pa: number;
  leafGlobal = false;
  leafShift = 12;
  if ((c.cr0 & CR0.PG) === 0) {
    pa = c.longMode ? la : la >>> 0;
    if (pa < 0) throw new GuestFault(VEC.GP, 0);
  } else if ((c.efer & EFER.LMA) !== 0) {
    if (la < -TWO47 || la >= TWO47) {
      const ss = c.cur !== null && c.cur.seg === SEG.SS;
      throw new GuestFault(ss ? VEC.SS : VEC.GP, 0);
    }
    pa = walk64(c, la, access, user);
  } else if ((c.cr4 & CR4.PAE) !== 0) {
    pa = walkPae(c, la >>> 0, access, user);
  } else {
    pa = walk32(c, la >>> 0, access, user);
  }
  const region = c.regionOf(pa);
  if (region >= 0) {
    const physPage = pa - (pa % 4096);
    // no write entries for code pages (self-modifying code), no data entries for a page holding a
    // data breakpoint (every access there goes through the CPU's checks)
    if (
      (access !== 1 || c.blocks.codePage[physPage / 4096] !== 1) &&
      (c.dbgArmed <= 0xf || access === 2 || !c.watchedPage(la - (la & 0xfff)))
    ) {
      c.tlb.fill(
        kindOff,
        la - (la & 0xfff),
        region,
        physPage - c.regionStart(region),
        physPage,
        leafGlobal,
        leafShift,
      );
    }
  }
  return pa;
}
