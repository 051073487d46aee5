/**
 * The machine's device states in a snapshot: every device on the PIO and MMIO buses that saves
 * state (by its bus name: `pio:com1`, `pio:rtc`, `mmio:virtio-blk0`, ...) and the i8042.
 *
 * @module
 */
import { DeviceError, type DeviceState } from '@ts-vmm/devices';
import { VmmError } from '../vmm/errors.js';
import type { Machine } from '../vmm/machine.js';

interface Stateful {
  save(): DeviceState;
  restore(state: DeviceState): void;
}

function stateful(d: unknown): d is Stateful {
  const o = d as Partial<Stateful> | null;
  return !!o && typeof o.save === 'function' && typeof o.restore === 'function';
}

/** Where devices sit: a {@link Machine}, or the legacy devices a vCPU thread owns. */
export type DeviceHolder = Pick<Machine, 'pio' | 'mmio'> & { i8042?: Machine['i8042'] };

/** The machine's stateful devices by snapshot name. */
function machineDevices(m: DeviceHolder): Map<string, Stateful> {
  const out = new Map<string, Stateful>();
  for (const [space, bus] of [
    ['pio', m.pio],
    ['mmio', m.mmio],
  ] as const) {
    for (const e of bus.entries) if (stateful(e.device)) out.set(`${space}:${e.name}`, e.device);
  }
  if (m.i8042) out.set('i8042', m.i8042);
  return out;
}

/**
 * Drains the devices' in-flight work (virtio-blk requests) so that their state can be saved.
 * @example await quiesceDevices(machine); const states = saveDevices(machine);
 */
export async function quiesceDevices(m: Machine): Promise<void> {
  await Promise.all(
    m.virtio.map((v) => {
      const d = v.transport.device as { drain?: () => Promise<void> };
      return typeof d.drain === 'function' ? d.drain() : undefined;
    }),
  );
}

/**
 * Saves every stateful device of the machine (quiesce first).
 * @example const states = saveDevices(machine);
 */
export function saveDevices(m: DeviceHolder): Record<string, DeviceState> {
  const out: Record<string, DeviceState> = {};
  for (const [name, d] of machineDevices(m)) {
    try {
      out[name] = d.save();
    } catch (e) {
      throw new VmmError('snapshot', `saving device ${name}: ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}

/**
 * Restores the machine's devices from `states` (after guest memory): each device of the machine
 * needs its state and each state a device, or this throws naming the one missing.
 * @example restoreDevices(machine, state.devices.machine);
 */
export function restoreDevices(m: Machine, states: Record<string, unknown>): void {
  const devices = machineDevices(m);
  for (const name of Object.keys(states))
    if (!devices.has(name))
      throw new VmmError(
        'snapshot',
        `snapshot device ${name}: this VM has no such device (is the configuration the same?)`,
      );
  for (const name of devices.keys())
    if (!(name in states)) throw new VmmError('snapshot', `snapshot: no state for device ${name}`);
  for (const [name, d] of devices) {
    try {
      d.restore(states[name] as DeviceState);
    } catch (e) {
      const what = e instanceof DeviceError ? e.message : (e as Error).message;
      throw new VmmError('snapshot', `snapshot device ${name}: ${what}`, { cause: e });
    }
  }
}
