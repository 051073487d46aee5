/**
 * The `--clock` setting (JSON `clock`): how guest time runs on the emulated backend.
 *
 * @module
 */
import { VmmError } from '../vmm/errors.js';
import { quote } from './errors.js';
import type { ClockChoice } from './types.js';

/** The values `--clock` takes, the default first. */
export const CLOCK_CHOICES: readonly ClockChoice[] = ['realtime', 'virtual'];

/**
 * Parses a `--clock` value or JSON `clock` field, or throws a `'config'` {@link VmmError} naming it.
 * @example parseClock('virtual') // 'virtual'
 */
export function parseClock(raw: unknown, field = '--clock'): ClockChoice {
  if (typeof raw === 'string' && (CLOCK_CHOICES as readonly string[]).includes(raw))
    return raw as ClockChoice;
  throw VmmError.config(field, `${quote(raw)} is not one of ${CLOCK_CHOICES.join(', ')}`);
}
