/**
 * Byte-exact layouts of the KVM structs this package passes to ioctls (x86-64). Checked against
 * `linux/kvm.h` by `structs.test.ts`, which compiles a C program printing sizeof/offsetof.
 *
 * @module
 */
import type { CpuidEntry, DTable, Fpu, MsrEntry, Regs, Segment, Sregs } from '../backend/types.js';
import { defineStruct, type Struct, viewOf } from './struct.js';

const REG_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const; // biome-ignore format: table

/** `struct kvm_regs` (144 bytes). */
export const KvmRegs: Struct<Regs> = {
  size: 144,
  offsets: Object.fromEntries(REG_NAMES.map((n, i) => [n, i * 8])),
  decode(bytes, offset = 0) {
    const v = new DataView(bytes.buffer, bytes.byteOffset + offset, 144);
    const r: Record<string, bigint> = {};
    for (let i = 0; i < REG_NAMES.length; i++) r[REG_NAMES[i]] = v.getBigUint64(i * 8, true);
    return r as unknown as Regs;
  },
  encode(value, into = new Uint8Array(144), offset = 0) {
    const v = new DataView(into.buffer, into.byteOffset + offset, 144);
    for (let i = 0; i < REG_NAMES.length; i++) {
      v.setBigUint64(i * 8, BigInt.asUintN(64, value[REG_NAMES[i]] ?? 0n), true);
    }
    return into;
  },
};

/** `struct kvm_segment` (24 bytes). */
export const KvmSegment: Struct<Segment> = defineStruct(24, [
  ['base', 'u64', 0],
  ['limit', 'u32', 8],
  ['selector', 'u16', 12],
  ['type', 'u8', 14],
  ['present', 'u8', 15],
  ['dpl', 'u8', 16],
  ['db', 'u8', 17],
  ['s', 'u8', 18],
  ['l', 'u8', 19],
  ['g', 'u8', 20],
  ['avl', 'u8', 21],
  ['unusable', 'u8', 22],
] as const);

/** `struct kvm_dtable` (16 bytes). */
export const KvmDtable: Struct<DTable> = defineStruct(16, [
  ['base', 'u64', 0],
  ['limit', 'u16', 8],
] as const);

const SEGS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
const SREG_CRS = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'] as const;

/** `struct kvm_sregs` (312 bytes). */
export const KvmSregs: Struct<Sregs> = {
  size: 312,
  offsets: {
    ...Object.fromEntries(SEGS.map((n, i) => [n, i * 24])),
    gdt: 192,
    idt: 208,
    ...Object.fromEntries(SREG_CRS.map((n, i) => [n, 224 + i * 8])),
    interrupt_bitmap: 280,
  },
  decode(bytes, offset = 0) {
    const v = new DataView(bytes.buffer, bytes.byteOffset + offset, 312);
    const s: Record<string, unknown> = {};
    SEGS.forEach((n, i) => {
      s[n] = KvmSegment.decode(bytes, offset + i * 24);
    });
    s.gdt = KvmDtable.decode(bytes, offset + 192);
    s.idt = KvmDtable.decode(bytes, offset + 208);
    SREG_CRS.forEach((n, i) => {
      s[n] = v.getBigUint64(224 + i * 8, true);
    });
    s.interrupt_bitmap = [0, 1, 2, 3].map((i) => v.getBigUint64(280 + i * 8, true));
    return s as unknown as Sregs;
  },
  encode(value, into = new Uint8Array(312), offset = 0) {
    const v = new DataView(into.buffer, into.byteOffset + offset, 312);
    SEGS.forEach((n, i) => {
      into.fill(0, offset + i * 24, offset + i * 24 + 24);
      KvmSegment.encode(value[n], into, offset + i * 24);
    });
    into.fill(0, offset + 192, offset + 224);
    KvmDtable.encode(value.gdt, into, offset + 192);
    KvmDtable.encode(value.idt, into, offset + 208);
    SREG_CRS.forEach((n, i) => {
      v.setBigUint64(224 + i * 8, BigInt.asUintN(64, value[n]), true);
    });
    for (let i = 0; i < 4; i++) v.setBigUint64(280 + i * 8, value.interrupt_bitmap?.[i] ?? 0n, true);
    return into;
  },
};

