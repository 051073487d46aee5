// Interrupt controllers and interrupt routing: kvm_pic_state, kvm_ioapic_state, kvm_irqchip,
// kvm_irq_level, kvm_irqfd, kvm_msi, kvm_irq_routing (irqchip / msi entries), kvm_pit_config,
// kvm_pit_channel_state, kvm_pit_state2.
import { defineFlexStruct, type FlexStruct } from './flex.js';
import { array, bytes, defineStruct, type Struct, s32, s64, u8, u16, u32, u64 } from './layout.js';

/** `struct kvm_pic_state` (one 8259A). */
export interface KvmPicStateValue {
  last_irr: number;
  irr: number;
  imr: number;
  isr: number;
  priority_add: number;
  irq_base: number;
  read_reg_select: number;
  poll: number;
  special_mask: number;
  init_state: number;
  auto_eoi: number;
  rotate_on_auto_eoi: number;
  special_fully_nested_mode: number;
  init4: number;
  elcr: number;
  elcr_mask: number;
}
const PIC_FIELDS = [
  'last_irr',
  'irr',
  'imr',
  'isr',
  'priority_add',
  'irq_base',
  'read_reg_select',
  'poll',
  'special_mask',
  'init_state',
  'auto_eoi',
  'rotate_on_auto_eoi',
  'special_fully_nested_mode',
  'init4',
  'elcr',
  'elcr_mask',
] as const;
/** Layout of `struct kvm_pic_state` (16 bytes). @example KvmPicState.decode(buf, 8).imr */
export const KvmPicState: Struct<KvmPicStateValue> = defineStruct(
  'kvm_pic_state',
  PIC_FIELDS.map((n) => [n, u8] as const),
);

/** `struct kvm_ioapic_state`. Each redirection entry is the raw 64-bit value (`redirtbl[i].bits`). */
export interface KvmIoapicStateValue {
  base_address: bigint;
  ioregsel: number;
  id: number;
  irr: number;
  pad: number;
  /** KVM_IOAPIC_NUM_PINS (24) raw redirection table entries. */
  redirtbl: bigint[];
}
/** Layout of `struct kvm_ioapic_state` (216 bytes). @example KvmIoapicState.decode(buf, 8).redirtbl[4] */
export const KvmIoapicState: Struct<KvmIoapicStateValue> = defineStruct('kvm_ioapic_state', [
  ['base_address', u64],
  ['ioregsel', u32],
  ['id', u32],
  ['irr', u32],
  ['pad', u32],
  ['redirtbl', array(u64, 24)],
]);

/** `struct kvm_irqchip` (KVM_GET_IRQCHIP / KVM_SET_IRQCHIP). Decoding fills only the variant that `chip_id` selects. */
export interface KvmIrqchipValue {
  /** KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE or KVM_IRQCHIP_IOAPIC. */
  chip_id: number;
  pad: number;
  chip: { pic?: KvmPicStateValue; ioapic?: KvmIoapicStateValue; dummy?: Uint8Array };
}
const irqchipBase = defineStruct<KvmIrqchipValue>('kvm_irqchip', [
  ['chip_id', u32],
  ['pad', u32],
  [
    'chip',
    defineStruct(
      '',
      [
        ['dummy', bytes(512), { at: 0 }],
        ['pic', KvmPicState, { at: 0 }],
        ['ioapic', KvmIoapicState, { at: 0 }],
      ],
      { size: 512 },
    ),
  ],
]);
/**
 * Layout of `struct kvm_irqchip` (520 bytes).
 * @example
 * const buf = KvmIrqchip.encode({ chip_id: KVM_IRQCHIP_IOAPIC, pad: 0, chip: {} });
 * addon.ioctl(vm, KVM_GET_IRQCHIP, buf);
 * const { ioapic } = KvmIrqchip.decode(buf).chip;
 */
export const KvmIrqchip: Struct<KvmIrqchipValue> = {
  ...irqchipBase,
  decode(b: Uint8Array, offset = 0): KvmIrqchipValue {
    const v = irqchipBase.decode(b, offset);
    if (v.chip_id === 0 || v.chip_id === 1) v.chip = { pic: v.chip.pic };
    else if (v.chip_id === 2) v.chip = { ioapic: v.chip.ioapic };
    else v.chip = { dummy: v.chip.dummy };
    return v;
  },
};

/** `struct kvm_irq_level` (KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS): `irq` in, `status` out (same word). */
export interface KvmIrqLevelValue {
  status?: number;
  irq: number;
  level: number;
}
/** Layout of `struct kvm_irq_level` (8 bytes). @example KvmIrqLevel.encode({ irq: 4, level: 1 }) */
export const KvmIrqLevel: Struct<KvmIrqLevelValue> = defineStruct('kvm_irq_level', [
  ['status', s32, { at: 0 }],
  ['irq', u32, { at: 0 }],
  ['level', u32, { at: 4 }],
]);

