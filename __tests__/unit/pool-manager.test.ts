/**
 * The manager's dispatch, chunking, ordering and state machine, driven through the
 * public Pool with a fake `fork`: no processes, every step under the test's control.
 */
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import {
  AbortError,
  Pool,
  PoolNotRunningError,
  PoolTerminatedError,
  TaskTimeoutError,
  WorkerExitedError,
  WorkerInitError,
} from '../../lib/index.js';
import { kFork } from '../../lib/pool.js';
import type { PoolOptions } from '../../lib/options.js';
import { unpack } from '../../lib/payload.js';
import { argLists, fakeFork, flush, frameBytes, type FakeChild } from '../helpers/fake-fork.js';

function makePool(options: PoolOptions = {}) {
  const { fork, children } = fakeFork();
  const pool = new Pool({ processes: 2, ...options, [kFork]: fork } as PoolOptions);
  return { pool, children };
}

/** Runs `undo` after the current test, whether it passes or fails. */
const cleanups: (() => void)[] = [];
const afterTest = (undo: () => void) => cleanups.push(undo);
afterEach(() => {
  for (const undo of cleanups.splice(0)) {
    undo();
  }
});

const taskIds = (child: FakeChild) => child.sentOf('task').map((task) => task.id);
const workerNumber = (child: FakeChild) => Number(child.sentOf('init')[0]!.name.replace('PoolWorker-', ''));

describe('start-up', () => {
  test('forks `processes` workers at once, each told its name first, numbered in sequence', () => {
    const { pool, children } = makePool({ processes: 3 });
    expect(children).toHaveLength(3);
    for (const child of children) {
      expect(child.sent[0]!.type).toBe('init');
    }
    const numbers = children.map(workerNumber);
    expect(numbers).toEqual([numbers[0], numbers[0]! + 1, numbers[0]! + 2]);
    void pool.terminate();
  });

  test('sends no task before the worker says ready', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const result = pool.applyAsync((x: number) => x, [1]);
    await flush();
    expect(children[0]!.sentOf('task')).toHaveLength(0);
    children[0]!.ready();
    expect(children[0]!.sentOf('task')).toHaveLength(1);
    children[0]!.answer(children[0]!.sentOf('task')[0]!.id);
    await expect(result.get()).resolves.toBe(1);
    void pool.terminate();
  });
});

