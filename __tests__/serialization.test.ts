/**
 * Arguments and results cross the process boundary by structured clone. A value that
 * cannot cross fails its task with `SerializationError` and the worker goes on serving.
 */
import { describe, expect, test } from '@jest/globals';
import { Pool, SerializationError } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers } from './helpers/processes.js';
import { errorOf } from './helpers/errors.js';

type Tasks = typeof import('./fixtures/lifecycle-tasks.js');

expectNoLeakedWorkers();

const module = fixture('lifecycle-tasks.js');

async function withPool(body: (pool: Pool<Tasks>) => Promise<void>): Promise<void> {
  const pool = new Pool<Tasks>({ processes: 1, module });
  try {
    await body(pool);
  } finally {
    await pool.terminate();
  }
}

/** Where a typed array sits in its ArrayBuffer (as `viewLayout` of lifecycle-tasks.js reports it). */
function layout(view: ArrayBufferView): { type: string; byteOffset: number; byteLength: number; bufferLength: number } {
  const { byteOffset, byteLength, buffer } = view;
  return { type: view.constructor.name, byteOffset, byteLength, bufferLength: buffer.byteLength };
}

describe('a result that cannot be cloned', () => {
  test.each([
    ['a function', 'returnFunction'],
    ['a symbol', 'returnSymbol'],
  ] as const)('(%s) rejects with SerializationError and the same worker serves the next task', async (_, task) => {
    await withPool(async (pool) => {
      const pid = await pool.apply('pid');
      const error = await errorOf(pool.apply(task));
      expect(error).toBeInstanceOf(SerializationError);
      expect(error).toMatchObject({ code: 'ERR_SERIALIZATION', direction: 'result' });
      await expect(pool.apply('pid')).resolves.toBe(pid);
    });
  });

  test('inside a chunk, rejects the map; the worker survives', async () => {
    await withPool(async (pool) => {
      const pid = await pool.apply('pid');
      const error = await errorOf(pool.map((x: number) => (x === 2 ? () => x : x), [1, 2, 3], { chunksize: 3 }));
      expect(error).toBeInstanceOf(SerializationError);
      expect(error).toMatchObject({ direction: 'result' });
      await expect(pool.map('double', [1, 2, 3])).resolves.toEqual([2, 4, 6]);
      await expect(pool.apply('pid')).resolves.toBe(pid);
    });
  });
});

describe('an argument that cannot be cloned', () => {
  test.each([
    ['a function', () => 1],
    ['a symbol', Symbol('local')],
    ['an object with a method', { method() {} }],
    ['a WeakMap', new WeakMap()],
  ])('(%s) rejects with SerializationError; nothing crashes', async (_, value) => {
    await withPool(async (pool) => {
      const pid = await pool.apply('pid');
      const error = await errorOf(pool.apply('echo', [value]));
      expect(error).toBeInstanceOf(SerializationError);
      expect(error).toMatchObject({ code: 'ERR_SERIALIZATION', direction: 'argument' });
      expect(pool.state).toBe('running');
      await expect(pool.apply('pid')).resolves.toBe(pid);
    });
  });

  test('queued behind a running task, and inside a map, rejects the call and only it', async () => {
    await withPool(async (pool) => {
      const pid = await pool.apply('pid');
      const before = pool.apply('doubleLater', [1]);
      const bad = pool.applyAsync('echo', [() => 1]); // queued: sent only when the worker is free
      const badMap = pool.map('echo', [1, () => 2, 3], { chunksize: 1 });
      const after = pool.apply('doubleLater', [2]);
      await expect(bad.get()).rejects.toMatchObject({ name: 'SerializationError', direction: 'argument' });
      await expect(badMap).rejects.toMatchObject({ name: 'SerializationError', direction: 'argument' });
      await expect(Promise.all([before, after])).resolves.toEqual([2, 4]);
      await expect(pool.apply('pid')).resolves.toBe(pid);
    });
  });
});

