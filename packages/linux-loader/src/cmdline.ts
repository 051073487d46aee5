import { LoaderError } from './errors.js';
import { hex } from './hex.js';

/**
 * Keys that the kernel accepts more than once (each occurrence adds something).
 * @example REPEATABLE_KEYS.has('console'); // true: 'console=ttyS0 console=hvc0' is allowed
 */
export const REPEATABLE_KEYS: ReadonlySet<string> = new Set([
  'console',
  'virtio_mmio.device',
  'earlycon',
  'memmap',
  'hugepagesz',
  'hugepages',
  'modprobe.blacklist',
]);

function checkChars(what: string, s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0)
      throw new LoaderError('bad-cmdline', `${what} ${JSON.stringify(s)} contains a NUL byte at index ${i}`);
    if (c < 0x20 || c > 0x7e) {
      throw new LoaderError(
        'bad-cmdline',
        `${what} ${JSON.stringify(s)} contains the non-printable or non-ASCII character ${hex(c)} at index ${i}`,
      );
    }
  }
}

function checkKey(key: string): void {
  if (key.length === 0) throw new LoaderError('bad-cmdline', 'command line key is empty');
  checkChars('key', key);
  if (/[\s="]/.test(key)) {
    throw new LoaderError('bad-cmdline', `key ${JSON.stringify(key)} must not contain spaces, '=' or '"'`);
  }
  if (key === '--')
    throw new LoaderError('bad-cmdline', 'key "--" is the init-argument separator; use insertInitArgs()');
}

/** Quotes a value for the kernel's parser when it holds spaces ("a b" → "\"a b\""). */
function quote(what: string, value: string): string {
  checkChars(what, value);
  if (value.includes('"')) {
    throw new LoaderError(
      'bad-cmdline',
      `${what} ${JSON.stringify(value)} contains '"', which the kernel's parser cannot carry`,
    );
  }
  return /\s/.test(value) || value.length === 0 ? `"${value}"` : value;
}

/**
 * A Linux kernel command line under construction, checked as it grows: printable ASCII only (no NUL),
 * `key=value` pairs with values quoted when they contain spaces, single keys refused unless they
 * repeat by nature (`console`, `virtio_mmio.device`, ...), init arguments after `--`, and a capacity
 * that includes the terminating NUL (for a bzImage: `cmdline_size + 1`, see {@link Cmdline.forKernel}).
 *
 * @example
 * ```ts
 * const c = new Cmdline(2048);
 * c.insert('console', 'ttyS0').insertFlag('quiet').insert('reboot', 'k').insert('panic', 1);
 * c.insertInitArgs('--verbose', 'hello world');
 * c.toString(); // 'console=ttyS0 quiet reboot=k panic=1 -- --verbose "hello world"'
 * c.toBytes();  // the same, NUL-terminated, for guest memory
 * ```
 */
export class Cmdline {
  private readonly bootArgs: string[] = [];
  private readonly initArgs: string[] = [];
  private readonly keys = new Map<string, number>();

  /** `capacity`: the most bytes the line may take in guest memory, NUL included. */
  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new LoaderError(
        'invalid-argument',
        `command line capacity ${capacity} must be a positive integer`,
      );
    }
  }

  /**
   * A command line sized for a kernel whose setup header says `cmdline_size` (bytes without the NUL).
   * @example Cmdline.forKernel(k.setupHeader.cmdlineSize) // capacity 2048 for cmdline_size 2047
   */
  static forKernel(cmdlineSize: number): Cmdline {
    return new Cmdline(cmdlineSize + 1);
  }

  /**
   * Parses an existing command line (such as a user's `--cmdline`), validating it the same way.
   * @example Cmdline.parse('console=ttyS0 quiet -- init_arg', 2048).has('quiet') // true
   */
  static parse(line: string, capacity: number): Cmdline {
    const c = new Cmdline(capacity);
    checkChars('command line', line);
    const tokens = tokenize(line);
    let init = false;
    for (const t of tokens) {
      if (!init && t === '--') {
        init = true;
        continue;
      }
      if (init) {
        c.insertInitArgs(t);
        continue;
      }
      const eq = t.indexOf('=');
      if (eq < 0) c.insertFlag(t);
      else c.insert(t.slice(0, eq), t.slice(eq + 1));
    }
    return c;
  }

  /**
   * Adds `key=value` (quoted when the value has spaces). Throws `duplicate-key` if the key is set and
   * is not in {@link REPEATABLE_KEYS} (pass `{ repeat: true }` to allow it).
   * @example c.insert('root', '/dev/vda').insert('init', '/sbin/init')
   */
  insert(key: string, value: string | number | bigint, options: { repeat?: boolean } = {}): this {
    checkKey(key);
    const v = quote(`value of ${key}`, String(value));
    this.claim(key, options.repeat);
    this.push(`${key}=${v}`, key);
    return this;
  }

  /** Adds a bare flag such as `quiet` or `nokaslr`. @example c.insertFlag('nokaslr') */
  insertFlag(flag: string, options: { repeat?: boolean } = {}): this {
    checkKey(flag);
    this.claim(flag, options.repeat);
    this.push(flag, flag);
    return this;
  }

  /**
   * Adds raw text (one or more space-separated parameters) as is, after checking its characters.
   * Keys inside it are not tracked for duplicates.
   * @example c.insertStr('loglevel=8 earlyprintk=serial')
   */
  insertStr(text: string): this {
    checkChars('text', text);
    const t = text.trim();
    if (t.length === 0) return this;
    if ((t.match(/"/g)?.length ?? 0) % 2 !== 0) {
      throw new LoaderError('bad-cmdline', `text ${JSON.stringify(text)} has an unbalanced '"'`);
    }
    if (/(^|\s)--(\s|$)/.test(t)) {
      throw new LoaderError(
        'bad-cmdline',
        `text ${JSON.stringify(text)} contains "--"; use insertInitArgs() for init arguments`,
      );
    }
    this.push(t, undefined);
    return this;
  }

  /**
   * Adds arguments for init (placed after `--`), quoted when they contain spaces.
   * @example c.insertInitArgs('single') // '... -- single'
   */
  insertInitArgs(...args: string[]): this {
    const quoted = args.map((a) => quote('init argument', a));
    const next = [...this.initArgs, ...quoted];
    this.checkLength(this.bootArgs, next);
    this.initArgs.push(...quoted);
    return this;
  }

  /**
   * Adds a virtio-mmio device for kernels with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES:
   * `virtio_mmio.device=<size>@<base>:<irq>[:<id>]`.
   * @example c.addVirtioMmioDevice(0x1000, 0xd0000000, 5) // virtio_mmio.device=4K@0xd0000000:5
   */
  addVirtioMmioDevice(size: number, base: number, irq: number, id?: number): this {
    for (const [n, v] of [
      ['size', size],
      ['base', base],
      ['irq', irq],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0 || (n === 'size' && v === 0)) {
        throw new LoaderError('bad-cmdline', `virtio-mmio device ${n} ${v} is not a valid number`);
      }
    }
    const sz = size % 1024 === 0 ? `${size / 1024}K` : String(size);
    const dev = `${sz}@${hex(base)}:${irq}${id === undefined ? '' : `:${id}`}`;
    return this.insert('virtio_mmio.device', dev, { repeat: true });
  }

  /** True when `key` was inserted (as `key=...` or as a flag). @example c.has('console') */
  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** The line without the NUL. @example new Cmdline(8).insertFlag('ro').toString() // 'ro' */
  toString(): string {
    return join(this.bootArgs, this.initArgs);
  }

  /** The line as NUL-terminated ASCII bytes, ready for guest memory. @example mem.writeBytes(0x20000, c.toBytes()) */
  toBytes(): Uint8Array {
    const s = this.toString();
    const out = new Uint8Array(s.length + 1);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  /** Length in bytes including the NUL. */
  get byteLength(): number {
    return this.toString().length + 1;
  }

  private claim(key: string, repeat?: boolean): void {
    if (this.keys.has(key) && !repeat && !REPEATABLE_KEYS.has(key)) {
      throw new LoaderError('bad-cmdline', `key ${JSON.stringify(key)} is already on the command line`);
    }
  }

  private push(part: string, key: string | undefined): void {
    const next = [...this.bootArgs, part];
    this.checkLength(next, this.initArgs);
    this.bootArgs.push(part);
    if (key !== undefined) this.keys.set(key, (this.keys.get(key) ?? 0) + 1);
  }

  private checkLength(boot: readonly string[], init: readonly string[]): void {
    const len = join(boot, init).length + 1;
    if (len > this.capacity) {
      throw new LoaderError(
        'bad-cmdline',
        `command line would be ${len} bytes with its NUL, more than the capacity of ${this.capacity}`,
      );
    }
  }
}

function join(boot: readonly string[], init: readonly string[]): string {
  const b = boot.join(' ');
  if (init.length === 0) return b;
  return b.length > 0 ? `${b} -- ${init.join(' ')}` : `-- ${init.join(' ')}`;
}

/** Splits like the kernel's next_arg(): spaces separate, double quotes group (and are removed). */
function tokenize(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let any = false;
  for (const ch of line) {
    if (ch === '"') {
      inQuote = !inQuote;
      any = true;
      continue;
    }
    if (!inQuote && /\s/.test(ch)) {
      if (any) out.push(cur);
      cur = '';
      any = false;
      continue;
    }
    cur += ch;
    any = true;
  }
  if (inQuote)
    throw new LoaderError('bad-cmdline', `command line ${JSON.stringify(line)} has an unterminated '"'`);
  if (any) out.push(cur);
  return out;
}
