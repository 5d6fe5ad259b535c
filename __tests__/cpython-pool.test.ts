/**
 * CPython's own Pool tests, in forkpool's terms: the classes `_TestPool`,
 * `_TestPoolWorkerErrors` and `_TestPoolWorkerLifetime` of Lib/test/_test_multiprocessing.py,
 * one jest test per Python test method, named after it. Where the contract (API.md)
 * deliberately differs from Python, the test follows the contract and says so.
 *
 * Python's tests wait with `time.sleep()` in places; these synchronise instead on a `Gate`
 * (a Unix socket at which tasks announce themselves and wait to be released), on
 * `get(0)` of a result that cannot be ready, and on the order in which one worker runs
 * its tasks.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from '@jest/globals';
import {
  AsyncResult,
  Pool,
  PoolError,
  PoolNotRunningError,
  SerializationError,
  TimeoutError,
  type ProcessInfo,
} from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, isAlive } from './helpers/processes.js';

expectNoLeakedWorkers();

type Tasks = typeof import('./fixtures/cpython-tasks.js');
const cpythonTasks = fixture('cpython-tasks.js');

/** Python's `_TestPool` shares one `Pool(4)`; here each test has its own, so none outlives its test. */
const newPool = (processes = 4): Pool<Tasks> => new Pool<Tasks>({ processes, module: cpythonTasks });

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const sqr = (x: number): number => x * x;

async function collect<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of iterator) {
    values.push(value);
  }
  return values;
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('Expected the promise to reject, but it resolved');
}

/** Python's `SayWhenError`: what the input iterables below throw. */
class SayWhenError extends Error {
  override name = 'SayWhenError';
}

/** Python's `exception_throwing_generator(total, when)`: `when === -1` throws on the first `next()`. */
function* exceptionThrowingGenerator(total: number, when: number, error = new SayWhenError('Somebody said when')) {
  if (when === -1) {
    throw error;
  }
  for (let i = 0; i < total; i++) {
    if (i === when) {
      throw error;
    }
    yield i;
  }
}

/** Submitting to a pool that is not running throws or rejects (API.md allows either) a `PoolNotRunningError`. */
async function expectPoolNotRunning(call: () => unknown): Promise<void> {
  let outcome: unknown;
  try {
    outcome = call();
  } catch (error) {
    expect(error).toBeInstanceOf(PoolNotRunningError);
    return;
  }
  await expect(outcome instanceof AsyncResult ? outcome.get() : outcome).rejects.toBeInstanceOf(PoolNotRunningError);
}

/**
 * A rendezvous point for tasks, in place of Python's sleeps: a task of cpython-tasks.js
 * connects to this Unix socket and sends its pid (it is running), then waits until the
 * test calls `release()`.
 */
class Gate {
  readonly path: string;
  readonly #dir: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #pids: number[] = [];
  readonly #waiters: { count: number; resolve: (pids: number[]) => void }[] = [];
  #released = false;

  static async open(): Promise<Gate> {
    const gate = new Gate(await mkdtemp(join(tmpdir(), 'forkpool-gate-')));
    gate.#server.listen(gate.path);
    await once(gate.#server, 'listening');
    return gate;
  }

  private constructor(dir: string) {
    this.#dir = dir;
    this.path = join(dir, 'gate.sock');
    this.#server = createServer((socket) => this.#onConnection(socket));
  }

  /** Resolves with the pids of the first `count` tasks to arrive. */
  arrivals(count: number): Promise<number[]> {
    return new Promise((resolve) => {
      this.#waiters.push({ count, resolve });
      this.#notify();
    });
  }

  /** Lets every waiting task (and any that arrives later) go on. */
  release(): void {
    this.#released = true;
    for (const socket of this.#sockets) {
      socket.write('go');
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const socket of this.#sockets) {
      socket.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.#dir, { recursive: true, force: true });
  }

  #onConnection(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {}); // a worker killed by terminate() resets its connection
    if (this.#released) {
      socket.write('go');
    }
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      const lines = (buffered + data).split('\n');
      buffered = lines.pop()!;
      this.#pids.push(...lines.map(Number));
      this.#notify();
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) {
      if (this.#pids.length >= waiter.count) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(this.#pids.slice(0, waiter.count));
      }
    }
  }
}

