/**
 * The human-readable log of the Firecracker control plane, in Firecracker's line format:
 * `TIMESTAMP [INSTANCE_ID:THREAD(:LEVEL)(:ORIGIN)] MESSAGE`, e.g.
 * `2026-08-01T12:00:00.123000000 [anonymous-instance:main:INFO] API server started.`
 *
 * @module
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { VmmError } from '../vmm/errors.js';

/** Log levels, most severe first; a logger at a level shows that level and those above it. */
export const LOG_LEVELS = ['Off', 'Error', 'Warning', 'Info', 'Debug', 'Trace'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

const LEVEL_TAG: Record<Exclude<LogLevel, 'Off'>, string> = {
  Error: 'ERROR',
  Warning: 'WARN',
  Info: 'INFO',
  Debug: 'DEBUG',
  Trace: 'TRACE',
};

/**
 * A level name, case-insensitively as Firecracker takes it (`warn` for `Warning` too).
 * @example parseLogLevel('debug') // 'Debug'
 */
export function parseLogLevel(raw: unknown, field = 'level'): LogLevel {
  if (typeof raw === 'string') {
    const lower = raw.toLowerCase();
    if (lower === 'warn') return 'Warning';
    const hit = LOG_LEVELS.find((l) => l.toLowerCase() === lower);
    if (hit) return hit;
  }
  throw VmmError.config(field, `${JSON.stringify(raw)} is not one of ${LOG_LEVELS.join(', ')}`);
}

/** Where log lines go: a file or named pipe opened for appending, or a write function. */
export type LogSink = { path: string } | { write: (line: string) => void };

/** Options of a {@link FirecrackerLogger}. */
export interface LoggerOptions {
  instanceId: string;
  level?: LogLevel;
  showLevel?: boolean;
  showOrigin?: boolean;
  /** Default: standard error. */
  sink?: LogSink;
}

/** A Firecracker timestamp: ISO 8601 with nanoseconds, UTC, no zone letter. */
function timestamp(now = new Date()): string {
  return `${now.toISOString().slice(0, 23)}000000`;
}

/**
 * The control plane's logger.
 *
 * @example
 * ```ts
 * const log = new FirecrackerLogger({ instanceId: 'vm1', level: 'Info', showLevel: true });
 * log.info('API server started.'); // 2026-... [vm1:main:INFO] API server started.
 * ```
 */
export class FirecrackerLogger {
  private level: LogLevel;
  private showLevel: boolean;
  private showOrigin: boolean;
  private instanceId: string;
  private fd: number | undefined;
  private writeLine: (line: string) => void;

  constructor(options: LoggerOptions) {
    this.instanceId = options.instanceId;
    this.level = options.level ?? 'Info';
    this.showLevel = options.showLevel ?? false;
    this.showOrigin = options.showOrigin ?? false;
    this.writeLine = (line) => process.stderr.write(`${line}\n`);
    if (options.sink) this.setSink(options.sink);
  }

  /**
   * Sends lines to `sink` from now on (a path is opened for appending at once: an error names it).
   * @example logger.setSink({ path: '/tmp/fc.log' })
   */
  setSink(sink: LogSink): void {
    if ('write' in sink) {
      this.closeFile();
      this.writeLine = sink.write;
      return;
    }
    let fd: number;
    try {
      fd = openSync(sink.path, 'a');
    } catch (e) {
      throw VmmError.config(
        'log_path',
        `cannot open ${JSON.stringify(sink.path)}: ${(e as NodeJS.ErrnoException).code}`,
      );
    }
    this.closeFile();
    this.fd = fd;
    this.writeLine = (line) => {
      try {
        writeSync(fd, `${line}\n`);
      } catch {
        // a named pipe whose reader left: the line is lost, the VM goes on
      }
    };
  }

  /**
   * Changes the level and what each line shows.
   * @example logger.configure({ level: 'Debug', showLevel: true })
   */
  configure(o: { level?: LogLevel; showLevel?: boolean; showOrigin?: boolean; instanceId?: string }): void {
    if (o.level !== undefined) this.level = o.level;
    if (o.showLevel !== undefined) this.showLevel = o.showLevel;
    if (o.showOrigin !== undefined) this.showOrigin = o.showOrigin;
    if (o.instanceId !== undefined) this.instanceId = o.instanceId;
  }

  /**
   * Whether a line at `level` is written.
   * @example logger.enabled('Debug') // false at the default level Info
   */
  enabled(level: Exclude<LogLevel, 'Off'>): boolean {
    return LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(this.level);
  }

  /**
   * Writes one line at `level` (`origin` names the part of ts-vmm it comes from).
   * @example logger.log('Warning', 'io_engine Async runs as Sync', 'api')
   */
  log(level: Exclude<LogLevel, 'Off'>, message: string, origin = 'vmm'): void {
    if (!this.enabled(level)) return;
    let tag = `${this.instanceId}:main`;
    if (this.showLevel) tag += `:${LEVEL_TAG[level]}`;
    if (this.showOrigin) tag += `:${origin}`;
    this.writeLine(`${timestamp()} [${tag}] ${message}`);
  }

  /** @example logger.error('InstanceStart failed') */
  error(message: string, origin?: string): void {
    this.log('Error', message, origin);
  }
  /** @example logger.warn('no metrics path') */
  warn(message: string, origin?: string): void {
    this.log('Warning', message, origin);
  }
  /** @example logger.info('API server started.') */
  info(message: string, origin?: string): void {
    this.log('Info', message, origin);
  }
  /** @example logger.debug('PUT /machine-config') */
  debug(message: string, origin?: string): void {
    this.log('Debug', message, origin);
  }

  /** Closes the log file, if one is open. @example logger.close() */
  close(): void {
    this.closeFile();
  }

  private closeFile(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {}
      this.fd = undefined;
    }
  }
}
