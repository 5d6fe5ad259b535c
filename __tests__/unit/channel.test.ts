/**
 * The data channel's framing (lib/channel.ts): whatever sizes the socket cuts the bytes
 * into, every message comes out once, in order, with its V8-serialized bytes in place.
 */
import { EventEmitter, once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, test } from '@jest/globals';
import {
  FrameError,
  FrameReader,
  confirmLine,
  encodeFrame,
  readEagerly,
  writeDirect,
  writeEarly,
  type PushingSource,
} from '../../lib/channel.js';
import { isJsonExact, pack, unpack, type Packed } from '../../lib/payload.js';

function bytesOf(messages: object[]): Buffer {
  return Buffer.concat(encodeFrame(messages).map((part) => Buffer.from(part)));
}

/** Reads `bytes` cut into `size`-byte chunks; returns the messages and where each frame ended. */
function read(bytes: Buffer, size: number): { messages: unknown[]; frameEnds: number[] } {
  const messages: unknown[] = [];
  const frameEnds: number[] = [];
  const reader = new FrameReader(
    (message) => messages.push(message),
    () => frameEnds.push(messages.length),
  );
  for (let offset = 0; offset < bytes.length; offset += size) {
    reader.push(bytes.subarray(offset, offset + size));
  }
  return { messages, frameEnds };
}

const big = Buffer.alloc(200_000, 7);
const frames = [
  [{ type: 'task', id: 1, chunk: pack([[1]]) }],
  [
    { type: 'result', id: 2, values: pack(['line\nbreak', 'ünïcødé ✓']) },
    { type: 'result', id: 3, values: pack([big, undefined]) },
    { type: 'result', id: 4, values: pack([new Map([[1, 2n]])]) },
    { type: 'result', id: 5, values: pack([-0, ...Array.from({ length: 99 }, (_, i) => i / 3)]) },
  ],
  [{ type: 'ready' }],
];
const allBytes = Buffer.concat(frames.map(bytesOf));