/** Runs `count` tasks that wait for each other at a gate: they prove `count` workers run at once, and return their pids. */
async function meetAllWorkers(pool: Pool<Tasks>, count: number): Promise<number[]> {
  await using gate = await Gate.open();
  const results = range(count).map(() => pool.applyAsync('rendezvous', [gate.path]));
  const arrived = await gate.arrivals(count);
  gate.release();
  const pids = await Promise.all(results.map((result) => result.get()));
  expect(new Set(pids)).toEqual(new Set(arrived));
  expect(new Set(pids).size).toBe(count);
  return pids;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Python's `support.gc_collect()`, which also collects three times: the v8 serializer of
 * an IPC message keeps the objects it saw until it is itself collected, so they go in a
 * later collection.
 */
async function gcCollect(): Promise<void> {
  for (const _ of range(3)) {
    // A WeakRef holds its target until the current job ends: collect in a later one.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}

describe('_TestPool', () => {
  test('test_apply: apply returns fn(...args) computed in a worker', async () => {
    await using pool = newPool();
    await expect(pool.apply('sqr', [5])).resolves.toBe(25);
    // Python's second case, apply(sqr, (), {'x': 3}), passes keyword arguments: JavaScript has none.
  });

  test('test_map: map returns the results in input order, with and without chunksize', async () => {
    await using pool = newPool();
    await expect(pool.map('sqr', range(10))).resolves.toEqual(range(10).map(sqr));
    await expect(pool.map('sqr', range(100), { chunksize: 20 })).resolves.toEqual(range(100).map(sqr));
  });

  test('test_starmap: starmap spreads each item as the arguments', async () => {
    await using pool = newPool();
    let tuples = range(10).map((i): [number, number] => [i, 9 - i]);
    await expect(pool.starmap('mul', tuples)).resolves.toEqual(tuples.map(([x, y]) => x * y));
    tuples = range(100).map((i): [number, number] => [i, 99 - i]);
    await expect(pool.starmap('mul', tuples, { chunksize: 20 })).resolves.toEqual(tuples.map(([x, y]) => x * y));
  });

  test('test_starmap_async: starmapAsync(...).get() returns the results', async () => {
    await using pool = newPool();
    const tuples = range(100).map((i): [number, number] => [i, 99 - i]);
    await expect(pool.starmapAsync('mul', tuples).get()).resolves.toEqual(tuples.map(([x, y]) => x * y));
  });

  test('test_map_async: mapAsync(...).get() returns the results', async () => {
    await using pool = newPool();
    await expect(pool.mapAsync('sqr', range(10)).get()).resolves.toEqual(range(10).map(sqr));
  });

  test('test_map_async_callbacks: callback gets the result list, errorCallback the error; wait() waits for them', async () => {
    await using pool = newPool();
    // Python maps the builtin `int`; its counterpart is the native `BigInt`, passed as a
    // function the task module exports (the pool recognises it by identity).
    const callArgs: unknown[] = [];
    const callbacks = {
      callback: (value: bigint[]) => void callArgs.push(value),
      errorCallback: (error: Error) => void callArgs.push(error),
    };
    await pool.mapAsync(BigInt, ['1'], callbacks).wait();
    expect(callArgs).toEqual([[1n]]);
    await pool.mapAsync(BigInt, ['a'], callbacks).wait();
    expect(callArgs).toHaveLength(2);
    expect(callArgs[1]).toBeInstanceOf(SyntaxError); // BigInt('a'), as int('a') raises ValueError
  });

  test('test_map_unplicklable: an argument that cannot be sent rejects map with SerializationError, no hang', async () => {
    await using pool = newPool();
    const unclonable = () => 42;
    const error = await rejectionOf(pool.map('identity', Array<unknown>(10).fill(unclonable)));
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).direction).toBe('argument');
    // The pool lost nothing: it still runs work.
    await expect(pool.map('sqr', range(10))).resolves.toEqual(range(10).map(sqr));
  });

  test('test_map_chunksize: mapAsync of an empty list with chunksize does not stall', async () => {
    await using pool = newPool();
    const result = pool.mapAsync('sqr', [], { chunksize: 1 });
    expect(result.ready()).toBe(true); // as Python's MapResult of length 0, ready at once
    await expect(result.get(0)).resolves.toEqual([]);
  });

  test('test_map_handle_iterable_exception: an input iterable that throws rejects map with that error', async () => {
    await using pool = newPool();
    for (const [total, when] of [
      [1, -1], // at the very first item
      [1, -1], // again: the pool is reentrant
      [10, 3],
    ] as const) {
      const error = new SayWhenError('Somebody said when');
      await expect(pool.map('sqr', exceptionThrowingGenerator(total, when, error), { chunksize: 1 })).rejects.toBe(
        error,
      );
    }
    // Python's SpecialIterable: __next__ raises, though __len__ says 1.
    const error = new SayWhenError('special');
    const specialIterable = {
      length: 1,
      [Symbol.iterator]() {
        return this;
      },
      next(): IteratorResult<number> {
        throw error;
      },
    };
    await expect(pool.map('sqr', specialIterable, { chunksize: 1 })).rejects.toBe(error);
    await expect(pool.map('sqr', specialIterable, { chunksize: 1 })).rejects.toBe(error);
    // API.md: the input may be async too.
    const asyncError = new SayWhenError('async');
    async function* asyncThrowingGenerator() {
      yield 1;
      throw asyncError;
    }
    await expect(pool.map('sqr', asyncThrowingGenerator(), { chunksize: 1 })).rejects.toBe(asyncError);
  });

  test('test_async: applyAsync(...).get() returns the result', async () => {
    await using pool = newPool();
    await expect(pool.applyAsync('sqr', [7]).get()).resolves.toBe(49);
  });

  test('test_async_timeout: get(timeout) of an unfinished task rejects with TimeoutError; the task goes on', async () => {
    await using pool = newPool(3);
    const result = pool.applyAsync('hang');
    await expect(result.get(0)).rejects.toBeInstanceOf(TimeoutError);
    expect(result.ready()).toBe(false);
    await pool.terminate();
    await expect(result.get()).rejects.toBeInstanceOf(PoolError);
  });

  test('test_imap: imap yields the results in input order, then is done', async () => {
    await using pool = newPool();
    await expect(collect(pool.imap('sqr', range(10)))).resolves.toEqual(range(10).map(sqr));

    let it = pool.imap('sqr', range(10));
    for (const i of range(10)) {
      await expect(it.next()).resolves.toEqual({ done: false, value: i * i });
    }
    await expect(it.next()).resolves.toEqual({ done: true, value: undefined });

    it = pool.imap('sqr', range(1000), { chunksize: 100 });
    for (const i of range(1000)) {
      expect(await it.next()).toEqual({ done: false, value: i * i });
    }
    await expect(it.next()).resolves.toEqual({ done: true, value: undefined });
  });

  test('test_imap_handle_iterable_exception: imap throws the input error at its position', async () => {
    await using pool = newPool();
    const error = new SayWhenError('Somebody said when');
    // At the very first item, twice (reentrant).
    for (const _ of range(2)) {
      const it = pool.imap('sqr', exceptionThrowingGenerator(1, -1, error), { chunksize: 1 });
      await expect(it.next()).rejects.toBe(error);
    }
    // API.md: "thrown at that position by imap": the results of every item read before the
    // error come first. (CPython drops the items of a chunk the error cut short: with
    // chunksize 2 it yields 6 results here and with chunksize 4 only 4, not 7.)
    for (const [total, when, chunksize] of [
      [10, 3, 1],
      [20, 7, 2],
      [20, 7, 4],
    ] as const) {
      const it = pool.imap('sqr', exceptionThrowingGenerator(total, when, error), { chunksize });
      for (const i of range(when)) {
        await expect(it.next()).resolves.toEqual({ done: false, value: i * i });
      }
      await expect(it.next()).rejects.toBe(error);
    }
  });

  test('test_imap_unordered: imapUnordered yields every result', async () => {
    await using pool = newPool();
    const sorted = (values: number[]) => values.sort((a, b) => a - b);
    await expect(collect(pool.imapUnordered('sqr', range(10))).then(sorted)).resolves.toEqual(range(10).map(sqr));
    await expect(collect(pool.imapUnordered('sqr', range(1000), { chunksize: 100 })).then(sorted)).resolves.toEqual(
      range(1000).map(sqr),
    );
  });

  test('test_imap_unordered_handle_iterable_exception: imapUnordered throws the input error', async () => {
    await using pool = newPool();
    const error = new SayWhenError('Somebody said when');
    for (const _ of range(2)) {
      const it = pool.imapUnordered('sqr', exceptionThrowingGenerator(1, -1, error), { chunksize: 1 });
      await expect(it.next()).rejects.toBe(error);
    }
    // As Python: the order makes the error's place hard to foresee; values before it are
    // distinct results of the input, and the error does come.
    for (const [total, when, chunksize] of [
      [10, 3, 1],
      [20, 7, 2],
    ] as const) {
      const expected = new Set(range(total).map(sqr));
      const it = pool.imapUnordered('sqr', exceptionThrowingGenerator(total, when, error), { chunksize });
      const thrown = await rejectionOf(
        (async () => {
          for (const _ of range(total)) {
            const { value } = await it.next();
            expect(expected.delete(value as number)).toBe(true);
          }
        })(),
      );
      expect(thrown).toBe(error);
    }
  });

  test('test_make_pool: processes below 1 are refused; a pool of 3 runs 3 workers', async () => {
    expect(() => new Pool({ processes: -1 })).toThrow(RangeError);
    expect(() => new Pool({ processes: 0 })).toThrow(RangeError);
    expect(() => new Pool({ processes: 1.5 })).toThrow(TypeError); // API.md: non-integer
    await using pool = newPool(3);
    await meetAllWorkers(pool, 3); // Python: len(p._pool) == 3
    pool.close();
    await pool.join();
  });

  test('test_terminate: terminate stops workers busy with endless tasks, and join returns', async () => {
    await using gate = await Gate.open();
    await using pool = newPool(3);
    const result = pool.mapAsync('announceAndHang', Array<string>(10_000).fill(gate.path), { chunksize: 1 });
    const running = await gate.arrivals(3); // Python sleeps "to give some tasks a chance to start"
    await pool.terminate();
    await pool.join();
    await expect(result.get()).rejects.toBeInstanceOf(PoolError); // API.md: every unsettled result rejects
    expect(running.filter(isAlive)).toEqual([]);
  });

  test('test_empty_iterable: every mapping method returns nothing for empty input', async () => {
    await using pool = newPool(1);
    await expect(pool.map('sqr', [])).resolves.toEqual([]);
    await expect(collect(pool.imap('sqr', []))).resolves.toEqual([]);
    await expect(collect(pool.imapUnordered('sqr', []))).resolves.toEqual([]);
    await expect(pool.mapAsync('sqr', []).get()).resolves.toEqual([]);
    pool.close();
    await pool.join();
  });

  test('test_context: `await using` terminates the pool; it then refuses work', async () => {
    const L = range(10);
    let escaped!: Pool<Tasks>;
    {
      await using pool = newPool(2);
      escaped = pool;
      const result = pool.mapAsync('sqr', L);
      await expect(result.get()).resolves.toEqual(L.map(sqr));
    }
    await escaped.join();
    await expectPoolNotRunning(() => escaped.mapAsync('sqr', L));
  });

  test("test_traceback: a task's error arrives with its class, message and the worker's stack", async () => {
    {
      await using pool = newPool(1);
      const error = await rejectionOf(pool.apply('raiseError', ['123']));
      expect(Object.getPrototypeOf(error)).toBe(Error.prototype);
      expect(error.message).toBe('123');
      // Python finds the raising source line in the remote traceback; a JavaScript stack
      // names the function and the file it is in.
      expect(error.stack).toContain('raiseError');
      expect(error.stack).toContain('cpython-tasks.js');
    }
    {
      // An error of the input iterable is the caller's own, not a remote one.
      await using pool = newPool(1);
      const sayWhen = new SayWhenError('Somebody said when');
      const error = await rejectionOf(pool.map('sqr', exceptionThrowingGenerator(1, -1, sayWhen), { chunksize: 1 }));
      expect(error).toBe(sayWhen);
      expect(error.cause).toBeUndefined();
    }
  });

  test("test_wrapped_exception: a task's error is not wrapped in a pool error", async () => {
    await using pool = newPool(1);
    const error = await rejectionOf(pool.apply('raiseError', ['foo']));
    expect(error).not.toBeInstanceOf(PoolError);
    expect(Object.getPrototypeOf(error)).toBe(Error.prototype);
    expect(error.message).toBe('foo');
  });

  test('test_map_no_failfast: map settles only after every item, then close + join return', async () => {
    await using gate = await Gate.open();
    await using pool = newPool(2);
    // Python: map(raise_large_valuerror, [0, 1]) with a default chunksize of 1. Here the
    // second item holds at the gate until the first item's error has come back.
    const result = pool.mapAsync('raiseLarge', [{ label: 'first' }, { label: 'second', gate: gate.path }], {
      chunksize: 1,
    });
    await gate.arrivals(1);
    // With the other worker held at the gate, this task runs on the worker of the first
    // item, after it: once it is back, so is the first item's error.
    await expect(pool.apply('sqr', [3])).resolves.toBe(9);
    expect(result.ready()).toBe(false);
    gate.release();
    const error = await rejectionOf(result.get());
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe(`first:${'x'.repeat(1024 ** 2)}`); // the first error to arrive
    pool.close();
    await pool.join();
  });

  test('test_release_task_refs: the pool keeps no reference to task arguments or results', async () => {
    await using pool = newPool();
    // In a function of its own, so no local of this test keeps the objects alive.
    async function mapAndForget() {
      const objects = range(10).map((i) => ({ i }));
      const results = (await pool.map('identity', objects)) as typeof objects;
      expect(results.map((result) => result.i)).toEqual(range(10));
      return { args: objects.map((o) => new WeakRef(o)), results: results.map((r) => new WeakRef(r)) };
    }
    const refs = await mapAndForget();
    await gcCollect();
    expect(refs.args.filter((ref) => ref.deref() !== undefined)).toEqual([]);
    expect(refs.results.filter((ref) => ref.deref() !== undefined)).toEqual([]);
  });
});

describe('_TestPoolWorkerErrors', () => {
  test('test_async_error_callback: errorCallback gets the error before get() rejects with it', async () => {
    await using pool = newPool(2);
    let seen: Error | undefined;
    const result = pool.applyAsync('raising', [], { errorCallback: (error) => void (seen = error) });
    let seenWhenGetRejected: Error | undefined;
    const error = await rejectionOf(
      result.get().catch((error: unknown) => {
        seenWhenGetRejected = seen;
        throw error;
      }),
    );
    expect(error).toBeInstanceOf(RangeError); // Python's KeyError("key")
    expect(error.message).toBe('key');
    expect(seenWhenGetRejected).toBe(error);
    pool.close();
    await pool.join();
  });

  test('test_unpickleable_result: a result that cannot be sent rejects with SerializationError; workers survive', async () => {
    await using pool = newPool(2);
    const workersBefore = new Set(await meetAllWorkers(pool, 2));
    for (const _ of range(20)) {
      let wrapped: Error | undefined;
      const result = pool.applyAsync('unclonableResult', [], { errorCallback: (error) => void (wrapped = error) });
      const error = await rejectionOf(result.get());
      expect(error).toBeInstanceOf(SerializationError); // Python's MaybeEncodingError
      expect((error as SerializationError).direction).toBe('result');
      expect(error.message).not.toBe('');
      expect(wrapped).toBe(error);
    }
    // "Make sure we don't lose pool processes because of encoding errors."
    expect(new Set(await meetAllWorkers(pool, 2))).toEqual(workersBefore);
    pool.close();
    await pool.join();
  });
});

describe('_TestPoolWorkerLifetime', () => {
  test('test_pool_worker_lifetime: with maxTasksPerChild, workers are replaced by new ones', async () => {
    await using pool = new Pool<Tasks>({ processes: 3, maxTasksPerChild: 10, module: cpythonTasks });
    const originalPids = await meetAllWorkers(pool, 3);
    const results = range(100).map((i) => pool.applyAsync('sqrAndWho', [i]));
    const answers: (ProcessInfo & { square: number })[] = [];
    for (const [j, result] of results.entries()) {
      const answer = await result.get();
      expect(answer.square).toBe(sqr(j));
      answers.push(answer);
    }
    // Each worker ran at most 10 tasks, under a PoolWorker-N name of its own.
    const tasksByName = new Map<string, number>();
    const pidByName = new Map<string, number>();
    for (const { name, pid } of answers) {
      expect(name).toMatch(/^PoolWorker-\d+$/);
      tasksByName.set(name, (tasksByName.get(name) ?? 0) + 1);
      expect(pidByName.get(name) ?? pid).toBe(pid);
      pidByName.set(name, pid);
    }
    expect(Math.max(...tasksByName.values())).toBeLessThanOrEqual(10);
    expect(tasksByName.size).toBeGreaterThanOrEqual(10);
    expect(new Set(pidByName.values()).size).toBe(pidByName.size);
    // The pool is full again, and not with the workers it started with.
    const finalPids = await meetAllWorkers(pool, 3);
    expect(new Set(finalPids)).not.toEqual(new Set(originalPids));
    pool.close();
    await pool.join();
  });

  test('maxTasksPerChild naming: a replacement worker takes the next PoolWorker-N and is a new process', async () => {
    await using pool = new Pool<Tasks>({ processes: 1, maxTasksPerChild: 1, module: cpythonTasks });
    const first = await pool.apply('whoami');
    const second = await pool.apply('whoami');
    const third = await pool.apply('whoami');
    const n = Number(/^PoolWorker-(\d+)$/.exec(first.name)?.[1]);
    expect(n).toBeGreaterThanOrEqual(1);
    expect([second.name, third.name]).toEqual([`PoolWorker-${n + 1}`, `PoolWorker-${n + 2}`]);
    expect(new Set([first.pid, second.pid, third.pid]).size).toBe(3);
  });

  test('test_pool_worker_lifetime_early_close: close() before the tasks finish, then join() returns', async () => {
    await using pool = new Pool<Tasks>({ processes: 3, maxTasksPerChild: 1, module: cpythonTasks });
    const results = range(6).map((i) => pool.applyAsync('sqr', [i]));
    pool.close(); // synchronously after submitting: no task can have finished yet
    await pool.join();
    for (const [j, result] of results.entries()) {
      expect(result.ready()).toBe(true);
      await expect(result.get()).resolves.toBe(sqr(j));
    }
  });

  test('test_pool_maxtasksperchild_invalid: maxTasksPerChild must be a positive integer', () => {
    // Python raises ValueError for all four; API.md splits range and type.
    expect(() => new Pool({ processes: 3, maxTasksPerChild: 0 })).toThrow(RangeError);
    expect(() => new Pool({ processes: 3, maxTasksPerChild: -1 })).toThrow(RangeError);
    expect(() => new Pool({ processes: 3, maxTasksPerChild: 0.5 })).toThrow(TypeError);
    expect(() => new Pool({ processes: 3, maxTasksPerChild: '12' as unknown as number })).toThrow(TypeError);
  });

  test('test_worker_finalization_via_atexit_handler_of_multiprocessing: a script that never closes its pool exits with 0', async () => {
    // Python's script keeps a running pool in an object's attribute and returns; the
    // interpreter must still exit cleanly. API.md: a pool with no pending work does not
    // keep the parent alive.
    const forkpool = new URL('../dist/lib/index.js', import.meta.url).href;
    const script = `
      import { Pool } from ${JSON.stringify(forkpool)};
      class A {
        constructor() {
          this.pool = new Pool({ processes: 1 });
        }
      }
      let problem = null;
      async function test() {
        problem = new A();
        const floats = await problem.pool.map((x) => x / 1, Array.from({ length: 10 }, (_, i) => i));
        console.log(JSON.stringify(floats));
      }
      await test();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '--eval', script], {
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Not part of the assertion: only a guard so that a script which never exits is
      // killed instead of outliving the test run.
      timeout: 50_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (data: string) => (stdout += data));
    child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(stdout).toBe(`${JSON.stringify(range(10))}\n`);
  });
});