/** `struct kvm_fpu` (416 bytes). */
export const KvmFpu: Struct<Fpu> = {
  size: 416,
  offsets: {
    fpr: 0,
    fcw: 128,
    fsw: 130,
    ftwx: 132,
    last_opcode: 134,
    last_ip: 136,
    last_dp: 144,
    xmm: 152,
    mxcsr: 408,
  },
  decode(bytes, offset = 0) {
    const v = new DataView(bytes.buffer, bytes.byteOffset + offset, 416);
    return {
      fpr: bytes.slice(offset, offset + 128),
      fcw: v.getUint16(128, true),
      fsw: v.getUint16(130, true),
      ftwx: v.getUint8(132),
      last_opcode: v.getUint16(134, true),
      last_ip: v.getBigUint64(136, true),
      last_dp: v.getBigUint64(144, true),
      xmm: bytes.slice(offset + 152, offset + 408),
      mxcsr: v.getUint32(408, true),
    };
  },
  encode(value, into = new Uint8Array(416), offset = 0) {
    const v = new DataView(into.buffer, into.byteOffset + offset, 416);
    into.set(value.fpr.subarray(0, 128), offset);
    v.setUint16(128, value.fcw, true);
    v.setUint16(130, value.fsw, true);
    v.setUint8(132, value.ftwx);
    v.setUint16(134, value.last_opcode, true);
    v.setBigUint64(136, value.last_ip, true);
    v.setBigUint64(144, value.last_dp, true);
    into.set(value.xmm.subarray(0, 256), offset + 152);
    v.setUint32(408, value.mxcsr, true);
    return into;
  },
};

/** `struct kvm_cpuid_entry2` (40 bytes). */
export const KvmCpuidEntry2: Struct<CpuidEntry> = defineStruct(40, [
  ['function', 'u32', 0],
  ['index', 'u32', 4],
  ['flags', 'u32', 8],
  ['eax', 'u32', 12],
  ['ebx', 'u32', 16],
  ['ecx', 'u32', 20],
  ['edx', 'u32', 24],
] as const);

/** `struct kvm_cpuid2` with `nent` entries: header 8 bytes then 40-byte entries. */
export const KvmCpuid2 = {
  headerSize: 8,
  /** A buffer with room for `n` entries and `nent = n`. */
  alloc(n: number): Uint8Array {
    const b = new Uint8Array(8 + n * 40);
    viewOf(b).setUint32(0, n, true);
    return b;
  },
  encode(value: { entries: readonly CpuidEntry[] }): Uint8Array {
    const b = KvmCpuid2.alloc(value.entries.length);
    value.entries.forEach((e, i) => {
      KvmCpuidEntry2.encode(e, b, 8 + i * 40);
    });
    return b;
  },
  decode(bytes: Uint8Array): { entries: CpuidEntry[] } {
    const n = viewOf(bytes).getUint32(0, true);
    const entries: CpuidEntry[] = [];
    for (let i = 0; i < n; i++) entries.push(KvmCpuidEntry2.decode(bytes, 8 + i * 40));
    return { entries };
  },
};

/** `struct kvm_msrs` with entries `{ index, reserved, data }` (16 bytes each). */
export const KvmMsrs = {
  encode(entries: readonly MsrEntry[]): Uint8Array {
    const b = new Uint8Array(8 + entries.length * 16);
    const v = viewOf(b);
    v.setUint32(0, entries.length, true);
    entries.forEach((e, i) => {
      v.setUint32(8 + i * 16, e.index >>> 0, true);
      v.setBigUint64(8 + i * 16 + 8, BigInt.asUintN(64, e.data), true);
    });
    return b;
  },
  decode(bytes: Uint8Array, count: number): MsrEntry[] {
    const v = viewOf(bytes);
    const out: MsrEntry[] = [];
    for (let i = 0; i < count; i++) {
      out.push({ index: v.getUint32(8 + i * 16, true), data: v.getBigUint64(8 + i * 16 + 8, true) });
    }
    return out;
  },
};