describe('dispatch', () => {
  test('one task per worker until tasks are seen to be short; the queue drains in submission order', async () => {
    // performance.now() stands still: b's first task takes no time at all.
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'queueMicrotask', 'nextTick'] });
    afterTest(() => jest.useRealTimers());
    const { pool, children } = makePool({ processes: 2 });
    const [a, b] = children.map((child) => child.ready());
    const results = [1, 2, 3, 4, 5].map((x) => pool.applyAsync('f', [x]));
    expect(taskIds(a!)).toHaveLength(1);
    expect(taskIds(b!)).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ queued: 3, running: 2 });
    const order: unknown[] = [];
    const answered = new Set<number>();
    // Worker b answers first, at once: tasks are short, so b is sent its share of the
    // queue (half of it, rounded up) to run one after the other.
    b!.answer(taskIds(b!)[0]!);
    answered.add(taskIds(b!)[0]!);
    expect(taskIds(b!)).toHaveLength(3);
    expect(taskIds(a!)).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ queued: 2, running: 2 });
    for (let round = 0; round < 3; round++) {
      for (const child of [a!, b!]) {
        const pending = taskIds(child).filter((id) => !answered.has(id));
        for (const id of pending) {
          answered.add(id);
          child.answer(id);
        }
      }
    }
    for (const result of results) {
      order.push(await result.get());
    }
    expect(order).toEqual([1, 2, 3, 4, 5]);
    const sentArgs = [...a!.sentOf('task'), ...b!.sentOf('task')]
      .sort((x, y) => x.id - y.id)
      .map((t) => argLists(t)[0]);
    expect(sentArgs).toEqual([[1], [2], [3], [4], [5]]);
    void pool.terminate();
  });

  test('a function is sent by source once per worker, then by id', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const square = (x: number) => x * x;
    const first = pool.apply(square, [3]);
    child.answer(taskIds(child)[0]!, (args) => (args[0] as number) ** 2);
    await expect(first).resolves.toBe(9);
    const second = pool.apply(square, [4]);
    child.answer(taskIds(child)[1]!, (args) => (args[0] as number) ** 2);
    await expect(second).resolves.toBe(16);
    const [one, two] = child.sentOf('task').map((task) => task.fn);
    expect(one).toMatchObject({ kind: 'source', name: 'square', source: square.toString() });
    expect(two).toEqual({ kind: 'source', id: (one as { id: number }).id, name: 'square' });
    void pool.terminate();
  });

  test('a new closure of the same source for each call is the same function: its source goes once per worker', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const square = () => (x: number) => x * x; // a new function object each time
    for (const x of [3, 4]) {
      const result = pool.apply(square(), [x]);
      child.answer(taskIds(child).at(-1)!, (args) => (args[0] as number) ** 2);
      await expect(result).resolves.toBe(x * x);
    }
    const cube = pool.apply((x: number) => x * x * x, [2]);
    child.answer(taskIds(child).at(-1)!, (args) => (args[0] as number) ** 3);
    await expect(cube).resolves.toBe(8);
    const [one, two, three] = child.sentOf('task').map((task) => task.fn as { id: number; source?: string });
    expect(one!.source).toBe('(x) => x * x');
    expect(two).toEqual({ kind: 'source', id: one!.id, name: '' });
    expect(three!.id).not.toBe(one!.id);
    expect(three!.source).toBe('(x) => x * x * x');
    void pool.terminate();
  });

  test('an argument that cannot be cloned rejects with SerializationError and the worker takes the next task', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    await expect(pool.apply('f', [() => 1])).rejects.toMatchObject({
      name: 'SerializationError',
      code: 'ERR_SERIALIZATION',
      direction: 'argument',
    });
    const next = pool.apply('f', [2]);
    child.answer(taskIds(child)[0]!);
    await expect(next).resolves.toBe(2);
    void pool.terminate();
  });

  test('messages that are not ours, or name a task the worker does not have, are ignored', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const result = pool.applyAsync('f', [1]);
    const [id] = taskIds(child);
    // Task code's process.send goes to the IPC channel, which the pool does not read.
    child.emit('message', { type: 'result', id, values: { plain: ['forged'] } });
    child.reply({ type: 'result', id: id! + 1000, values: ['forged'] }); // unknown id
    child.dataChannel.emit('data', frameBytes([{ type: 'no-such-type', id, values: { plain: ['forged'] } }]));
    await flush();
    expect(result.ready()).toBe(false);
    child.answer(id!);
    await expect(result.get()).resolves.toBe(1);
    void pool.terminate();
  });
});

