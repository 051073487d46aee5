/**
 * A V8 context with what a browser's Web Worker has and none of Node's globals, for tests that
 * prove a bundle of the portable packages runs outside Node (Node only: it uses `node:vm`).
 *
 * @module
 */
import { type Context, createContext, runInContext } from 'node:vm';

/** Globals a Node program has and a browser worker does not. */
export const NODE_ONLY_GLOBALS = [
  'process',
  'Buffer',
  'require',
  'module',
  'setImmediate',
  'global',
  '__dirname',
  '__filename',
] as const;

/**
 * A fresh context holding a Web Worker's globals that the portable packages use (WebAssembly,
 * SharedArrayBuffer, Atomics, TextEncoder/Decoder, performance, crypto, timers, URL, console) and
 * `self`; none of {@link NODE_ONLY_GLOBALS} exists in it.
 * @example
 * ```ts
 * const context = browserWorkerContext();
 * runInContext('typeof process', context); // 'undefined'
 * ```
 */
export function browserWorkerContext(): Context {
  const context = createContext({
    console,
    WebAssembly,
    SharedArrayBuffer,
    Atomics,
    TextEncoder,
    TextDecoder,
    performance,
    crypto,
    queueMicrotask,
    structuredClone,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    URL,
  });
  runInContext('globalThis.self = globalThis;', context);
  for (const name of NODE_ONLY_GLOBALS) {
    if (runInContext(`typeof ${name}`, context) !== 'undefined')
      throw new Error(`${name} leaked into the context`);
  }
  return context;
}

/**
 * Runs an IIFE bundle (built with `globalName`) in a {@link browserWorkerContext} and returns the
 * value of `globalName` (the bundle's exports).
 * @example
 * ```ts
 * const { main } = runInBrowserWorker<{ main(): Promise<string> }>(bundleText, 'portable');
 * await main();
 * ```
 */
export function runInBrowserWorker<T>(code: string, globalName: string, filename = `${globalName}.js`): T {
  const context = browserWorkerContext();
  runInContext(code, context, { filename });
  return runInContext(globalName, context) as T;
}
