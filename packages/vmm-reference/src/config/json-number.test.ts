/**
 * Numbers in a JSON configuration are reported as written: `"memoryMib": 1e400` is out of range,
 * not `"null" is not a whole number` (JSON.parse's Infinity, printed by JSON.stringify).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VmmError } from '../vmm/errors.js';
import { parseRunFlags } from './flags.js';
import { parseConfigJson } from './json.js';
import { JsonNumberText, parseJsonKeepingNumbers } from './json-number.js';

function configError(text: string): VmmError {
  try {
    parseConfigJson(text);
  } catch (e) {
    expect(e).toBeInstanceOf(VmmError);
    expect((e as VmmError).kind).toBe('config');
    return e as VmmError;
  }
  throw new Error(`${text} was accepted`);
}

describe('JSON numbers as written', () => {
  it.each([
    ['{"memoryMib": 1e400}', 'memoryMib', 'memoryMib: 1e400 MiB is out of range (2..1048576)'],
    ['{"memoryMib": -1E+400}', 'memoryMib', 'memoryMib: -1E+400 MiB is out of range (2..1048576)'],
    ['{"memoryMib": 1e-400}', 'memoryMib', 'memoryMib: "1e-400" is not a whole number of MiB'],
    [
      '{"memoryMib": 1.0000000000000001}',
      'memoryMib',
      'memoryMib: "1.0000000000000001" is not a whole number of MiB',
    ],
    [
      '{"memoryMib": 12345678901234567890}',
      'memoryMib',
      'memoryMib: 12345678901234567890 MiB is out of range (2..1048576)',
    ],
    ['{"vcpus": 1e400}', 'vcpus', 'vcpus: 1e400 vCPUs is out of range (1..254)'],
    [
      '{"vsock": {"cid": 1e400, "uds": "/tmp/v.sock"}}',
      'vsock.cid',
      'vsock.cid: 1e400 is not a guest CID (3..4294967294)',
    ],
    ['{"disks": [{"path": 1e400}]}', 'disks[0].path', 'disks[0].path: "1e400" is not a path string'],
    ['{"memoryMib": 512.5}', 'memoryMib', 'memoryMib: "512.5" is not a whole number of MiB'],
    ['{"memoryMib": 1}', 'memoryMib', 'memoryMib: 1 MiB is out of range (2..1048576)'],
  ])('%s: %s', (text, field, message) => {
    const e = configError(text);
    expect(e.field).toBe(field);
    expect(e.message).toBe(message);
  });

  it('numbers a double holds exactly keep working, in any spelling, and are named as spelt', () => {
    expect(parseConfigJson('{"memoryMib": 5e2, "vcpus": 2.0}')).toEqual({ memoryMib: 500, vcpus: 2 });
    expect(configError('{"memoryMib": 0e0}').message).toBe('memoryMib: 0e0 MiB is out of range (2..1048576)');
    expect(configError('{"vcpus": 3e2}').message).toBe('vcpus: 3e2 vCPUs is out of range (1..254)');
    expect(parseConfigJson('{"memoryMib": 0.256e3, "vsock": {"cid": 30E-1, "uds": "u"}}')).toMatchObject({
      memoryMib: 256,
      vsock: { cid: 3 },
    });
  });

  it('a flag value too big for a double is out of range, as written', () => {
    expect(() => parseRunFlags(['--memory', '99999999999999999999'])).toThrow(
      '--memory: 99999999999999999999 MiB is out of range (2..1048576)',
    );
    expect(() => parseRunFlags(['--memory', '1e400'])).toThrow(
      '--memory: "1e400" is not a whole number of MiB',
    );
  });

  it('keeps strings that look like markers or numbers as strings, and parses like JSON.parse', () => {
    const text = '{"a": "\\u00001e400", "b": [1e400, "1e400", {"c": -0, "d": 1e-999}], "e": 3}';
    const v = parseJsonKeepingNumbers(text) as { a: string; b: unknown[]; e: number };
    expect(v.a).toBe('\u00001e400');
    expect(v.b[0]).toBeInstanceOf(JsonNumberText);
    expect((v.b[0] as JsonNumberText).text).toBe('1e400');
    expect(v.b[1]).toBe('1e400');
    const { c, d } = v.b[2] as { c: JsonNumberText; d: JsonNumberText };
    expect(c).toMatchObject({ text: '-0', value: -0, exact: true, integral: true });
    expect(d).toMatchObject({ text: '1e-999', value: 0, exact: false, integral: false });
    expect(v.e).toBe(3); // written as JavaScript prints it: a plain number
    expect(() => parseJsonKeepingNumbers('{"a": 1e400')).toThrow(SyntaxError);
  });

  it('every memoryMib literal is accepted as its exact value or refused with its own text', () => {
    const literal = fc
      .tuple(
        fc.constantFrom('', '-'),
        fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9][0-9]{0,24}$/)),
        fc.option(fc.stringMatching(/^[0-9]{1,20}$/), { nil: undefined }),
        fc.option(
          fc.tuple(
            fc.constantFrom('e', 'E'),
            fc.constantFrom('', '+', '-'),
            fc.integer({ min: 0, max: 500 }),
          ),
          {
            nil: undefined,
          },
        ),
      )
      .map(
        ([s, i, f, e]) =>
          `${s}${i}${f === undefined ? '' : `.${f}`}${e === undefined ? '' : `${e[0]}${e[1]}${e[2]}`}`,
      );
    fc.assert(
      fc.property(literal, (lit) => {
        let cfg: { memoryMib?: number };
        try {
          cfg = parseConfigJson(`{"memoryMib": ${lit}}`);
        } catch (e) {
          expect(e).toBeInstanceOf(VmmError);
          expect((e as VmmError).message).toContain(lit);
          return;
        }
        expect(Number.isSafeInteger(cfg.memoryMib)).toBe(true);
        expect(cfg.memoryMib).toBe(Number(lit));
      }),
      { numRuns: 500 },
    );
  });
});