describe('chunking and ordering', () => {
  test("map uses Python's default chunksize, ceil(len / (processes * 4)), and keeps input order", async () => {
    const { pool, children } = makePool({ processes: 2 });
    const [a, b] = children.map((child) => child.ready());
    const items = Array.from({ length: 19 }, (_, i) => i);
    const result = pool.map('f', items);
    // ceil(19 / 8) = 3 → chunks of 3,3,3,3,3,3,1; answer every chunk, last first.
    const answerAll = () => {
      for (const child of [b!, a!]) {
        for (const task of [...child.sentOf('task')].reverse()) {
          if (!answered.has(task.id)) {
            answered.add(task.id);
            child.answer(task.id, (args) => (args[0] as number) * 10);
          }
        }
      }
    };
    const answered = new Set<number>();
    while (answered.size < 7) {
      answerAll();
    }
    await expect(result).resolves.toEqual(items.map((x) => x * 10));
    const chunkLengths = [...a!.sentOf('task'), ...b!.sentOf('task')]
      .sort((x, y) => x.id - y.id)
      .map((t) => argLists(t).length);
    expect(chunkLengths).toEqual([3, 3, 3, 3, 3, 3, 1]);
    void pool.terminate();
  });

  test('an explicit chunksize is used as given; chunksize < 1 is a RangeError', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const result = pool.starmap(
      'f',
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      { chunksize: 2 },
    );
    child.answer(taskIds(child)[0]!, (args) => args.join('+'));
    child.answer(taskIds(child)[1]!, (args) => args.join('+'));
    await expect(result).resolves.toEqual(['1+2', '3+4', '5+6']);
    expect(child.sentOf('task').map((task) => argLists(task))).toEqual([
      [
        [1, 2],
        [3, 4],
      ],
      [[5, 6]],
    ]);
    await expect(pool.map('f', [1], { chunksize: 0 })).rejects.toThrow(RangeError);
    expect(() => pool.imap('f', [1], { chunksize: 1.5 })).toThrow(TypeError);
    void pool.terminate();
  });

  test('calls of one argument each send the arguments themselves; calls of other arities send argument lists', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const answerAll = () => {
      for (const task of child.sentOf('task')) {
        child.answer(task.id, (args) => args.length);
      }
    };
    const calls = [
      pool.map('f', [[1], 2], { chunksize: 2 }),
      pool.starmap('f', [[3], [4]], { chunksize: 2 }),
      pool.starmap('f', [[5, 6], [7]], { chunksize: 2 }),
      pool.apply('f', [8]),
      pool.apply('f', []),
    ];
    const imap = (async () => {
      const values: unknown[] = [];
      for await (const value of pool.imap('f', [9, 10], { chunksize: 2 })) {
        values.push(value);
      }
      return values;
    })();
    for (let sent = 0; sent < 6; sent = child.sentOf('task').length) {
      answerAll();
      await flush();
    }
    answerAll();
    await expect(Promise.all([...calls, imap])).resolves.toEqual([[1, 1], [1, 1], [2, 1], 1, 0, [1, 1]]);
    const wire = child.sentOf('task').map((task) => ({ single: task.single ?? false, chunk: unpack(task.chunk) }));
    expect(wire).toEqual([
      { single: true, chunk: [[1], 2] }, // map: each item is the argument, an array too
      { single: true, chunk: [3, 4] },
      { single: false, chunk: [[5, 6], [7]] },
      { single: true, chunk: [8] },
      { single: false, chunk: [[]] },
      { single: true, chunk: [9, 10] },
    ]);
    void pool.terminate();
  });

  test('map waits for every chunk (no fail-fast), then rejects with the first error to arrive', async () => {
    const { pool, children } = makePool({ processes: 2 });
    const [a, b] = children.map((child) => child.ready());
    const result = pool.mapAsync('f', [1, 2], { chunksize: 1 });
    b!.reply({
      type: 'result',
      id: taskIds(b!)[0]!,
      values: [],
      failure: { kind: 'thrown', error: { name: 'TypeError', message: 'second', stack: '' } },
    });
    a!.reply({
      type: 'result',
      id: taskIds(a!)[0]!,
      values: [],
      failure: { kind: 'thrown', error: { name: 'Error', message: 'first', stack: '' } },
    });
    await expect(result.get()).rejects.toThrow(TypeError);
    await expect(result.get()).rejects.toThrow('second');
    void pool.terminate();
  });

  test('map does not settle while a chunk is still running', async () => {
    const { pool, children } = makePool({ processes: 2 });
    const [a, b] = children.map((child) => child.ready());
    const result = pool.mapAsync('f', [1, 2], { chunksize: 1 });
    a!.reply({
      type: 'result',
      id: taskIds(a!)[0]!,
      values: [],
      failure: { kind: 'thrown', error: { name: 'Error', message: 'x', stack: '' } },
    });
    await flush();
    expect(result.ready()).toBe(false);
    b!.answer(taskIds(b!)[0]!);
    await expect(result.get()).rejects.toThrow('x');
  });

  test('imap yields in input order even when results come back out of order; imapUnordered in completion order', async () => {
    const { pool, children } = makePool({ processes: 6 });
    const workers = children.map((child) => child.ready());
    const ordered = pool.imap('f', [1, 2, 3]);
    const unordered = pool.imapUnordered('f', [4, 5, 6]);
    await flush();
    const all = workers.flatMap((child) => child.sentOf('task').map((task) => ({ child, task })));
    // Answer in reverse submission order.
    for (const { child, task } of all.sort((x, y) => y.task.id - x.task.id)) {
      child.answer(task.id);
      await flush();
    }
    const collect = async (iterator: AsyncIterable<unknown>) => {
      const out: unknown[] = [];
      for await (const value of iterator) out.push(value);
      return out;
    };
    await expect(collect(ordered)).resolves.toEqual([1, 2, 3]);
    await expect(collect(unordered)).resolves.toEqual([6, 5, 4]);
    void pool.terminate();
  });

  test('imap reads its input lazily: at most processes * 32 chunks ahead of the consumer', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    let read = 0;
    function* endless() {
      for (;;) {
        read++;
        yield read;
      }
    }
    const iterator = pool.imap('f', endless());
    await flush();
    expect(read).toBe(32);
    const first = iterator.next();
    child.answer(taskIds(child)[0]!);
    await expect(first).resolves.toEqual({ done: false, value: 1 });
    await flush();
    expect(read).toBe(33);
    await iterator.return!();
    void pool.terminate();
  });

  test('imap throws the input iterable’s own error at its position', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const boom = new Error('input failed');
    function* input() {
      yield 1;
      throw boom;
    }
    const iterator = pool.imap('f', input());
    await flush();
    child.answer(taskIds(child)[0]!);
    await expect(iterator.next()).resolves.toEqual({ done: false, value: 1 });
    await expect(iterator.next()).rejects.toBe(boom);
    await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined });
    void pool.terminate();
  });
  test('imap whose input throws before its first item rejects the first next() with that error', async () => {
    const { pool } = makePool({ processes: 1 });
    const boom = new Error('no input');
    const input = {
      [Symbol.iterator]: () => ({
        next: (): IteratorResult<number> => {
          throw boom;
        },
      }),
    };
    const iterator = pool.imapUnordered('f', input);
    await expect(iterator.next()).rejects.toBe(boom);
    pool.close();
    await pool.terminate();
  });
});