/** `struct kvm_userspace_memory_region` (32 bytes). */
export const KvmUserspaceMemoryRegion = defineStruct(32, [
  ['slot', 'u32', 0],
  ['flags', 'u32', 4],
  ['guest_phys_addr', 'u64', 8],
  ['memory_size', 'u64', 16],
  ['userspace_addr', 'u64', 24],
] as const);

/** `struct kvm_irqfd` (32 bytes). */
export const KvmIrqfd = defineStruct(32, [
  ['fd', 'u32', 0],
  ['gsi', 'u32', 4],
  ['flags', 'u32', 8],
  ['resamplefd', 'u32', 12],
] as const);

/** `struct kvm_ioeventfd` (64 bytes). */
export const KvmIoeventfd = defineStruct(64, [
  ['datamatch', 'u64', 0],
  ['addr', 'u64', 8],
  ['len', 'u32', 16],
  ['fd', 's32', 20],
  ['flags', 'u32', 24],
] as const);

/** `struct kvm_irq_level` (8 bytes). */
export const KvmIrqLevel = defineStruct(8, [
  ['irq', 'u32', 0],
  ['level', 'u32', 4],
] as const);

/** `struct kvm_msi` (32 bytes). */
export const KvmMsi = defineStruct(32, [
  ['address_lo', 'u32', 0],
  ['address_hi', 'u32', 4],
  ['data', 'u32', 8],
  ['flags', 'u32', 12],
  ['devid', 'u32', 16],
] as const);

/** `struct kvm_dirty_log` (16 bytes; `dirty_bitmap` is a host pointer). */
export const KvmDirtyLog = defineStruct(16, [
  ['slot', 'u32', 0],
  ['dirty_bitmap', 'u64', 8],
] as const);

/** `struct kvm_clock_data` (48 bytes). */
export const KvmClockData = defineStruct(48, [
  ['clock', 'u64', 0],
  ['flags', 'u32', 8],
  ['realtime', 'u64', 16],
  ['host_tsc', 'u64', 24],
] as const);

/** `struct kvm_enable_cap` (104 bytes). */
export const KvmEnableCap = defineStruct(104, [
  ['cap', 'u32', 0],
  ['flags', 'u32', 4],
  ['arg0', 'u64', 8],
  ['arg1', 'u64', 16],
  ['arg2', 'u64', 24],
  ['arg3', 'u64', 32],
] as const);

/** `struct kvm_coalesced_mmio_zone` (16 bytes). */
export const KvmCoalescedMmioZone = defineStruct(16, [
  ['addr', 'u64', 0],
  ['size', 'u32', 8],
  ['pio', 'u32', 12],
] as const);

/** `struct kvm_create_device` (12 bytes). */
export const KvmCreateDevice = defineStruct(12, [
  ['type', 'u32', 0],
  ['fd', 'u32', 4],
  ['flags', 'u32', 8],
] as const);

/** `struct kvm_device_attr` (24 bytes). */
export const KvmDeviceAttr = defineStruct(24, [
  ['flags', 'u32', 0],
  ['group', 'u32', 4],
  ['attr', 'u64', 8],
  ['addr', 'u64', 16],
] as const);

/** `struct kvm_guest_debug` (72 bytes; debugreg[8] at 8). */
export const KvmGuestDebug = defineStruct(72, [
  ['control', 'u32', 0],
  ['dr0', 'u64', 8],
  ['dr1', 'u64', 16],
  ['dr2', 'u64', 24],
  ['dr3', 'u64', 32],
  ['dr6', 'u64', 56],
  ['dr7', 'u64', 64],
] as const);

/** `struct kvm_translation` (24 bytes). */
export const KvmTranslation = defineStruct(24, [
  ['linear_address', 'u64', 0],
  ['physical_address', 'u64', 8],
  ['valid', 'u8', 16],
  ['writeable', 'u8', 17],
  ['usermode', 'u8', 18],
] as const);