/** `struct kvm_irqfd` (KVM_IRQFD). */
export interface KvmIrqfdValue {
  fd: number;
  gsi: number;
  /** KVM_IRQFD_FLAG_* */
  flags: number;
  resamplefd: number;
  pad?: Uint8Array;
}
/** Layout of `struct kvm_irqfd` (32 bytes). @example KvmIrqfd.encode({ fd: efd, gsi: 5, flags: 0, resamplefd: 0 }) */
export const KvmIrqfd: Struct<KvmIrqfdValue> = defineStruct('kvm_irqfd', [
  ['fd', u32],
  ['gsi', u32],
  ['flags', u32],
  ['resamplefd', u32],
  ['pad', bytes(16)],
]);

/** `struct kvm_msi` (KVM_SIGNAL_MSI). */
export interface KvmMsiValue {
  address_lo: number;
  address_hi: number;
  data: number;
  flags: number;
  devid: number;
  pad?: Uint8Array;
}
/** Layout of `struct kvm_msi` (32 bytes). @example KvmMsi.encode({ address_lo: 0xfee00000, address_hi: 0, data: 0x41, flags: 0, devid: 0 }) */
export const KvmMsi: Struct<KvmMsiValue> = defineStruct('kvm_msi', [
  ['address_lo', u32],
  ['address_hi', u32],
  ['data', u32],
  ['flags', u32],
  ['devid', u32],
  ['pad', bytes(12)],
]);

/** `struct kvm_irq_routing_irqchip`. */
export interface KvmIrqRoutingIrqchipValue {
  irqchip: number;
  pin: number;
}
/** Layout of `struct kvm_irq_routing_irqchip` (8 bytes). @example KvmIrqRoutingIrqchip.encode({ irqchip: KVM_IRQCHIP_IOAPIC, pin: 4 }) */
export const KvmIrqRoutingIrqchip: Struct<KvmIrqRoutingIrqchipValue> = defineStruct(
  'kvm_irq_routing_irqchip',
  [
    ['irqchip', u32],
    ['pin', u32],
  ],
);

/** `struct kvm_irq_routing_msi` (`pad` and `devid` share a word; `devid` wins when both are given). */
export interface KvmIrqRoutingMsiValue {
  address_lo: number;
  address_hi: number;
  data: number;
  pad?: number;
  devid?: number;
}
/** Layout of `struct kvm_irq_routing_msi` (16 bytes). @example KvmIrqRoutingMsi.encode({ address_lo: 0xfee00000, address_hi: 0, data: 0x30 }) */
export const KvmIrqRoutingMsi: Struct<KvmIrqRoutingMsiValue> = defineStruct('kvm_irq_routing_msi', [
  ['address_lo', u32],
  ['address_hi', u32],
  ['data', u32],
  ['pad', u32, { at: 12 }],
  ['devid', u32, { at: 12 }],
]);

/** `struct kvm_irq_routing_hv_sint`. */
export interface KvmIrqRoutingHvSintValue {
  vcpu: number;
  sint: number;
}
/** Layout of `struct kvm_irq_routing_hv_sint` (8 bytes). @example KvmIrqRoutingHvSint.encode({ vcpu: 0, sint: 2 }) */
export const KvmIrqRoutingHvSint: Struct<KvmIrqRoutingHvSintValue> = defineStruct('kvm_irq_routing_hv_sint', [
  ['vcpu', u32],
  ['sint', u32],
]);

/** `struct kvm_irq_routing_entry`. Give exactly one variant of `u`, matching `type` (KVM_IRQ_ROUTING_*). */
export interface KvmIrqRoutingEntryValue {
  gsi: number;
  type: number;
  flags: number;
  pad?: number;
  u: {
    irqchip?: KvmIrqRoutingIrqchipValue;
    msi?: KvmIrqRoutingMsiValue;
    hv_sint?: KvmIrqRoutingHvSintValue;
    pad?: number[];
  };
}
const routingEntryBase = defineStruct<KvmIrqRoutingEntryValue>('kvm_irq_routing_entry', [
  ['gsi', u32],
  ['type', u32],
  ['flags', u32],
  ['pad', u32],
  [
    'u',
    defineStruct(
      '',
      [
        ['pad', array(u32, 8), { at: 0 }],
        ['irqchip', KvmIrqRoutingIrqchip, { at: 0 }],
        ['msi', KvmIrqRoutingMsi, { at: 0 }],
        ['hv_sint', KvmIrqRoutingHvSint, { at: 0 }],
      ],
      { size: 32 },
    ),
  ],
]);
function routingVariant(v: KvmIrqRoutingEntryValue): KvmIrqRoutingEntryValue {
  if (v.type === 1) v.u = { irqchip: v.u.irqchip };
  else if (v.type === 2) v.u = { msi: v.u.msi };
  else if (v.type === 4) v.u = { hv_sint: v.u.hv_sint };
  else v.u = { pad: v.u.pad };
  return v;
}
/**
 * Layout of `struct kvm_irq_routing_entry` (48 bytes). Decoding fills only the variant that `type` selects.
 * @example KvmIrqRoutingEntry.encode({ gsi: 4, type: KVM_IRQ_ROUTING_IRQCHIP, flags: 0, u: { irqchip: { irqchip: 2, pin: 4 } } })
 */
