/**
 * Arguments and results cross the process boundary by structured clone. A value that
 * cannot cross fails its task with `SerializationError` and the worker goes on serving.
 */
import { describe, expect, test } from '@jest/globals';
import { Pool, SerializationError } from '../lib/index.js';
import { checkFirst } from '../lib/payload.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers } from './helpers/processes.js';
import { errorOf } from './helpers/errors.js';

type Tasks = typeof import('./fixtures/lifecycle-tasks.js');

expectNoLeakedWorkers();

const module = fixture('lifecycle-tasks.js');
const range = (length: number): number[] => Array.from({ length }, (_, i) => i);

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

describe('an argument whose getter throws when read a second time', () => {
  // Packing reads it once and passes; writing the frame reads it again, later.
  /** An object whose `value` getter returns 1 the first time and throws after. */
  const readOnce = (): { readonly value: number } => {
    let reads = 0;
    return {
      get value(): number {
        if (++reads > 1) {
          throw new Error('read twice');
        }
        return 1;
      },
    };
  };

  test('rejects its call only, with SerializationError; the calls around it run, the pool goes on', async () => {
    await withPool(async (pool) => {
      const pid = await pool.apply('pid');
      const flaky = readOnce();
      const calls = [pool.apply('echo', [1]), pool.apply('echo', [flaky]), pool.apply('echo', [2])];
      const [first, second, third] = await Promise.allSettled(calls);
      expect(first).toEqual({ status: 'fulfilled', value: 1 });
      expect(second).toMatchObject({
        status: 'rejected',
        reason: { code: 'ERR_SERIALIZATION', direction: 'argument' },
      });
      expect((second as PromiseRejectedResult).reason.message).toMatch(/read twice/);
      expect(third).toEqual({ status: 'fulfilled', value: 2 });
      await expect(pool.apply('pid')).resolves.toBe(pid);
    });
  });

  test('as the first call of a function sent by its source: the next call of that function still runs', async () => {
    await withPool(async (pool) => {
      const flaky = readOnce();
      const same = (value: unknown): unknown => value;
      const error = await errorOf(pool.apply(same, [flaky]));
      expect(error).toMatchObject({ code: 'ERR_SERIALIZATION', direction: 'argument' });
      await expect(pool.apply(same, [5])).resolves.toBe(5);
    });
  });

  test('among tasks sent together in one frame, by map: the map rejects, the worker goes on', async () => {
    await withPool(async (pool) => {
      await pool.map('double', range(200), { chunksize: 1 }); // pipelining: tasks go several to a frame
      const flaky = readOnce();
      const items: unknown[] = range(200);
      items[150] = flaky;
      const error = await errorOf(pool.map('echo', items, { chunksize: 1 }));
      expect(error).toMatchObject({ code: 'ERR_SERIALIZATION', direction: 'argument' });
      await expect(pool.map('double', range(10))).resolves.toEqual(range(10).map((x) => x * 2));
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

// A result of more values than the worker checks before sending it leaves as JSON at
// once, and is confirmed, or replaced by its V8-serialized version, once the whole check is
// done (packEarly in lib/payload.ts, tentative frames in lib/channel.ts).
describe('a long result, sent before its check is over', () => {
  /** `count` records, then each of `last`, as the worker makes them (`'shared'`: the first record again). */
  const records = (count: number, last: unknown[]): unknown[] => {
    const list: unknown[] = Array.from({ length: count }, (_, i) => ({ id: i, tags: ['a', 'b'] }));
    for (const value of last) {
      list.push(value === 'shared' ? list[0] : value);
    }
    return list;
  };
  const count = checkFirst; // 4 values each: well past checkFirst values in all

  test('comes back equal when JSON carries it exactly, by apply and by map', async () => {
    await withPool(async (pool) => {
      await expect(pool.apply(records, [count, []])).resolves.toEqual(records(count, []));
      const items = Array.from({ length: count }, (_, i) => i);
      await expect(pool.map((i: number) => ({ i, tags: ['a'] }), items, { chunksize: count })).resolves.toEqual(
        items.map((i) => ({ i, tags: ['a'] })),
      );
    });
  });

  test('keeps what JSON would lose past the first values: undefined, a Date, a BigInt, a shared reference', async () => {
    await withPool(async (pool) => {
      for (const last of [[undefined], [new Date(0)], [1n], ['shared']]) {
        const result = (await pool.apply(records, [count, last])) as unknown[];
        expect(result).toEqual(records(count, last));
        if (last[0] === 'shared') {
          expect(result.at(-1)).toBe(result[0]);
        }
      }
      // Such a result among long ones, by map: each comes back in its place.
      const lasts = [[], [undefined], [], ['shared']];
      const results = (await pool.starmap(
        (last: unknown[], n: number) => {
          const list: unknown[] = Array.from({ length: n }, (_, i) => ({ id: i }));
          return [...list, ...last.map((value) => (value === 'shared' ? list[0] : value))];
        },
        lasts.map((last) => [last, count] as [unknown[], number]),
        { chunksize: 1 },
      )) as unknown[][];
      expect(results.map((result) => result.length)).toEqual([count, count + 1, count, count + 1]);
      expect(results[1]!.at(-1)).toBeUndefined();
      expect(results[3]!.at(-1)).toBe(results[3]![0]);
    });
  });

  test('a value that cannot be cloned past the first values rejects its task only; the worker goes on', async () => {
    await withPool(async (pool) => {
      const pid = await pool.apply('pid');
      const error = await errorOf(
        pool.apply((n: number) => [...Array.from({ length: n }, (_, i) => ({ i })), () => n], [count]),
      );
      expect(error).toBeInstanceOf(SerializationError);
      expect(error).toMatchObject({ direction: 'result' });
      await expect(pool.apply(records, [count, []])).resolves.toHaveLength(count);
      await expect(pool.apply('pid')).resolves.toBe(pid);
    });
  });

  test('is delivered before a worker with maxTasksPerChild 1 leaves', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, maxTasksPerChild: 1 });
    try {
      const results = await Promise.all([0, 1, 2].map(() => pool.apply(records, [count, ['shared']])));
      for (const result of results as unknown[][]) {
        expect(result).toHaveLength(count + 1);
        expect(result.at(-1)).toBe(result[0]);
      }
    } finally {
      await pool.terminate();
    }
  });
});

// The same for a long argument, sent by the pool.
describe('a long argument, sent before its check is over', () => {
  const records = (count: number): unknown[] => Array.from({ length: count }, (_, i) => ({ id: i, tags: ['a', 'b'] }));
  const count = checkFirst;

  test('arrives equal, and keeps what JSON would lose past the first values', async () => {
    await withPool(async (pool) => {
      const list = records(count);
      await expect(pool.apply('echo', [list])).resolves.toEqual(list);
      for (const last of [undefined, new Date(0), 1n, 'shared']) {
        const withLast = [...list, last === 'shared' ? list[0] : last];
        const back = (await pool.apply('echo', [withLast])) as unknown[];
        expect(back).toEqual(withLast);
        if (last === 'shared') {
          expect(back.at(-1)).toBe(back[0]);
        }
      }
    });
  });

  test('with a getter past the first values that submits tasks while the list is being sent: every call is answered', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    try {
      await pool.map('double', [1, 2]); // both workers up, so that nested calls may go to either
      // Each call the getter makes, with what it must answer. A call may itself send the
      // next list, whose getter then runs inside it: each is recorded as it is made.
      const nested: [Promise<unknown>, unknown][] = [];
      const list: unknown[] = records(count);
      list.push({
        get value(): number {
          const id = nested.length;
          const small = pool.apply('echo', [id]);
          nested.push([small, id]);
          const long = pool.apply('echo', [records(count)]);
          nested.push([long, records(count)]);
          return 7;
        },
      });
      const results = (await pool.map('echo', [list, list, 1], { chunksize: 1 })) as unknown[][];
      expect(results[0]!.at(-1)).toEqual({ value: 7 });
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toBe(1);
      expect(nested.length).toBeGreaterThanOrEqual(4); // the getter ran for each list
      for (const [answer, expected] of nested) {
        await expect(answer).resolves.toEqual(expected);
      }
    } finally {
      await pool.terminate();
    }
  });

  test('one that cannot be cloned past the first values rejects its call only, sent among others', async () => {
    await withPool(async (pool) => {
      const pid = await pool.apply('pid');
      const bad = [...records(count), () => 1];
      const calls = [
        pool.apply('echo', [1]),
        pool.apply('echo', [bad]),
        pool.apply('echo', [records(count)]),
        pool.apply('echo', [2]),
      ];
      const [first, second, third, fourth] = await Promise.allSettled(calls);
      expect(first).toEqual({ status: 'fulfilled', value: 1 });
      expect(second).toMatchObject({
        status: 'rejected',
        reason: { code: 'ERR_SERIALIZATION', direction: 'argument' },
      });
      expect(third).toEqual({ status: 'fulfilled', value: records(count) });
      expect(fourth).toEqual({ status: 'fulfilled', value: 2 });
      await expect(pool.apply('pid')).resolves.toBe(pid);
    });
  });
});
