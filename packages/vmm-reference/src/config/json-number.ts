/**
 * JSON numbers as the user wrote them. `JSON.parse` turns `1e400` into `Infinity` (which
 * `JSON.stringify` prints as `null`), `1e-400` into 0 and `12345678901234567890` into
 * 12345678901234567000, so an error message built from the parsed value would name a value the
 * file does not hold. {@link parseJsonKeepingNumbers} parses as `JSON.parse` does, except that a
 * number not written the way JavaScript prints its double (`1e400`, `5e2`, `2.0`) comes back as a
 * {@link JsonNumberText}, which keeps the text.
 *
 * @module
 */
/**
 * A JSON number literal with its text, for messages that name it as written.
 * @example parseJsonKeepingNumbers('{"n": 1e400}') // { n: JsonNumberText { text: '1e400', value: Infinity, exact: false, integral: true } }
 */
export class JsonNumberText {
  /** The nearest double (`Infinity`, 0, a rounded integer...). */
  readonly value: number;
  /** Whether {@link JsonNumberText.value} is exactly the value written (`5e2` yes, `1e400` no). */
  readonly exact: boolean;
  /** Whether the literal's value is a whole number (`1e400` is, `1e-400` is not). */
  readonly integral: boolean;

  constructor(readonly text: string) {
    this.value = Number(text);
    this.exact = faithful(text);
    const c = canonical(text);
    this.integral = c !== undefined && (c.digits === '0' || c.exponent >= 0);
  }

  /** The literal as written. */
  toString(): string {
    return this.text;
  }
}

/** Digits without leading or trailing zeros and a power of ten: the literal's exact value. */
function canonical(text: string): { sign: string; digits: string; exponent: number } | undefined {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  let digits = (m[2] + frac).replace(/^0+/, '');
  let exponent = Number(m[4] ?? 0) - frac.length;
  if (digits === '') return { sign: '', digits: '0', exponent: 0 };
  const trimmed = digits.replace(/0+$/, '');
  exponent += digits.length - trimmed.length;
  digits = trimmed;
  return { sign: m[1], digits, exponent };
}

/** Whether the double `Number(text)` is exactly the value `text` writes. */
function faithful(text: string): boolean {
  const n = Number(text);
  if (!Number.isFinite(n)) return false;
  const a = canonical(text);
  const b = canonical(String(n).replace('e+', 'e'));
  return (
    !!a &&
    !!b &&
    a.digits === b.digits &&
    a.exponent === b.exponent &&
    (a.sign === b.sign || a.digits === '0')
  );
}

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Start and end offsets of the number tokens of valid JSON text, outside strings. */
function numberTokens(text: string): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string: skip to its closing quote
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      i++;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      const end = m ? i + m[0].length : i + 1;
      if (m) out.push({ start: i, end });
      i = end;
    } else i++;
  }
  return out;
}

/**
 * `JSON.parse(text)`, with each number not written as JavaScript prints it given as a
 * {@link JsonNumberText} instead (syntax errors are `JSON.parse`'s own).
 * @example (parseJsonKeepingNumbers('{"memoryMib": 1e400}') as { memoryMib: JsonNumberText }).memoryMib.text // '1e400'
 */
export function parseJsonKeepingNumbers(text: string): unknown {
  const value: unknown = JSON.parse(text);
  const odd = numberTokens(text).filter((t) => {
    const literal = text.slice(t.start, t.end);
    return literal !== String(Number(literal));
  });
  if (odd.length === 0) return value;
  // Put a marker string where each such number is, parse again, and turn the markers back.
  const prefix = `\u0000${Math.random().toString(36).slice(2)}${Date.now().toString(36)}:`;
  const literals: string[] = [];
  let rebuilt = '';
  let at = 0;
  for (const t of odd) {
    literals.push(text.slice(t.start, t.end));
    rebuilt += `${text.slice(at, t.start)}${JSON.stringify(`${prefix}${literals.length - 1}`)}`;
    at = t.end;
  }
  rebuilt += text.slice(at);
  return JSON.parse(rebuilt, (_key, v: unknown) =>
    typeof v === 'string' && v.startsWith(prefix)
      ? new JsonNumberText(literals[Number(v.slice(prefix.length))])
      : v,
  );
}