export const KvmIrqRoutingEntry: Struct<KvmIrqRoutingEntryValue> = {
  ...routingEntryBase,
  read: (view, off) => routingVariant(routingEntryBase.read(view, off)),
  decode: (b, offset = 0) => routingVariant(routingEntryBase.decode(b, offset)),
};

/** Header of `struct kvm_irq_routing`. */
export interface KvmIrqRoutingHeader {
  nr: number;
  flags: number;
}
/**
 * `struct kvm_irq_routing` (KVM_SET_GSI_ROUTING): the whole GSI routing table, replaced at once.
 * @example
 * const table = KvmIrqRouting.encode({ entries: [
 *   { gsi: 4, type: KVM_IRQ_ROUTING_IRQCHIP, flags: 0, u: { irqchip: { irqchip: KVM_IRQCHIP_IOAPIC, pin: 4 } } },
 *   { gsi: 24, type: KVM_IRQ_ROUTING_MSI, flags: 0, u: { msi: { address_lo: 0xfee00000, address_hi: 0, data: 0x41 } } },
 * ] });
 * addon.ioctl(vm, KVM_SET_GSI_ROUTING, table);
 */
export const KvmIrqRouting: FlexStruct<KvmIrqRoutingHeader, KvmIrqRoutingEntryValue, 'entries'> =
  defineFlexStruct(
    'kvm_irq_routing',
    defineStruct<KvmIrqRoutingHeader>('kvm_irq_routing', [
      ['nr', u32],
      ['flags', u32],
    ]),
    'nr',
    'entries',
    KvmIrqRoutingEntry,
  );

/** `struct kvm_pit_config` (KVM_CREATE_PIT2). */
export interface KvmPitConfigValue {
  /** KVM_PIT_SPEAKER_DUMMY */
  flags: number;
  pad?: number[];
}
/** Layout of `struct kvm_pit_config` (64 bytes). @example KvmPitConfig.encode({ flags: KVM_PIT_SPEAKER_DUMMY }) */
export const KvmPitConfig: Struct<KvmPitConfigValue> = defineStruct('kvm_pit_config', [
  ['flags', u32],
  ['pad', array(u32, 15)],
]);

/** `struct kvm_pit_channel_state`. */
export interface KvmPitChannelStateValue {
  count: number;
  latched_count: number;
  count_latched: number;
  status_latched: number;
  status: number;
  read_state: number;
  write_state: number;
  write_latch: number;
  rw_mode: number;
  mode: number;
  bcd: number;
  gate: number;
  count_load_time: bigint;
}
/** Layout of `struct kvm_pit_channel_state` (24 bytes). @example KvmPitChannelState.decode(buf).mode */
export const KvmPitChannelState: Struct<KvmPitChannelStateValue> = defineStruct('kvm_pit_channel_state', [
  ['count', u32],
  ['latched_count', u16],
  ['count_latched', u8],
  ['status_latched', u8],
  ['status', u8],
  ['read_state', u8],
  ['write_state', u8],
  ['write_latch', u8],
  ['rw_mode', u8],
  ['mode', u8],
  ['bcd', u8],
  ['gate', u8],
  ['count_load_time', s64],
]);

/** `struct kvm_pit_state2` (KVM_GET_PIT2 / KVM_SET_PIT2). */
export interface KvmPitState2Value {
  channels: KvmPitChannelStateValue[];
  /** KVM_PIT_FLAGS_* */
  flags: number;
  reserved: number[];
}
/** Layout of `struct kvm_pit_state2` (112 bytes). @example KvmPitState2.decode(buf).channels[0].count */
export const KvmPitState2: Struct<KvmPitState2Value> = defineStruct('kvm_pit_state2', [
  ['channels', array(KvmPitChannelState, 3)],
  ['flags', u32],
  ['reserved', array(u32, 9)],
]);
