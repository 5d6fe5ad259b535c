/**
 * The data channel between the pool and one worker: a socket pair the pool opens as the
 * worker's file descriptor 4 (`stdio[4]`), carrying frames. Node's IPC channel (fd 3)
 * stays open only to tie the worker's life to the parent's.
 *
 * Why not `process.send`: Node's IPC pays a fixed price per message, in its own framing
 * and serialization and in one write each (see the raw baseline of docs/benchmarks.md,
 * `'advanced'` far behind `'json'`), while a frame written to a socket costs little more
 * than its bytes, and one frame carries every message that is ready to go: the tasks the
 * pool hands a worker at once. Task code cannot write here by mistake: its
 * `process.send` goes to fd 3, which the pool does not read.
 *
 * A frame is one line of text, `[binaryLength]JSON\n`, then `binaryLength` bytes when the
 * length is there. The JSON is the array of the frame's messages (JSON never holds a raw
 * newline, so the line ends where the JSON does). A property of a message packed as bytes
 * (`{ encoded: bytes }`, V8-serialized, or `{ numbers: bytes }`, float64s; see `Packed` in
 * lib/payload.ts) travels in the binary part, its place in the JSON holding
 * `{ "encoded": [offset, length] }` (or `"numbers"`) into that part. A message has at most
 * one such property.
 *
 * A tentative frame, `?JSON\n` (no binary part), carries messages sent before the sender
 * finished checking that JSON carries them exactly (`packEarly` in lib/payload.ts). The
 * reader parses it and holds its messages until the next frame: `!\n` confirms them;
 * any other frame replaces them (with their V8-serialized version, or with nothing, `[]`).
 */
import { writeSync } from 'node:fs';

/** The worker's end of the channel. */
export const workerChannelFd = 4;

/** Bytes that do not make a frame. */
export class FrameError extends Error {
  override name = 'FrameError';
}

const newline = 0x0a;
const tentativeMark = 0x3f; // '?'
const confirmMark = 0x21; // '!'

/** The frame that confirms the tentative frame before it. */
export const confirmLine = '!\n';

/** The kinds of bytes a message's property can carry in the binary part. */
type BinaryKind = 'encoded' | 'numbers';

/** A binary part's length must be a multiple of this, by kind. */
const unitOf: Record<BinaryKind, number> = { encoded: 1, numbers: Float64Array.BYTES_PER_ELEMENT };

/** The kind of `value`, if it is `{ encoded: … }` or `{ numbers: … }` whose part passes `is`. */
function binaryKind(value: unknown, is: (part: unknown) => boolean): BinaryKind | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  if (is((value as { encoded?: unknown }).encoded)) {
    return 'encoded';
  }
  return is((value as { numbers?: unknown }).numbers) ? 'numbers' : undefined;
}

const isBytes = (part: unknown): boolean => part instanceof Uint8Array;
const isPlace = (part: unknown): boolean =>
  Array.isArray(part) && typeof part[0] === 'number' && typeof part[1] === 'number';

/**
 * The frame for `messages`: its line of text, then its binary parts, if any (left as
 * they are rather than copied, for a writer to write one after the other). A `tentative`
 * frame is one line; its messages must have no binary parts.
 */
export function encodeFrame(messages: readonly object[], tentative = false): [string, ...Uint8Array[]] {
  let blobs: Uint8Array[] | undefined;
  let binaryLength = 0;
  let list = messages;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as Record<string, unknown>;
    for (const key in message) {
      const kind = binaryKind(message[key], isBytes);
      if (kind === undefined) {
        continue;
      }
      const blob = (message[key] as Record<BinaryKind, Uint8Array>)[kind];
      if (blobs === undefined) {
        blobs = [];
        list = messages.slice();
      }
      (list as object[])[i] = { ...message, [key]: { [kind]: [binaryLength, blob.byteLength] } };
      blobs.push(blob);
      binaryLength += blob.byteLength;
      break;
    }
  }
  const json = JSON.stringify(list);
  if (tentative) {
    if (blobs !== undefined) {
      throw new Error('A tentative frame cannot have binary parts');
    }
    return [`?${json}\n`];
  }
  return blobs === undefined ? [`${json}\n`] : [`${binaryLength}${json}\n`, ...blobs];
}