describe('worker lifetime', () => {
  test('maxTasksPerChild: the replacement is forked when the last task is sent, and the retiring worker gets no more', async () => {
    const { pool, children } = makePool({ processes: 1, maxTasksPerChild: 2 });
    const first = children[0]!.ready();
    const results = [1, 2, 3].map((x) => pool.applyAsync('f', [x]));
    first.answer(taskIds(first)[0]!);
    await flush();
    expect(taskIds(first)).toHaveLength(2);
    expect(children).toHaveLength(2);
    const second = children[1]!;
    expect(workerNumber(second)).toBe(workerNumber(first) + 1);
    expect(first.sentOf('init')[0]!.maxTasks).toBe(2);
    first.answer(taskIds(first)[1]!);
    first.exit(0); // the worker leaves by itself after its last result
    second.ready();
    second.answer(taskIds(second)[0]!);
    await expect(Promise.all(results.map((result) => result.get()))).resolves.toEqual([1, 2, 3]);
    expect(taskIds(first)).toHaveLength(2);
    void pool.terminate();
  });

  test('a worker that dies mid-task fails exactly that task with WorkerExitedError and is replaced', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const running = pool.applyAsync('f', [1]);
    const queued = pool.applyAsync('f', [2]);
    child.exit(null, 'SIGKILL');
    const error = await running.get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerExitedError);
    expect(error).toMatchObject({ code: 'ERR_WORKER_EXITED', signal: 'SIGKILL', exitCode: null, pid: child.pid });
    expect(children).toHaveLength(2);
    const replacement = children[1]!.ready();
    replacement.answer(taskIds(replacement)[0]!);
    await expect(queued.get()).resolves.toBe(2);
    void pool.terminate();
  });

  test("a result read after the process's 'exit' event still counts", async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const result = pool.applyAsync('f', [7]);
    child.emit('exit', 0, null); // channel not yet drained
    child.answer(taskIds(child)[0]!);
    child.connected = false;
    child.emit('disconnect');
    await expect(result.get()).resolves.toBe(7);
    void pool.terminate();
  });

  test('a worker killed before ready is replaced; three such deaths in a row break the pool, with no more forks', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const result = pool.applyAsync('f', [1]);
    children[0]!.exit(null, 'SIGKILL'); // a passing fault: replaced
    expect(children).toHaveLength(2);
    children[1]!.exit(1);
    expect(children).toHaveLength(3);
    expect(pool.state).toBe('running');
    children[2]!.exit(1); // third in a row: the pool gives up
    const error = await result.get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerInitError);
    expect((error as WorkerInitError).message).toContain('3 workers in a row');
    expect((error as WorkerInitError).cause).toBeInstanceOf(WorkerExitedError);
    await flush();
    expect(children).toHaveLength(3);
    expect(pool.state).toBe('terminated');
    expect(() => pool.applyAsync('f', [1])).toThrow(PoolNotRunningError);
    await expect(pool.apply('f', [1])).rejects.toMatchObject({ cause: error });
    await pool.join();
  });

  test('a worker that becomes ready resets the count of startup deaths', async () => {
    const { pool, children } = makePool({ processes: 1 });
    children[0]!.exit(1);
    children[1]!.exit(1);
    children[2]!.ready();
    children[2]!.exit(null, 'SIGKILL'); // dies idle: replaced
    children[3]!.exit(1);
    children[4]!.exit(1);
    expect(pool.state).toBe('running');
    expect(children).toHaveLength(6);
    await pool.terminate();
  });

  test('init-failed carries the thrown error as cause', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const result = pool.apply('f', [1]);
    children[0]!.reply({
      type: 'init-failed',
      stage: 'running the initializer',
      error: { name: 'RangeError', message: 'bad init', stack: 'RangeError: bad init' },
    });
    children[0]!.exit(1);
    const error = (await result.catch((e: unknown) => e)) as WorkerInitError;
    expect(error).toBeInstanceOf(WorkerInitError);
    expect(error.message).toContain('running the initializer threw RangeError: bad init');
    expect(error.cause).toBeInstanceOf(RangeError);
    expect(children).toHaveLength(1);
  });
});

