/**
 * The emulated platform's state in KVM's shapes, for snapshots: the PIC pair and IOAPIC as
 * `kvm_pic_state` / `kvm_ioapic_state` (KVM_GET_IRQCHIP) and the PIT as `kvm_pit_state2`
 * (KVM_GET_PIT2), exported from and imported into the emulated chips. A state exported by KVM
 * imports here and the other way round.
 *
 * What KVM's shapes cannot say: a PIT channel whose control word was written but not yet its count
 * exports as KVM's "never programmed" (mode 0xff); importing reloads every counter from its count
 * at the current time (as KVM_SET_PIT2 does), so `count_load_time` is not taken; the PIC's single
 * (uncascaded) mode does not exist in KVM and imports as cascaded.
 *
 * @module
 */
import type { IoapicState, IrqchipState, PicState, PitChannelState, PitState } from '@ts-vmm/hypervisor';
import { X86EmulatorError } from '../errors.js';
import type { EmulatedIrqchip } from '../platform/irqchip.js';
import type { Pic8259, PicPair } from '../platform/pic.js';
import type { Pit } from '../platform/pit.js';

/** KVM_PIT_FLAGS_HPET_LEGACY: the PIT is replaced by the HPET (no HPET here). */
const PIT_FLAGS_HPET_LEGACY = 1;
/** KVM_PIT_FLAGS_SPEAKER_DATA_ON: port 0x61 bit 1. */
const PIT_FLAGS_SPEAKER_DATA_ON = 2;
/** KVM's mode of a channel never programmed. */
const PIT_MODE_UNPROGRAMMED = 0xff;
/** Redirection entry bit 15: level triggered. */
const ENTRY_LEVEL = 1n << 15n;

const b = (v: boolean): number => (v ? 1 : 0);

function exportPic(s: Pic8259): PicState {
  return {
    last_irr: s.lastIrr,
    irr: s.irr,
    imr: s.imr,
    isr: s.isr,
    priority_add: s.priorityAdd,
    irq_base: s.irqBase,
    read_reg_select: b(s.readIsr),
    poll: b(s.poll),
    special_mask: b(s.specialMask),
    init_state: s.initState,
    auto_eoi: b(s.autoEoi),
    rotate_on_auto_eoi: b(s.rotateOnAutoEoi),
    special_fully_nested_mode: b(s.specialFullyNested),
    init4: b(s.init4),
    elcr: s.elcr,
    elcr_mask: s.elcrMask,
  };
}

function importPic(s: Pic8259, p: PicState): void {
  s.lastIrr = p.last_irr & 0xff;
  s.irr = p.irr & 0xff;
  s.imr = p.imr & 0xff;
  s.isr = p.isr & 0xff;
  s.priorityAdd = p.priority_add & 7;
  s.irqBase = p.irq_base & 0xf8;
  s.readIsr = p.read_reg_select !== 0;
  s.poll = p.poll !== 0;
  s.specialMask = p.special_mask !== 0;
  s.initState = p.init_state & 3;
  s.autoEoi = p.auto_eoi !== 0;
  s.rotateOnAutoEoi = p.rotate_on_auto_eoi !== 0;
  s.specialFullyNested = p.special_fully_nested_mode !== 0;
  s.init4 = p.init4 !== 0;
  s.single = false;
  // the chip's own mask decides which ELCR bits exist (IRQ 0, 1, 2, 8, 13 are always edge)
  s.elcr = p.elcr & s.elcrMask;
}

/**
 * The PIC pair's and the IOAPIC's state (`kvm_irqchip` for each chip). The IOAPIC's `irr` holds
 * the asserted level-triggered inputs (an edge was delivered when it came, as KVM clears it then).
 * @example exportIrqchip(emulatedVm.irqchip!).ioapic.redirtbl[4]
 */
export function exportIrqchip(ic: EmulatedIrqchip): IrqchipState {
  const pic: PicPair = ic.pic;
  const r = ic.ioapic.registers();
  let levelPins = 0;
  r.redirtbl.forEach((e, pin) => {
    if ((e & ENTRY_LEVEL) !== 0n) levelPins |= 1 << pin;
  });
  const ioapic: IoapicState = {
    base_address: BigInt(ic.ioapicBase),
    ioregsel: r.ioregsel,
    id: ic.ioapic.id,
    irr: (r.irr & levelPins) >>> 0,
    redirtbl: r.redirtbl,
  };
  return { picMaster: exportPic(pic.chip(0)), picSlave: exportPic(pic.chip(1)), ioapic };
}

