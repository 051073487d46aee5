/** What is wrong with an ACPI description or an AML construct. */
export type AcpiErrorKind =
  | 'invalid-name' // an AML name segment or path is malformed
  | 'invalid-value' // a number, string or address does not fit where it goes
  | 'too-large' // the tables do not fit in the space given
  | 'guest-memory'; // the tables' range is not backed by guest memory

/**
 * The one error type of the ACPI table builders and the AML encoder.
 *
 * @example
 * ```ts
 * try { Aml.name('TOOLONG', Aml.integer(1)); } catch (e) {
 *   if (e instanceof AcpiError && e.kind === 'invalid-name') console.error(e.message);
 * }
 * ```
 */
export class AcpiError extends Error {
  override name = 'AcpiError';
  constructor(
    readonly kind: AcpiErrorKind,
    message: string,
  ) {
    super(message);
  }
}
