#!/usr/bin/env node
/**
 * `ts-vmm-web [--port N] [--host ADDR] [--kernel PATH --initrd PATH]`: serves the ts-vmm page and
 * a guest (default: the cached default guest) with the cross-origin isolation headers, and prints
 * the URL. Ctrl-C stops it.
 *
 * @module
 */
import { WebVmError } from './index.js';
import { startWebServer, type WebServerOptions } from './server.js';

const USAGE = `usage: ts-vmm-web [--port N] [--host ADDR] [--kernel PATH] [--initrd PATH]

Serves the ts-vmm page (x86-64 Linux on the TypeScript emulator, in the browser) on
http://127.0.0.1:8080/ with the guest it boots: --kernel/--initrd, else the default guest of
\`ts-vmm guest fetch\` from the cache. Open the printed URL in a browser.
`;

function parse(argv: string[]): WebServerOptions {
  const o: WebServerOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new WebVmError('invalid-argument', `${flag}: needs a value`);
      return v;
    };
    switch (flag) {
      case '--port': {
        const v = value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 65535)
          throw new WebVmError('invalid-argument', `--port: "${v}" is not a port number`);
        o.port = n;
        break;
      }
      case '--host':
        o.host = value();
        break;
      case '--kernel':
        o.kernel = value();
        break;
      case '--initrd':
        o.initrd = value();
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        throw new WebVmError('invalid-argument', `unknown option "${flag}"`);
    }
  }
  return o;
}

async function main(): Promise<void> {
  let options: WebServerOptions;
  try {
    options = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`ts-vmm-web: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  try {
    const server = await startWebServer(options);
    const guest = server.kernel
      ? `kernel ${server.kernel}${server.initrd ? `, initrd ${server.initrd}` : ''}`
      : 'no guest (drop a kernel on the page; `ts-vmm guest fetch` builds the default one)';
    process.stdout.write(`ts-vmm-web: serving ${server.url} (${guest})\n`);
    const stop = () => void server.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } catch (e) {
    process.stderr.write(`ts-vmm-web: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

void main();