describe('pool states', () => {
  test('close: queued work drains, then idle workers are disconnected and join resolves', async () => {
    const { pool, children } = makePool({ processes: 2 });
    const [a, b] = children.map((child) => child.ready());
    const result = pool.mapAsync('f', [1, 2, 3], { chunksize: 1 });
    pool.close();
    expect(pool.state).toBe('closed');
    expect(() => pool.applyAsync('f', [1])).toThrow(PoolNotRunningError);
    a!.answer(taskIds(a!)[0]!);
    b!.answer(taskIds(b!)[0]!);
    await flush();
    const third = [a!, b!].find((child) => taskIds(child).length === 2)!;
    third.answer(taskIds(third)[1]!);
    await expect(result.get()).resolves.toEqual([1, 2, 3]);
    await pool.join();
    expect(a!.connected || b!.connected).toBe(false);
  });

  test('join before close or terminate rejects', async () => {
    const { pool } = makePool();
    await expect(pool.join()).rejects.toThrow('call close() or terminate() before join()');
    void pool.terminate();
  });

  test('terminate rejects queued and running tasks with PoolTerminatedError and kills every worker', async () => {
    const { pool, children } = makePool({ processes: 2 });
    children.forEach((child) => child.ready());
    const results = Array.from({ length: 1000 }, (_, i) => pool.applyAsync('f', [i]));
    await pool.terminate();
    for (const result of results) {
      expect(result.ready()).toBe(true);
      await expect(result.get()).rejects.toBeInstanceOf(PoolTerminatedError);
    }
    expect(children.map((child) => child.signals)).toEqual([['SIGTERM'], ['SIGTERM']]);
    expect(children).toHaveLength(2);
    await expect(pool.map('f', [1])).rejects.toBeInstanceOf(PoolNotRunningError);
  });

  test('workers hold the event loop only while there is work', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    expect(child.refed).toBe(false);
    const result = pool.apply('f', [1]);
    expect(child.refed).toBe(true);
    child.answer(taskIds(child)[0]!);
    await result;
    expect(child.refed).toBe(false);
    void pool.terminate();
  });
});