/** What a frame is written to: one end of the channel, a socket. */
export interface FrameSink {
  write(data: string | Uint8Array, written?: (error?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
}

/**
 * Writes the frame of `messages` to `sink`, in one go (corked when it has binary parts).
 * `written` is called once its last part is written, or has failed to be.
 */
export function writeFrame(
  sink: FrameSink,
  messages: readonly object[],
  written?: (error?: Error | null) => void,
): void {
  writeEncoded(sink, encodeFrame(messages), written);
}

/** What `writeEarly` writes to: a sink that says how much it holds not yet written. */
export interface EarlySink extends FrameSink {
  readonly writableLength: number;
}

/** Whether `writeEarly` has written part of a frame straight to a descriptor, and not the rest. */
let midFrame = false;

/** Whether nothing may be written straight to a channel's descriptor now, as `writeEarly` is in the middle of a frame. */
export function isMidFrame(): boolean {
  return midFrame;
}

/**
 * Writes `messages`, one of which carries a list as JSON before its check is over
 * (`packEarly` in lib/payload.ts), in a tentative frame, then calls `settle` to finish the
 * check: the reader parses the frame meanwhile. `settle` returns `undefined` when JSON
 * carries the list exactly, and the frame is confirmed, or else the messages to send
 * instead, which replace it. What `settle` throws, `writeEarly` throws, having withdrawn
 * the frame (replaced it with a frame of no messages).
 *
 * With `fd`, the descriptor of `sink` (a non-blocking socket), and nothing waiting in
 * `sink`, the frame is written straight to the descriptor, as much as the socket takes,
 * and more each time `settle` calls its `onProgress` (every few thousand values), as the
 * reader makes room; the stream would write only after the check. `written` is called
 * once the last frame is written, or has failed to be.
 */
export function writeEarly(
  sink: EarlySink,
  fd: number | undefined,
  messages: readonly object[],
  settle: (onProgress?: () => void) => readonly object[] | undefined,
  written?: (error?: Error | null) => void,
): void {
  let line: string;
  try {
    [line] = encodeFrame(messages, true);
  } catch (error) {
    // JSON refuses the list (a BigInt, a cycle …), so the check does too.
    writeFrame(sink, settle() ?? rethrow(error), written);
    return;
  }
  const bytes = Buffer.from(line);
  let sent = 0;
  let writeMore: (() => void) | undefined;
  const outerMidFrame = midFrame;
  if (fd !== undefined && sink.writableLength === 0 && !midFrame) {
    writeMore = () => {
      sent += writeSome(fd, bytes, sent);
    };
    writeMore();
    midFrame = sent < bytes.length;
  }
  const finishFrame = (): void => {
    midFrame = outerMidFrame;
    if (sent < bytes.length) {
      sink.write(sent === 0 ? bytes : bytes.subarray(sent));
      sent = bytes.length;
    }
  };
  if (writeMore === undefined) {
    finishFrame(); // all through the stream, before the check
  }
  let replacement: readonly object[] | undefined;
  try {
    replacement = settle(writeMore);
  } catch (error) {
    finishFrame();
    writeFrame(sink, []);
    throw error;
  }
  finishFrame();
  if (replacement === undefined) {
    sink.write(confirmLine, written);
  } else {
    writeFrame(sink, replacement, written);
  }
}

function rethrow(error: unknown): never {
  throw error;
}

/**
 * Writes to `fd` what it takes of `data` (from byte `offset` of bytes; a string whole,
 * encoded as UTF-8) at once; returns how many bytes that was. A descriptor that fails
 * otherwise than by being full counts as having taken all: its stream meets the same
 * failure and reports it.
 */
function writeSome(fd: number, data: string | Uint8Array, offset = 0): number {
  try {
    if (typeof data === 'string') {
      return writeSync(fd, data);
    }
    return offset < data.length ? writeSync(fd, data, offset) : 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
      return 0;
    }
    return (typeof data === 'string' ? Buffer.byteLength(data) : data.length) - offset;
  }
}

/** The longest frame line, in characters, that `writeDirect` writes. */
const maxDirectWrite = 16 * 1024;

/**
 * Writes a small frame without binary parts (`encodeFrame`) straight to `fd`, the
 * descriptor of `sink` (a non-blocking socket), by a system call that returns at once,
 * where the stream would cost its own bookkeeping for each write: only when nothing written
 * before is still waiting in `sink` and no frame is half written (`writeEarly`), so that
 * frames stay in order. What the socket does not take at once follows through the stream.
 * Returns false, having written nothing, for any other frame, or without `fd`.
 *
 * A write that fails otherwise than by the socket being full is dropped: the other end is
 * gone, and the socket's reading side reports it (its 'close').
 */
export function writeDirect(
  sink: EarlySink & { readonly destroyed: boolean },
  fd: number | undefined,
  frame: readonly [string, ...Uint8Array[]],
): boolean {
  const line = frame[0];
  if (
    fd === undefined ||
    frame.length > 1 ||
    line.length > maxDirectWrite ||
    sink.writableLength > 0 ||
    midFrame ||
    sink.destroyed
  ) {
    return false;
  }
  // The string as it is: Node.js encodes it on its way to the system call, where a
  // Buffer of it would cost an allocation and a copy first.
  const written = writeSome(fd, line);
  if (written === 0) {
    sink.write(line);
  } else if (written < Buffer.byteLength(line)) {
    sink.write(Buffer.from(line).subarray(written));
  }
  return true;
}

/** Writes a frame `encodeFrame` made, as `writeFrame` does. */
export function writeEncoded(
  sink: FrameSink,
  [line, ...binary]: readonly [string, ...Uint8Array[]],
  written?: (error?: Error | null) => void,
): void {
  if (binary.length === 0) {
    sink.write(line, written);
    return;
  }
  sink.cork();
  sink.write(line);
  binary.forEach((part, i) => sink.write(part, i === binary.length - 1 ? written : undefined));
  sink.uncork();
}

/** A socket whose reads `readEagerly` can take: Node.js hands each chunk read to `push`. */
export interface PushingSource {
  push?(chunk: unknown, encoding?: BufferEncoding): boolean;
}

/**
 * Hands each chunk `socket` reads to `onChunk` as it is read, past the socket's readable
 * stream. The stream would take a turn of its own machinery for each chunk (its buffer
 * state, a `'data'` event, a tick queued to read more): work the pool would do for each
 * answer of a long task, on a core a worker needs (docs/benchmarks.md). A socket made by
 * `new net.Socket()` takes such a reader as its documented `onread` option; the pool's
 * end of a worker's channel is made by `child_process`, which offers none. Node.js hands
 * what a socket reads to the socket's `push()`, so `push` takes the chunks here; the end
 * of input (`null`) still goes to the stream, which ends and closes the socket as before.
 *
 * Where a chunk does not reach `push` (a Node.js that reads otherwise, a stand-in), it
 * comes through the stream: `onChunk` must also listen to `'data'`. Returning `true`
 * keeps the socket reading; `onChunk` takes what it is given at once.
 */
export function readEagerly(socket: PushingSource, onChunk: (chunk: Buffer) => void): void {
  const streamPush = socket.push;
  if (typeof streamPush !== 'function') {
    return;
  }
  socket.push = function push(this: PushingSource, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (!Buffer.isBuffer(chunk)) {
      return streamPush.call(this, chunk, encoding);
    }
    onChunk(chunk);
    return true;
  };
}

/**
 * Reassembles frames from the chunks a socket delivers, in any sizes, and hands each
 * message of each frame to `onMessage`, then calls `onFrameEnd`. What spans chunks is
 * copied once, when complete. Throws `FrameError` on bytes that do not make a frame;
 * what `onMessage` throws goes through as it is.
 */
export class FrameReader {
  readonly #onMessage: (message: unknown) => void;
  readonly #onFrameEnd: (() => void) | undefined;
  /** Chunks of an incomplete line, or of the binary part of `#waiting`. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** A frame whose line is read, waiting for `binaryLength` bytes. */
  #waiting: { messages: unknown[]; binaryLength: number } | undefined;
  /** The messages of a tentative frame, waiting for the next frame to confirm or replace them. */
  #held: unknown[] | undefined;