/** `struct kvm_vcpu_events` (64 bytes), flattened. */
export const KvmVcpuEvents = defineStruct(64, [
  ['exception_injected', 'u8', 0],
  ['exception_nr', 'u8', 1],
  ['exception_has_error_code', 'u8', 2],
  ['exception_pending', 'u8', 3],
  ['exception_error_code', 'u32', 4],
  ['interrupt_injected', 'u8', 8],
  ['interrupt_nr', 'u8', 9],
  ['interrupt_soft', 'u8', 10],
  ['interrupt_shadow', 'u8', 11],
  ['nmi_injected', 'u8', 12],
  ['nmi_pending', 'u8', 13],
  ['nmi_masked', 'u8', 14],
  ['sipi_vector', 'u32', 16],
  ['flags', 'u32', 20],
  ['smi_smm', 'u8', 24],
  ['smi_pending', 'u8', 25],
  ['smi_smm_inside_nmi', 'u8', 26],
  ['smi_latched_init', 'u8', 27],
  ['triple_fault_pending', 'u8', 28],
  ['exception_has_payload', 'u8', 55],
  ['exception_payload', 'u64', 56],
] as const);

/** `struct kvm_debugregs` (128 bytes). */
export const KvmDebugregs = defineStruct(128, [
  ['db0', 'u64', 0],
  ['db1', 'u64', 8],
  ['db2', 'u64', 16],
  ['db3', 'u64', 24],
  ['dr6', 'u64', 32],
  ['dr7', 'u64', 40],
  ['flags', 'u64', 48],
] as const);

/** `struct kvm_pit_config` (64 bytes). */
export const KvmPitConfig = defineStruct(64, [['flags', 'u32', 0]] as const);

/** One `struct kvm_irq_routing_entry` (48 bytes). */
export interface IrqRoutingEntry {
  gsi: number;
  /** 'irqchip': `chip` (0 PIC master, 1 PIC slave, 2 IOAPIC) and `pin`; 'msi': address and data. */
  route:
    | { type: 'irqchip'; chip: number; pin: number }
    | { type: 'msi'; addressLo: number; addressHi: number; data: number; devid?: number };
}

/** `struct kvm_irq_routing` with its entries. */
export const KvmIrqRouting = {
  encode(entries: readonly IrqRoutingEntry[]): Uint8Array {
    const b = new Uint8Array(8 + entries.length * 48);
    const v = viewOf(b);
    v.setUint32(0, entries.length, true);
    entries.forEach((e, i) => {
      const o = 8 + i * 48;
      v.setUint32(o, e.gsi, true);
      if (e.route.type === 'irqchip') {
        v.setUint32(o + 4, 1, true);
        v.setUint32(o + 16, e.route.chip, true);
        v.setUint32(o + 20, e.route.pin, true);
      } else {
        v.setUint32(o + 4, 2, true);
        v.setUint32(o + 8, e.route.devid !== undefined ? 1 : 0, true); // KVM_MSI_VALID_DEVID
        v.setUint32(o + 16, e.route.addressLo >>> 0, true);
        v.setUint32(o + 20, e.route.addressHi >>> 0, true);
        v.setUint32(o + 24, e.route.data >>> 0, true);
        v.setUint32(o + 28, e.route.devid ?? 0, true);
      }
    });
    return b;
  },
};

/** `struct kvm_xcrs` (392 bytes): up to 16 `{ xcr, reserved, value }`. */
export const KvmXcrs = {
  size: 392,
  decode(bytes: Uint8Array): { xcr: number; value: bigint }[] {
    const v = viewOf(bytes);
    const n = v.getUint32(0, true);
    const out: { xcr: number; value: bigint }[] = [];
    for (let i = 0; i < Math.min(n, 16); i++) {
      out.push({ xcr: v.getUint32(8 + i * 16, true), value: v.getBigUint64(16 + i * 16, true) });
    }
    return out;
  },
  encode(xcrs: readonly { xcr: number; value: bigint }[]): Uint8Array {
    const b = new Uint8Array(392);
    const v = viewOf(b);
    v.setUint32(0, xcrs.length, true);
    xcrs.forEach((x, i) => {
      v.setUint32(8 + i * 16, x.xcr, true);
      v.setBigUint64(16 + i * 16, x.value, true);
    });
    return b;
  },
};