/**
 * Loads a PIC pair and IOAPIC state (from {@link exportIrqchip} or KVM). Refuses an IOAPIC at
 * another address or a redirection table of other than 24 entries.
 * @example importIrqchip(emulatedVm.irqchip!, savedState.irqchip);
 */
export function importIrqchip(ic: EmulatedIrqchip, s: IrqchipState): void {
  const op = 'EmulatedVm.setIrqchip';
  if (s.ioapic.base_address !== BigInt(ic.ioapicBase))
    throw new X86EmulatorError(
      'unsupported',
      op,
      `IOAPIC at 0x${s.ioapic.base_address.toString(16)}, this VM's is at 0x${ic.ioapicBase.toString(16)}`,
    );
  if (s.ioapic.redirtbl.length !== 24)
    throw new X86EmulatorError(
      'invalid-argument',
      op,
      `IOAPIC redirection table of ${s.ioapic.redirtbl.length} entries, expected 24`,
    );
  importPic(ic.pic.chip(0), s.picMaster);
  importPic(ic.pic.chip(1), s.picSlave);
  ic.pic.refresh();
  ic.ioapic.id = s.ioapic.id & 0xf;
  ic.ioapic.loadRegisters({ ioregsel: s.ioapic.ioregsel, irr: s.ioapic.irr, redirtbl: s.ioapic.redirtbl });
}

/**
 * The PIT's state (`kvm_pit_state2`); `count_load_time` is in the VM clock's ns.
 * @example exportPit(emulatedVm.irqchip!.pit!).channels[0].mode
 */
export function exportPit(pit: Pit): PitState {
  const channels: PitChannelState[] = [0, 1, 2].map((i) => {
    const c = pit.channel(i);
    return {
      count: c.count,
      latched_count: c.latchedCount & 0xffff,
      count_latched: c.countLatched,
      status_latched: b(c.statusLatched),
      status: c.status & 0xff,
      read_state: c.readState,
      write_state: c.writeState,
      write_latch: c.writeLatch & 0xff,
      rw_mode: c.rwMode,
      mode: c.loaded ? c.mode : PIT_MODE_UNPROGRAMMED,
      bcd: b(c.bcd),
      gate: b(c.gate),
      count_load_time: BigInt(Math.floor(c.loadTime)),
    };
  });
  return { channels, flags: pit.portBBits & 2 ? PIT_FLAGS_SPEAKER_DATA_ON : 0 };
}

/**
 * Loads a PIT state (from {@link exportPit} or KVM): every programmed counter restarts from its
 * count at `now` (the clock's current time). Refuses HPET legacy mode and channel counts other
 * than three.
 * @example importPit(emulatedVm.irqchip!.pit!, savedState.pit, emulatedVm.clock.now());
 */
export function importPit(pit: Pit, s: PitState, now: number): void {
  const op = 'EmulatedVm.setPit';
  if (s.channels.length !== 3)
    throw new X86EmulatorError(
      'invalid-argument',
      op,
      `the PIT has 3 channels, the state ${s.channels.length}`,
    );
  if (s.flags & PIT_FLAGS_HPET_LEGACY)
    throw new X86EmulatorError(
      'unsupported',
      op,
      'HPET legacy mode (KVM_PIT_FLAGS_HPET_LEGACY): there is no HPET',
    );
  s.channels.forEach((k, i) => {
    const c = pit.channel(i);
    const programmed = k.mode !== PIT_MODE_UNPROGRAMMED;
    let mode = programmed ? k.mode & 7 : 0;
    if (mode >= 6) mode -= 4;
    c.mode = mode;
    c.bcd = k.bcd !== 0;
    c.count = k.count >= 1 && k.count <= 0x10000 ? k.count : c.bcd ? 10000 : 0x10000;
    c.latchedCount = k.latched_count & 0xffff;
    c.countLatched = k.count_latched & 3;
    c.statusLatched = k.status_latched !== 0;
    c.status = k.status & 0xff;
    c.readState = k.read_state & 3;
    c.writeState = k.write_state & 3;
    c.writeLatch = k.write_latch & 0xff;
    c.rwMode = k.rw_mode & 3;
    c.gate = k.gate !== 0;
    c.loaded = programmed;
    c.loadTime = now;
    // modes 1 and 5 count once triggered: a programmed one was counting
    c.triggered = programmed && (mode === 1 || mode === 5);
    // a low gate holds modes 0, 2, 3 and 4
    c.pausedAt = programmed && !c.gate && mode !== 1 && mode !== 5 ? now : -1;
  });
  pit.portBBits = (s.channels[2].gate !== 0 ? 1 : 0) | (s.flags & PIT_FLAGS_SPEAKER_DATA_ON ? 2 : 0);
  pit.restart();
}