  constructor(onMessage: (message: unknown) => void, onFrameEnd?: () => void) {
    this.#onMessage = onMessage;
    this.#onFrameEnd = onFrameEnd;
  }

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.#buffered > 0 || this.#waiting !== undefined) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      const complete =
        this.#waiting === undefined ? chunk.includes(newline) : this.#buffered >= this.#waiting.binaryLength;
      if (!complete) {
        return;
      }
      data = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#buffered);
      this.#chunks = [];
      this.#buffered = 0;
    }
    let offset = 0;
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      offset = waiting.binaryLength;
      this.#deliver(waiting.messages, data.subarray(0, offset));
    }
    while (offset < data.length) {
      const end = data.indexOf(newline, offset);
      if (end === -1) {
        break;
      }
      const held = this.#held;
      this.#held = undefined;
      if (data[offset] === confirmMark && end === offset + 1) {
        if (held === undefined) {
          throw new FrameError('a confirmation with no tentative frame before it');
        }
        offset = end + 1;
        this.#deliver(held, undefined);
        continue;
      }
      // Any other frame replaces the held messages, if any.
      const tentative = data[offset] === tentativeMark;
      let jsonStart = tentative ? offset + 1 : offset;
      let binaryLength = 0;
      for (let byte = data[jsonStart]!; !tentative && byte >= 0x30 && byte <= 0x39; byte = data[++jsonStart]!) {
        binaryLength = binaryLength * 10 + byte - 0x30;
      }
      let messages: unknown;
      try {
        messages = JSON.parse(data.toString('utf8', jsonStart, end));
      } catch (error) {
        throw new FrameError(`a frame's line is not JSON: ${(error as Error).message}`, { cause: error });
      }
      if (!Array.isArray(messages)) {
        throw new FrameError('a frame holds an array of messages');
      }
      offset = end + 1;
      if (tentative) {
        this.#held = messages;
      } else if (binaryLength === 0) {
        this.#deliver(messages, undefined);
      } else if (offset + binaryLength <= data.length) {
        this.#deliver(messages, data.subarray(offset, offset + binaryLength));
        offset += binaryLength;
      } else {
        this.#waiting = { messages, binaryLength };
        break;
      }
    }
    if (offset < data.length) {
      const rest = data.subarray(offset);
      this.#chunks = [rest];
      this.#buffered = rest.length;
    }
  }

  #deliver(messages: unknown[], binary: Buffer | undefined): void {
    for (const message of messages) {
      if (binary !== undefined) {
        placeBinary(message, binary);
      }
      this.#onMessage(message);
    }
    this.#onFrameEnd?.();
  }
}

/** Puts the bytes back where `encodeFrame` left `{ encoded: [offset, length] }`. */
function placeBinary(message: unknown, binary: Buffer): void {
  if (typeof message !== 'object' || message === null) {
    return;
  }
  for (const key in message) {
    const value = (message as Record<string, unknown>)[key];
    const kind = binaryKind(value, isPlace);
    if (kind !== undefined) {
      const [start, length] = (value as Record<BinaryKind, [number, number]>)[kind];
      if (start < 0 || length < 0 || start + length > binary.length) {
        throw new FrameError('a binary part lies outside its frame');
      }
      if (length % unitOf[kind] !== 0) {
        throw new FrameError(`a binary part of ${kind} is ${length} bytes long, not a multiple of ${unitOf[kind]}`);
      }
      (message as Record<string, unknown>)[key] = { [kind]: binary.subarray(start, start + length) };
      return;
    }
  }
}