describe('pipelining', () => {
  // The manager times tasks with performance.now(): the fake clock decides how long they take.
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'queueMicrotask', 'nextTick'] });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  /** A pool of one worker that has run one task of 0.1 ms: tasks are known to be short. */
  function poolOfShortTasks() {
    const { pool, children } = makePool({ processes: 1 });
    const first = children[0]!.ready();
    void pool.apply('f', [0]);
    jest.advanceTimersByTime(0.1);
    first.answer(taskIds(first)[0]!);
    return { pool, children, first };
  }

  /** Answers every task sent to `child` and not yet answered, each after `ms` of fake time. */
  function answerAll(child: FakeChild, answered: Set<number>, ms: number): void {
    for (const id of taskIds(child)) {
      if (!answered.has(id)) {
        jest.advanceTimersByTime(ms);
        answered.add(id);
        child.answer(id);
      }
    }
  }

  test('once tasks are seen to be short, a worker holds several, never past maxTasksPerChild', async () => {
    const { pool, children } = makePool({ processes: 1, maxTasksPerChild: 5 });
    const first = children[0]!.ready();
    const results = Array.from({ length: 8 }, (_, x) => pool.applyAsync('f', [x]));
    expect(taskIds(first)).toHaveLength(1); // no task seen yet: one at a time
    jest.advanceTimersByTime(0.1);
    first.answer(taskIds(first)[0]!);
    expect(taskIds(first)).toHaveLength(5); // the other 4 of its 5 at once
    expect(first.sentOf('init')[0]!.maxTasks).toBe(5);
    expect(children).toHaveLength(2); // its replacement starts now
    const answered = new Set([taskIds(first)[0]!]);
    answerAll(first, answered, 0.1);
    first.exit(0);
    const second = children[1]!.ready();
    expect(taskIds(second)).toHaveLength(3);
    answerAll(second, answered, 0.1);
    await expect(Promise.all(results.map((result) => result.get()))).resolves.toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(taskIds(first)).toHaveLength(5);
    void pool.terminate();
  });

  test("one function's short tasks send no other function's tasks ahead: those go one at a time until one is timed", async () => {
    const { pool, first } = poolOfShortTasks(); // 'f' is known to be short
    const results = [1, 2, 3].map((x) => pool.applyAsync('g', [x]));
    expect(taskIds(first)).toHaveLength(2); // f's, then one of g's: nothing sent behind it
    jest.advanceTimersByTime(0.1);
    first.answer(taskIds(first)[1]!);
    expect(taskIds(first)).toHaveLength(4); // g is known to be short now: the other two at once
    const answered = new Set(taskIds(first).slice(0, 2));
    answerAll(first, answered, 0.1);
    await expect(Promise.all(results.map((result) => result.get()))).resolves.toEqual([1, 2, 3]);
    void pool.terminate();
  });

  test('tasks of 20 ms or more go one at a time, each to the worker that frees up first', () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const results = Array.from({ length: 4 }, (_, x) => pool.applyAsync('f', [x]));
    for (let i = 0; i < 4; i++) {
      expect(taskIds(child)).toHaveLength(i + 1);
      jest.advanceTimersByTime(25);
      child.answer(taskIds(child)[i]!);
    }
    void Promise.all(results.map((result) => result.get()));
    void pool.terminate();
  });

  test('no task waits behind another while a worker is idle or starting', () => {
    const { pool, children } = makePool({ processes: 2 });
    const a = children[0]!.ready();
    const answered = new Set<number>();
    void pool.apply('f', [0]);
    answerAll(a, answered, 0.1); // tasks are short
    const results = Array.from({ length: 6 }, (_, x) => pool.applyAsync('f', [x]));
    expect(taskIds(a)).toHaveLength(2); // b is starting: a holds one task at a time
    answerAll(a, answered, 0.1);
    expect(taskIds(a)).toHaveLength(3);
    // b is ready: with no worker idle or starting, the 4 queued tasks are sent at once,
    // several to each worker (5 unanswered: one running on each, 3 waiting behind them).
    const b = children[1]!.ready();
    expect(pool.stats()).toMatchObject({ queued: 3, running: 2 });
    expect(taskIds(a).length - answered.size + taskIds(b).length).toBe(5);
    expect(taskIds(b).length).toBeGreaterThan(1);
    void Promise.all(results.map((result) => result.get().catch(() => {})));
    void pool.terminate();
  });

  test('a worker that crashes fails only the task it was running; those sent behind it run on another', async () => {
    const { pool, children, first } = poolOfShortTasks();
    const results = [1, 2, 3].map((x) => pool.applyAsync('f', [x]));
    expect(taskIds(first)).toHaveLength(4); // one running, two sent behind it
    first.exit(null, 'SIGKILL');
    await expect(results[0]!.get()).rejects.toBeInstanceOf(WorkerExitedError);
    const second = children[1]!.ready();
    const answered = new Set<number>();
    answerAll(second, answered, 0.1);
    await expect(results[1]!.get()).resolves.toBe(2);
    await expect(results[2]!.get()).resolves.toBe(3);
    expect(pool.stats()).toMatchObject({ completed: 3, failed: 1, replacements: { crash: 1 } });
    void pool.terminate();
  });

  test("a task's timeout counts from when it starts, not from when it was sent behind another", async () => {
    const { pool, first } = poolOfShortTasks();
    const [one, two] = [1, 2].map((x) => pool.applyAsync('f', [x], { timeout: 50 }));
    expect(taskIds(first)).toHaveLength(3); // both sent at once, the second behind the first
    const [, idOne] = taskIds(first);
    jest.advanceTimersByTime(40);
    first.answer(idOne!);
    await expect(one!.get()).resolves.toBe(1);
    jest.advanceTimersByTime(40); // 80 ms since it was sent, 40 since it started
    expect(first.signals).toEqual([]);
    jest.advanceTimersByTime(15);
    await expect(two!.get()).rejects.toBeInstanceOf(TaskTimeoutError);
    expect(first.signals).toEqual(['SIGTERM']);
    void pool.terminate();
  });

  test('a task aborted while it waits behind the running one rejects at once; its turn passes without a result', async () => {
    const { pool, first } = poolOfShortTasks();
    const controller = new AbortController();
    const running = pool.applyAsync('f', [1]);
    const waiting = pool.applyAsync('f', [2], { signal: controller.signal });
    const [, idRunning, idWaiting] = taskIds(first);
    expect(pool.stats()).toMatchObject({ queued: 1, running: 1 });
    controller.abort('no longer needed');
    await expect(waiting.get()).rejects.toBeInstanceOf(AbortError);
    expect(pool.stats()).toMatchObject({ queued: 0, running: 1, failed: 1 });
    expect(first.signals).toEqual([]); // the running task goes on
    first.answer(idRunning!);
    await expect(running.get()).resolves.toBe(1);
    first.answer(idWaiting!); // its answer is dropped
    expect(pool.stats()).toMatchObject({ queued: 0, running: 0, completed: 2, failed: 1 });
    void pool.terminate();
  });
});