describe('structured clone round trip (argument to the worker and back)', () => {
  test.each([
    [
      'Map',
      new Map<unknown, unknown>([
        [1, 'one'],
        ['k', { nested: [1, 2] }],
      ]),
    ],
    ['Set', new Set([1, 'two', 3n])],
    ['Date', new Date('2024-02-29T12:34:56.789Z')],
    ['BigInt', 2n ** 100n],
    ['negative BigInt', -(2n ** 64n)],
    ['Uint8Array', new Uint8Array([0, 1, 255])],
    ['Float64Array', new Float64Array([1.5, -0, Number.NaN, Number.POSITIVE_INFINITY])],
    ['BigInt64Array', new BigInt64Array([-1n, 2n ** 62n])],
    ['ArrayBuffer', new Uint8Array([9, 8, 7]).buffer],
    ['RegExp', /a+b(?<name>c)?/gimsu],
    ['nested objects', { a: [{ b: new Map([['c', new Set([new Date(0)])]]) }], d: { e: { f: [null, true, 'x'] } } }],
    ['undefined in an object', { a: undefined, b: [undefined, null] }],
  ])('%s', async (_, value) => {
    await withPool(async (pool) => {
      await expect(pool.apply('echo', [value])).resolves.toStrictEqual(value);
    });
  });

  test('undefined, null, NaN and -0 keep their identity', async () => {
    await withPool(async (pool) => {
      const values = [undefined, null, Number.NaN, -0, 0];
      const results = await pool.map('echo', values, { chunksize: 1 });
      results.forEach((result, i) => expect(Object.is(result, values[i])).toBe(true));
      expect(Object.is(await pool.apply('echo', [-0]), -0)).toBe(true);
    });
  });

  test('tasks sent together, of two functions, with values sent as bytes among JSON ones, each come back in place', async () => {
    await withPool(async (pool) => {
      await pool.apply('double', [0]); // from now on the pool sends a worker several tasks at once
      const values = Array.from({ length: 600 }, (_, i) =>
        i % 7 === 0 ? Buffer.from(String(i)) : i % 11 === 0 ? undefined : i,
      );
      const numbers = Array.from({ length: 600 }, (_, i) => i);
      const [echoed, doubled] = await Promise.all([
        pool.map('echo', values, { chunksize: 1 }),
        pool.map('double', numbers, { chunksize: 1 }),
      ]);
      expect(echoed).toStrictEqual(values);
      expect(doubled).toEqual(numbers.map((n) => n * 2));
    });
  });

  test('a Buffer comes back as a Buffer', async () => {
    await withPool(async (pool) => {
      const result = (await pool.apply('echo', [Buffer.from('héllo')])) as Buffer;
      expect(Buffer.isBuffer(result)).toBe(true);
      expect(result.toString('utf8')).toBe('héllo');
    });
  });

  test('circular objects and shared references keep their shape', async () => {
    await withPool(async (pool) => {
      const shared = { shared: true };
      const value: Record<string, unknown> = { a: shared, b: [shared] };
      value.self = value;
      const result = (await pool.apply('echo', [value])) as typeof value;
      expect(result.self).toBe(result);
      expect(result.a).toBe((result.b as unknown[])[0]);
      expect(result.a).toEqual({ shared: true });
    });
  });

  test('Error values keep their built-in class, message, stack and cause', async () => {
    await withPool(async (pool) => {
      const error = new TypeError('bad type', { cause: new RangeError('inner') });
      const result = (await pool.apply('echo', [error])) as Error;
      // Values are deserialized by Node.js itself, in the main realm, not in Jest's test
      // realm: compare classes by name, not with instanceof.
      expect(result.constructor.name).toBe('TypeError');
      expect(result.message).toBe('bad type');
      expect(result.stack).toBe(error.stack);
      expect((result.cause as Error).constructor.name).toBe('RangeError');
      expect((result.cause as Error).message).toBe('inner');
      // V8's structured clone keeps no other own property (`code` …) and turns a subclass
      // of Error into the nearest built-in class: as `structuredClone` does.
      const custom = Object.assign(new Error('custom'), { code: 'E_CUSTOM' });
      expect(await pool.apply('echo', [custom])).toStrictEqual(structuredClone(custom));
    });
  });

  test('a typed array arrives with an ArrayBuffer of its own, as structured clone gives', async () => {
    await withPool(async (pool) => {
      for (const view of [new Uint8Array([1, 2, 3]), new Float64Array([1.5, 2.5])]) {
        const own = layout(view);
        expect(own).toMatchObject({ byteOffset: 0, bufferLength: view.byteLength });
        // In the worker …
        await expect(pool.apply('viewLayout', [view])).resolves.toEqual(own);
        // … and back in the parent.
        expect(layout((await pool.apply('echo', [view])) as ArrayBufferView)).toEqual(own);
      }
    });
  });
});