describe('frames', () => {
  test('JSON-exact values travel as text, others as V8 bytes in the binary part', () => {
    expect(encodeFrame(frames[0]!)).toEqual(['[{"type":"task","id":1,"chunk":{"plain":[[1]]}}]\n']);
    const [line, ...binary] = encodeFrame(frames[1]!);
    expect(line).toMatch(/^\d+\[/);
    expect(binary).toHaveLength(3);
  });

  test.each([1, 7, 4096, 65_536, allBytes.length])(
    'cut into chunks of %i bytes, every message arrives once, in order, intact',
    (size) => {
      const { messages, frameEnds } = read(allBytes, size);
      expect(frameEnds).toEqual([1, 5, 6]);
      expect(messages.map((message) => (message as { type: string }).type)).toEqual([
        'task',
        'result',
        'result',
        'result',
        'result',
        'ready',
      ]);
      const values = messages.slice(1, 5).map((message) => unpack((message as { values: Packed }).values));
      expect(values[0]).toEqual(['line\nbreak', 'ünïcødé ✓']);
      expect(Buffer.compare(values[1]![0] as Buffer, big)).toBe(0);
      expect(values[1]![1]).toBeUndefined();
      expect(values[2]).toEqual([new Map([[1, 2n]])]);
      expect(values[3]).toEqual([-0, ...Array.from({ length: 99 }, (_, i) => i / 3)]);
    },
  );

  test('frames read at once, with and without binary parts, each arrive whole and end on their own', () => {
    const results = (from: number, count: number): object[][] =>
      Array.from({ length: count }, (_, i) => [{ type: 'result', id: from + i, values: pack([from + i]) }]);
    const textFrames = [...results(1, 3), [{ type: 'result', id: 4, values: pack([undefined]) }], ...results(5, 2)];
    const bytes = Buffer.concat(textFrames.map(bytesOf));
    const ids = (messages: unknown[]): number[] => messages.map((message) => (message as { id: number }).id);

    const whole = read(bytes, bytes.length);
    expect(ids(whole.messages)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(whole.frameEnds).toEqual([1, 2, 3, 4, 5, 6]);
    expect(unpack((whole.messages[3] as { values: Packed }).values)).toEqual([undefined]);

    // Cut inside the second frame, and then wherever the chunk size falls.
    const halves = read(bytes, bytesOf(textFrames[0]!).length + 5);
    expect(ids(halves.messages)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(halves.frameEnds).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('a malformed line among frames read at once: the frames before it are handed over, then FrameError', () => {
    const messages: unknown[] = [];
    const reader = new FrameReader((message) => messages.push(message));
    const bytes = Buffer.concat([
      bytesOf([{ type: 'ready' }]),
      bytesOf([{ type: 'result', id: 1, values: pack([1]) }]),
      Buffer.from('[not json]\n'),
      bytesOf([{ type: 'result', id: 2, values: pack([2]) }]),
    ]);
    expect(() => reader.push(bytes)).toThrow(FrameError);
    expect(messages.map((message) => (message as { type: string }).type)).toEqual(['ready', 'result']);
  });

  test.each([
    ['not JSON', 'hello\n'],
    ['a line of JSON that is not one frame', '[{"type":"ready"}],[{"type":"ready"}]\n'],
    ['JSON that is not a list of messages', '{"type":"ready"}\n'],
    ['a binary part that points outside the frame', '2[{"type":"result","id":1,"values":{"encoded":[0,9]}}]\nxx'],
    ['numbers that are not whole float64s', '9[{"type":"result","id":1,"values":{"numbers":[0,9]}}]\n123456789'],
  ])('%s is refused', (_, text) => {
    const reader = new FrameReader(() => {});
    expect(() => reader.push(Buffer.from(text))).toThrow(FrameError);
  });

  test('what onMessage throws goes through as it is, not as a FrameError', () => {
    const failure = new Error('a bug of the reader of messages');
    const reader = new FrameReader(() => {
      throw failure;
    });
    expect(() => reader.push(bytesOf([{ type: 'ready' }]))).toThrow(failure);
  });

  test('a getter that packs a value while its own object is being checked leaves that check intact', () => {
    const shared = { x: 1 };
    const sneaky = {
      get value() {
        pack([[{ y: 2 }]], 2); // a task submitted from inside a getter
        return 1;
      },
    };
    // The list holds `shared` twice: structured clone keeps that, JSON would not.
    expect(isJsonExact([[shared, sneaky, shared]], 2)).toBe(false);
    const [line] = encodeFrame([{ type: 'task', id: 1, chunk: pack([[shared, sneaky, shared]], 2) }]);
    expect(line).not.toContain('"plain"');
  });
});

describe('tentative frames', () => {
  const tentative = (messages: object[]): Buffer => Buffer.from(encodeFrame(messages, true)[0]);
  const result = (id: number, values: unknown[]): object => ({ type: 'result', id, values: { plain: values } });
  const ids = (messages: unknown[]): number[] => messages.map((message) => (message as { id: number }).id);
  const sizes = [1, 5, 64, 1 << 20];

  test.each(sizes)('confirmed, arrive once, at the confirmation (chunks of %i bytes)', (size) => {
    const bytes = Buffer.concat([
      bytesOf([result(1, [1])]),
      tentative([result(2, [2]), result(3, [3])]),
      Buffer.from(confirmLine),
      bytesOf([result(4, [4])]),
    ]);
    const { messages, frameEnds } = read(bytes, size);
    expect(ids(messages)).toEqual([1, 2, 3, 4]);
    expect(frameEnds).toEqual([1, 3, 4]);
  });

  test('are held until the confirmation, not handed over when read', () => {
    const messages: unknown[] = [];
    const reader = new FrameReader((message) => messages.push(message));
    reader.push(tentative([result(1, [1])]));
    expect(messages).toEqual([]);
    reader.push(Buffer.from(confirmLine));
    expect(ids(messages)).toEqual([1]);
  });

  test.each(sizes)(
    'replaced by the next frame, or withdrawn by an empty one, never arrive (chunks of %i bytes)',
    (size) => {
      const bytes = Buffer.concat([
        tentative([result(1, [1])]),
        bytesOf([{ type: 'result', id: 1, values: pack([undefined]) }]), // the replacement, V8-serialized
        tentative([result(2, [() => 2])]),
        bytesOf([]), // withdrawn: the task's result could not be cloned
        bytesOf([result(3, [3])]),
      ]);
      const { messages } = read(bytes, size);
      expect(ids(messages)).toEqual([1, 3]);
      expect(unpack((messages[0] as { values: Packed }).values)).toEqual([undefined]);
    },
  );

  test.each([
    ['a confirmation with no tentative frame before it', confirmLine],
    ['a second confirmation', `?[]\n${confirmLine}${confirmLine}`],
  ])('%s is refused', (_, text) => {
    const reader = new FrameReader(() => {});
    expect(() => reader.push(Buffer.from(text))).toThrow(FrameError);
  });

  test.each([
    ['confirmed', undefined, ['?', '!']],
    ['replaced', [result(1, [2])], ['?', '[']],
  ] as const)('written through a stream (no descriptor): once, then %s', (_, replacement, starts) => {
    const writes: string[] = [];
    const sink = {
      writableLength: 0,
      write: (data: string | Uint8Array): boolean => writes.push(Buffer.from(data).toString()) > 0,
      cork: () => {},
      uncork: () => {},
    };
    writeEarly(sink, undefined, [result(1, [1])], () => replacement);
    expect(writes.map((text) => text[0])).toEqual(starts);
    const { messages } = read(Buffer.from(writes.join('')), 7);
    expect(messages).toEqual([replacement?.[0] ?? result(1, [1])]);
  });

  test('cannot carry binary parts', () => {
    expect(() => encodeFrame([{ type: 'result', id: 1, values: pack([undefined]) }], true)).toThrow(/binary/);
  });
});

/** `readSync` on a non-blocking descriptor: 0 when nothing is there. */
function readNonBlocking(fd: number, buffer: Buffer): number {
  try {
    return readSync(fd, buffer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
      return 0;
    }
    throw error;
  }
}

/** A stand-in for a socket's stream that keeps what is written to it, as bytes, and counts them as queued. */
function queueingSink() {
  const writes: Buffer[] = [];
  const sink = {
    writableLength: 0,
    destroyed: false,
    write(data: string | Uint8Array): boolean {
      writes.push(Buffer.from(data));
      this.writableLength += writes.at(-1)!.length;
      return true;
    },
    cork: () => {},
    uncork: () => {},
  };
  return { sink, writes };
}

/** Two connected Unix sockets, and the descriptor of the first (Node's `_handle.fd`, as the pool reads it). */
async function socketPair(): Promise<{ writer: Socket; reader: Socket; fd: number; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'forkpool-channel-'));
  const server = createServer();
  server.listen(join(dir, 'socket'));
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const writer = connect(join(dir, 'socket'));
  const [[reader]] = await Promise.all([accepted, once(writer, 'connect')]);
  const fd = (writer as unknown as { _handle: { fd: number } })._handle.fd;
  return {
    writer,
    reader: reader as Socket,
    fd,
    close() {
      writer.destroy();
      (reader as Socket).destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('direct writes', () => {
  test('a small frame goes straight to the descriptor, not through the stream', async () => {
    const pair = await socketPair();
    try {
      const messages: unknown[] = [];
      const reader = new FrameReader((message) => messages.push(message));
      pair.reader.on('data', (chunk: Buffer) => reader.push(chunk));
      const writes: unknown[] = [];
      const write = pair.writer.write.bind(pair.writer);
      pair.writer.write = ((...args: Parameters<Socket['write']>) =>
        writes.push(args[0]) > 0 && write(...args)) as Socket['write'];
      expect(writeDirect(pair.writer, pair.fd, encodeFrame([{ type: 'ready' }]))).toBe(true);
      expect(writes).toEqual([]);
      await once(pair.reader, 'data');
      expect(messages).toEqual([{ type: 'ready' }]);
    } finally {
      pair.close();
    }
  });

  test('what the socket does not take goes through the stream, and later frames wait behind it, in order', async () => {
    const pair = await socketPair();
    try {
      // Frames of spaces, each 16 KiB less a few bytes, until one no longer fits in the socket.
      const padding = `[${' '.repeat(16 * 1024 - 4)}]\n`;
      let paddings = 0;
      while (pair.writer.writableLength === 0) {
        expect(writeDirect(pair.writer, pair.fd, [padding])).toBe(true);
        paddings++;
      }
      const last = encodeFrame([{ type: 'ready' }]);
      expect(writeDirect(pair.writer, pair.fd, last)).toBe(false); // the stream holds bytes yet
      pair.writer.write(last[0]);
      const frames: unknown[][] = [];
      let frame: unknown[] = [];
      const reader = new FrameReader(
        (message) => frame.push(message),
        () => {
          frames.push(frame);
          frame = [];
        },
      );
      const done = new Promise<void>((resolve) => {
        pair.reader.on('data', (chunk: Buffer) => {
          reader.push(chunk);
          if (frames.length === paddings + 1) {
            resolve();
          }
        });
      });
      await done;
      expect(frames.slice(0, paddings).every((messages) => messages.length === 0)).toBe(true);
      expect(frames[paddings]).toEqual([{ type: 'ready' }]);
    } finally {
      pair.close();
    }
  });

  // A pipe, unlike a Unix socket, takes part of a write when it has some room but not
  // enough: the part can end inside a character.
  test.each([
    ['one byte', 'a'],
    ['two bytes', 'ü'],
  ])(
    'a write the descriptor takes only in part: the rest of its bytes go through the stream (characters of %s)',
    (_, character) => {
      const dir = mkdtempSync(join(tmpdir(), 'forkpool-channel-'));
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const writeFd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        const { sink, writes: rest } = queueingSink();
        // Four strings short enough to travel as JSON: a frame of about 14K characters.
        const texts = Array.from({ length: 4 }, () => character.repeat(3500));
        let frames = 0;
        while (sink.writableLength === 0) {
          expect(writeDirect(sink, writeFd, encodeFrame([{ type: 'result', id: frames, values: pack(texts) }]))).toBe(
            true,
          );
          frames++;
        }
        const piped: Buffer[] = [];
        const buffer = Buffer.alloc(64 * 1024);
        for (let length = readNonBlocking(readFd, buffer); length > 0; length = readNonBlocking(readFd, buffer)) {
          piped.push(Buffer.from(buffer.subarray(0, length)));
        }
        const { messages } = read(Buffer.concat([...piped, ...rest]), 64 * 1024);
        expect(messages.map((message) => (message as { id: number }).id)).toEqual(
          Array.from({ length: frames }, (_, i) => i),
        );
        expect(
          messages.every((message) => isDeepStrictEqual(unpack((message as { values: Packed }).values), texts)),
        ).toBe(true);
      } finally {
        closeSync(readFd);
        closeSync(writeFd);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test('a frame with binary parts, or no descriptor: false, nothing written', () => {
    const { sink, writes } = queueingSink();
    expect(writeDirect(sink, undefined, encodeFrame([{ type: 'ready' }]))).toBe(false);
    expect(writeDirect(sink, 1, encodeFrame([{ type: 'result', id: 1, values: pack([undefined]) }]))).toBe(false);
    expect(writes).toEqual([]);
  });
});

describe('eager reads', () => {
  test("a socket's chunks go to the reader as they are read, none through 'data'; its end still ends and closes it", async () => {
    const pair = await socketPair();
    try {
      const chunks: Buffer[] = [];
      let dataEvents = 0;
      readEagerly(pair.reader, (chunk) => chunks.push(chunk));
      pair.reader.on('data', () => dataEvents++);
      const ended = once(pair.reader, 'end');
      const closed = once(pair.reader, 'close');
      pair.writer.write('first\n');
      pair.writer.end('second\n');
      await ended;
      await closed;
      expect(Buffer.concat(chunks).toString()).toBe('first\nsecond\n');
      expect(dataEvents).toBe(0);
    } finally {
      pair.close();
    }
  });

  test('what is not a chunk of bytes goes to the stream, and a source without push is left as it is', async () => {
    const stream = new PassThrough({ encoding: 'utf8' });
    const chunks: Buffer[] = [];
    readEagerly(stream, (chunk) => chunks.push(chunk));
    const data: unknown[] = [];
    stream.on('data', (text) => data.push(text));
    stream.push('text', 'utf8');
    stream.push(Buffer.from('bytes'));
    stream.push(null);
    await once(stream, 'end');
    expect(data).toEqual(['text']);
    expect(chunks.map(String)).toEqual(['bytes']);

    const emitter: EventEmitter & PushingSource = new EventEmitter();
    readEagerly(emitter, () => {});
    expect(emitter.push).toBeUndefined();
  });
});
