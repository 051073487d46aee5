/**
 * What a {@link VsockHostStream} reports to the vsock device (the device passes these to
 * {@link VsockHostStream.start}).
 * @example
 * ```ts
 * import type { VsockStreamEvents } from '@ts-vmm/devices';
 * // How a stream over a WebSocket might report (ws: the host program's end).
 * function relay(ws: WebSocket, events: VsockStreamEvents): void {
 *   ws.binaryType = 'arraybuffer';
 *   ws.onopen = () => events.connected();
 *   ws.onmessage = (m) => events.data(new Uint8Array(m.data as ArrayBuffer));
 *   ws.onclose = () => events.end();
 *   ws.onerror = (e) => events.error(e);
 * }
 * ```
 */
export interface VsockStreamEvents {
  /** A stream from {@link VsockBackend.connect} reached the host program. */
  connected(): void;
  /** Bytes from the host program, in order. The device keeps the array: do not reuse it. */
  data(bytes: Uint8Array): void;
  /** The host program finished sending, or the stream closed. May come more than once. */
  end(): void;
  /** The stream failed (refused, reset): the device resets the guest's connection. */
  error(error: unknown): void;
}

/**
 * The host end of one vsock stream connection: a byte stream to a host program, with
 * back-pressure (`pause`/`resume`) and write completion (the device gives the guest credit back
 * only for bytes the host program has taken).
 *
 * @example
 * ```ts
 * import type { VsockHostStream, VsockStreamEvents } from '@ts-vmm/devices';
 *
 * // A host program that answers every chunk with its length, in decimal.
 * function lengthEcho(): VsockHostStream {
 *   let events: VsockStreamEvents | undefined;
 *   return {
 *     start(e) {
 *       events = e;
 *     },
 *     write(bytes, done) {
 *       queueMicrotask(() => {
 *         events?.data(new TextEncoder().encode(`${bytes.length}\n`));
 *         done();
 *       });
 *     },
 *     end: () => events?.end(),
 *     destroy: () => {
 *       events = undefined;
 *     },
 *     pause() {},
 *     resume() {},
 *   };
 * }
 * ```
 */
export interface VsockHostStream {
  /**
   * Starts event delivery; the device calls it once, synchronously, when it takes the stream. Data
   * that arrived before (bytes after a CONNECT line, say) is delivered from here on.
   */
  start(events: VsockStreamEvents): void;
  /**
   * Sends guest bytes to the host program; `done` once it has taken them (with an error if not).
   * The device has one write under way per stream (the next waits for `done`: that is its
   * back-pressure) and leaves `bytes` untouched until `done`; after `done` it reuses their memory,
   * so a stream that needs them longer copies them.
   */
  write(bytes: Uint8Array, done: (error?: unknown) => void): void;
  /** Half-close: the guest sends nothing more. */
  end(): void;
  /** Closes both ways at once. The device ignores events that still come afterwards. */
  destroy(): void;
  /** Stops `data` events (the guest is not taking bytes). */
  pause(): void;
  /** Resumes `data` events. */
  resume(): void;
  /**
   * A host-initiated connection was accepted by the guest, from host port `hostPort` (the
   * Unix-socket backend answers the host program `OK <hostPort>\n`). Optional.
   */
  accepted?(hostPort: number): void;
}

/**
 * The host side of a virtio-vsock device: how host programs reach guest ports, and where guest
 * connections to host (CID 2) ports go. `UnixSocketVsockBackend` (`@ts-vmm/devices/node`) is
 * Firecracker's hybrid vsock over Unix sockets; a browser or a test supplies its own.
 *
 * @example
 * ```ts
 * import type { VsockBackend, VsockHostStream } from '@ts-vmm/devices';
 *
 * // Host programs in the same JavaScript realm: `dial(port)` reaches a guest listener;
 * // guest connections reach `services[port]`.
 * function inProcess(services: Record<number, () => VsockHostStream>) {
 *   let incoming: ((guestPort: number, stream: VsockHostStream) => void) | undefined;
 *   const backend: VsockBackend = {
 *     listen: async (onConnect) => {
 *       incoming = onConnect;
 *     },
 *     connect: (port) => {
 *       const make = services[port];
 *       if (!make) throw new Error(`nothing listens on host port ${port}`);
 *       return make();
 *     },
 *     close: async () => {
 *       incoming = undefined;
 *     },
 *   };
 *   const dial = (guestPort: number, stream: VsockHostStream) => incoming?.(guestPort, stream);
 *   return { backend, dial };
 * }
 * ```
 */
export interface VsockBackend {
  /**
   * Starts taking host-initiated connections: for each, `onConnect(guestPort, stream)` (the device
   * then asks the guest, and calls `stream.accepted` or `stream.destroy`). Resolves once host
   * programs can connect. The device calls it once, from its constructor.
   */
  listen(onConnect: (guestPort: number, stream: VsockHostStream) => void): Promise<void>;
  /**
   * A guest connection to host port `port`: returns the stream at once; it reports `connected`
   * once the host program took the connection, or `error` (the guest gets RST). May also throw
   * (same outcome).
   */
  connect(port: number): VsockHostStream;
  /** Stops taking connections and releases host resources (the device destroys its streams first). */
  close(): Promise<void>;
}
