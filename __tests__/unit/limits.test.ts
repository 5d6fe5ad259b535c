/**
 * Timeouts, cancellation, the bounded queue, memory recycling, stats and events,
 * driven through the Pool with a fake `fork`: no processes.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, test } from '@jest/globals';
import { AbortError, Pool, QueueFullError, TaskTimeoutError, type WorkerExitEvent } from '../../lib/index.js';
import { kFork } from '../../lib/pool.js';
import type { PoolOptions } from '../../lib/options.js';
import { withOwnInspectorPort } from '../../lib/worker-args.js';
import { fakeFork, flush, type FakeChild } from '../helpers/fake-fork.js';
import { errorOf } from '../helpers/errors.js';

function makePool(options: PoolOptions = {}) {
  const { fork, children } = fakeFork();
  const pool = new Pool({ processes: 1, ...options, [kFork]: fork } as PoolOptions);
  return { pool, children };
}

const taskIds = (child: FakeChild) => child.sentOf('task').map((task) => task.id);

describe('per-task timeout', () => {
  test('a task past its timeout rejects with TaskTimeoutError; its worker gets SIGTERM and a replacement starts', async () => {
    const { pool, children } = makePool({ timeout: 1 });
    const child = children[0]!.ready();
    const error = await errorOf(pool.apply('hang'));
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(error).toMatchObject({
      code: 'ERR_TASK_TIMEOUT',
      workerName: child.sentOf('init')[0]!.name,
      pid: child.pid,
      timeout: 1,
    });
    expect(child.signals).toEqual(['SIGTERM']);
    expect(children).toHaveLength(2);
    await flush();
    expect(pool.stats().replacements.timeout).toBe(1);
    await pool.terminate();
  });

  test('a per-call timeout overrides the pool’s, and a task that answers in time is not touched', async () => {
    const { pool, children } = makePool({ timeout: 1 });
    const child = children[0]!.ready();
    const result = pool.apply('f', [1], { timeout: 60_000 });
    child.answer(taskIds(child)[0]!);
    await expect(result).resolves.toBe(1);
    expect(child.signals).toEqual([]);
    await pool.terminate();
  });
});

describe('AbortSignal', () => {
  test('aborting a queued task drops it without running it; the running one is untouched', async () => {
    const { pool, children } = makePool();
    const child = children[0]!.ready();
    const running = pool.apply('f', [1]);
    const controller = new AbortController();
    const queued = pool.apply('f', [2], { signal: controller.signal });
    controller.abort('not needed');
    const error = await errorOf(queued);
    expect(error).toBeInstanceOf(AbortError);
    expect(error).toMatchObject({ code: 'ABORT_ERR', name: 'AbortError', reason: 'not needed', cause: 'not needed' });
    child.answer(taskIds(child)[0]!);
    await expect(running).resolves.toBe(1);
    expect(taskIds(child)).toHaveLength(1); // the aborted task was never sent
    expect(child.signals).toEqual([]);
    await pool.terminate();
  });

  test('aborting a running task stops its worker and starts a replacement', async () => {
    const { pool, children } = makePool();
    children[0]!.ready();
    const controller = new AbortController();
    const result = pool.apply('hang', [], { signal: controller.signal });
    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(result).rejects.toMatchObject({ name: 'AbortError', reason });
    expect(children[0]!.signals).toEqual(['SIGTERM']);
    expect(children).toHaveLength(2);
    await flush();
    expect(pool.stats().replacements.abort).toBe(1);
    await pool.terminate();
  });

  test('an already aborted signal rejects at once and sends nothing', async () => {
    const { pool, children } = makePool();
    children[0]!.ready();
    const signal = AbortSignal.abort('early');
    await expect(pool.apply('f', [1], { signal })).rejects.toMatchObject({ name: 'AbortError', reason: 'early' });
    await expect(pool.map('f', [1, 2], { signal })).rejects.toBeInstanceOf(AbortError);
    await expect(pool.imap('f', [1], { signal }).next()).rejects.toBeInstanceOf(AbortError);
    expect(taskIds(children[0]!)).toHaveLength(0);
    await pool.terminate();
  });

  test('aborting a map cancels all its chunks; another caller’s task is untouched', async () => {
    const { pool, children } = makePool({ processes: 2 });
    const [a, b] = children.map((child) => child.ready());
    const other = pool.applyAsync('f', ['other']);
    const controller = new AbortController();
    const mapped = pool.map('f', [1, 2, 3, 4], { chunksize: 1, signal: controller.signal });
    controller.abort();
    await expect(mapped).rejects.toBeInstanceOf(AbortError);
    // One worker ran `other` (untouched), the other ran a chunk of the map (stopped).
    expect([a!.signals, b!.signals].sort()).toEqual([[], ['SIGTERM']]);
    const runsOther = [a!, b!].find((child) => child.signals.length === 0)!;
    runsOther.answer(taskIds(runsOther)[0]!);
    await expect(other.get()).resolves.toBe('other');
    await pool.terminate();
  });

  test('aborting an imap makes the next read throw AbortError and stops its running chunk', async () => {
    const { pool, children } = makePool();
    const child = children[0]!.ready();
    const controller = new AbortController();
    const iterator = pool.imap('f', [1, 2, 3], { signal: controller.signal });
    await flush();
    expect(taskIds(child)).toHaveLength(1);
    controller.abort('stop');
    await expect(iterator.next()).rejects.toMatchObject({ name: 'AbortError', reason: 'stop' });
    await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined });
    expect(child.signals).toEqual(['SIGTERM']);
    await pool.terminate();
  });

  test('a settled call leaves no listener on the signal', async () => {
    const { pool, children } = makePool();
    const child = children[0]!.ready();
    const { signal } = new AbortController();
    for (let i = 0; i < 3; i++) {
      const result = pool.apply('f', [i], { signal });
      child.answer(taskIds(child)[i]!);
      await result;
    }
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    await pool.terminate();
  });

  test('a signal that is not an AbortSignal is refused', () => {
    const { pool } = makePool();
    expect(() => pool.applyAsync('f', [], { signal: {} as AbortSignal })).toThrow(
      'Expected `signal` to be an AbortSignal',
    );
    void pool.terminate();
  });
});

describe('bounded queue', () => {
  test('past maxQueue a submit rejects at once with QueueFullError; a map is queued all or none', async () => {
    const { pool, children } = makePool({ maxQueue: 2 });
    const child = children[0]!.ready();
    const first = pool.apply('f', [1]); // taken by the idle worker at once
    const queued = [pool.apply('f', [2]), pool.apply('f', [3])];
    const error = await errorOf(pool.apply('f', [4]));
    expect(error).toBeInstanceOf(QueueFullError);
    expect(error).toMatchObject({ code: 'ERR_QUEUE_FULL', maxQueue: 2 });
    let roomSeen = false;
    const room = pool.waitForRoom().then(() => (roomSeen = true));
    await flush();
    expect(roomSeen).toBe(false);
    child.answer(taskIds(child)[0]!);
    await room;
    expect(pool.stats().queued).toBe(1);
    await expect(pool.map('f', [5, 6], { chunksize: 1 })).rejects.toBeInstanceOf(QueueFullError);
    expect(pool.stats().queued).toBe(1);
    for (let i = 1; i < 3; i++) {
      child.answer(taskIds(child)[i]!);
      await flush();
    }
    await expect(Promise.all([first, ...queued])).resolves.toEqual([1, 2, 3]);
    await pool.terminate();
  });

  test('imap waits for room instead of failing', async () => {
    const { pool, children } = makePool({ maxQueue: 1 });
    const child = children[0]!.ready();
    const blocker = pool.apply('f', ['blocker']); // on the worker
    const filler = pool.apply('f', ['filler']); // fills the queue
    const iterator = pool.imap('f', [1, 2]);
    await flush();
    expect(pool.stats().queued).toBe(1);
    const results: unknown[] = [];
    const reading = (async () => {
      for await (const value of iterator) results.push(value);
    })();
    while (results.length < 2) {
      const pending = taskIds(child).filter((id) => !answered.has(id));
      for (const id of pending) {
        answered.add(id);
        child.answer(id);
      }
      await flush();
    }
    await reading;
    expect(results).toEqual([1, 2]);
    await expect(Promise.all([blocker, filler])).resolves.toEqual(['blocker', 'filler']);
    await pool.terminate();
  });
  const answered = new Set<number>();
});

describe('maxQueue: 0', () => {
  test('no task ever waits: an idle worker takes one, the rest are refused; imap goes at the workers’ pace', async () => {
    const { pool, children } = makePool({ maxQueue: 0 });
    const child = children[0]!.ready();
    const taken = pool.apply('f', [1]);
    await expect(pool.apply('f', [2])).rejects.toBeInstanceOf(QueueFullError);
    child.answer(taskIds(child)[0]!);
    await expect(taken).resolves.toBe(1);
    const iterator = pool.imap('f', [3, 4]);
    const results: unknown[] = [];
    for (let i = 1; i <= 2; i++) {
      const next = iterator.next();
      await flush();
      child.answer(taskIds(child)[i]!);
      results.push((await next).value);
    }
    expect(results).toEqual([3, 4]);
    await pool.terminate();
  });
});

describe('exit reasons', () => {
  test('a worker that dies on its last task under maxTasksPerChild crashed; one whose initializer threw failed at startup', async () => {
    const { pool, children } = makePool({ maxTasksPerChild: 1 });
    const exits: WorkerExitEvent[] = [];
    pool.on('workerExit', (event) => exits.push(event));
    const child = children[0]!.ready();
    const result = pool.apply('f', [1]);
    child.exit(null, 'SIGKILL');
    await expect(result).rejects.toMatchObject({ code: 'ERR_WORKER_EXITED' });
    children[1]!.reply({
      type: 'init-failed',
      stage: 'running the initializer',
      error: { name: 'Error', message: 'x', stack: '' },
    });
    children[1]!.exit(1);
    await flush();
    expect(exits.map((event) => event.reason)).toEqual(['crash', 'startup']);
    expect(pool.stats().replacements).toMatchObject({ crash: 1, 'max-tasks': 0 });
  });

  test('chunks an imap left unread are neither completed nor failed', async () => {
    const { pool, children } = makePool();
    const child = children[0]!.ready();
    const iterator = pool.imap('f', [1, 2, 3, 4]);
    const first = iterator.next();
    await flush();
    child.answer(taskIds(child)[0]!);
    await expect(first).resolves.toEqual({ done: false, value: 1 });
    await iterator.return!();
    await flush();
    // Chunks already sent to the worker still run there; their results go nowhere.
    for (const id of taskIds(child).slice(1)) {
      child.answer(id);
    }
    await flush();
    expect(pool.stats()).toMatchObject({ completed: 1, failed: 0, queued: 0, running: 0 });
    await pool.terminate();
  });
});

describe('memory recycling, stats and events', () => {
  test('a worker whose reported RSS is over maxMemoryPerChild is let go after its task and replaced', async () => {
    const { pool, children } = makePool({ maxMemoryPerChild: 1000 });
    const child = children[0]!.ready();
    expect(child.sentOf('init')[0]!.reportMemory).toBe(true);
    const exits: WorkerExitEvent[] = [];
    pool.on('workerExit', (event) => exits.push(event));
    const result = pool.apply('f', [1]);
    child.reply({ type: 'result', id: taskIds(child)[0]!, values: [1], rss: 2000 });
    await expect(result).resolves.toBe(1);
    expect(children).toHaveLength(2); // replacement started
    await flush();
    expect(exits).toEqual([expect.objectContaining({ reason: 'memory', pid: child.pid, exitCode: 0 })]);
    expect(pool.stats().replacements.memory).toBe(1);
    await pool.terminate();
  });

  test('stats() counts workers by state, tasks and replacements', async () => {
    const { pool, children } = makePool({ processes: 2, maxTasksPerChild: 1 });
    const starts: string[] = [];
    pool.on('workerStart', (event) => starts.push(event.workerName));
    expect(pool.stats()).toEqual({
      workers: { alive: 2, starting: 2, idle: 0, busy: 0 },
      queued: 0,
      running: 0,
      completed: 0,
      failed: 0,
      spawned: 2,
      replacements: { 'max-tasks': 0, memory: 0, timeout: 0, abort: 0, crash: 0 },
    });
    const [a, b] = children.map((child) => child.ready());
    const results = [pool.apply('f', [1]), pool.apply('fail', [2]), pool.apply('f', [3])];
    expect(pool.stats()).toMatchObject({
      workers: { alive: 4, starting: 2, idle: 0, busy: 2 },
      queued: 1,
      running: 2,
      spawned: 4,
    });
    a!.answer(taskIds(a!)[0]!);
    b!.reply({
      type: 'result',
      id: taskIds(b!)[0]!,
      values: [],
      failure: { kind: 'thrown', error: { name: 'Error', message: 'x', stack: '' } },
    });
    a!.exit(0);
    b!.exit(0);
    await flush();
    expect(starts).toHaveLength(4);
    const c = children[2]!.ready();
    c.answer(taskIds(c)[0]!);
    await Promise.allSettled(results);
    expect(pool.stats()).toMatchObject({ completed: 2, failed: 1, replacements: { 'max-tasks': 2 } });
    await pool.terminate();
  });
});

describe('shutdown', () => {
  test("resolves 'drained' when the queued work finishes", async () => {
    const { pool, children } = makePool();
    const child = children[0]!.ready();
    const result = pool.apply('f', [1]);
    const done = pool.shutdown(60_000);
    child.answer(taskIds(child)[0]!);
    await expect(result).resolves.toBe(1);
    await expect(done).resolves.toBe('drained');
    expect(pool.state).toBe('closed');
  });

  test("terminates what is still running after the deadline and resolves 'terminated'", async () => {
    const { pool, children } = makePool();
    children[0]!.ready();
    const result = pool.apply('hang');
    await expect(pool.shutdown(0)).resolves.toBe('terminated');
    await expect(result).rejects.toMatchObject({ code: 'ERR_POOL_TERMINATED' });
  });
});

describe('inspector ports', () => {
  test('each worker gets the given port (or the parent’s) plus its number; port 0 is kept', () => {
    expect(withOwnInspectorPort(['--inspect=9300', '--max-old-space-size=64'], 3)).toEqual([
      '--inspect=9303',
      '--max-old-space-size=64',
    ]);
    expect(withOwnInspectorPort(['--inspect-brk=127.0.0.1:9300'], 2)).toEqual(['--inspect-brk=127.0.0.1:9302']);
    expect(withOwnInspectorPort(['--inspect'], 1)).toEqual([`--inspect=${process.debugPort + 1}`]);
    expect(withOwnInspectorPort(['--inspect=0'], 5)).toEqual(['--inspect=0']);
    expect(withOwnInspectorPort(['--inspect-port', '9400', '--enable-source-maps'], 2)).toEqual([
      '--inspect-port=9402',
      '--enable-source-maps',
    ]);
    expect(withOwnInspectorPort(['--inspect=localhost'], 1)).toEqual([`--inspect=localhost:${process.debugPort + 1}`]);
  });
});

describe('one listener per signal', () => {
  test('many pending calls on one signal add one listener, and none is left once they settle', async () => {
    const { pool, children } = makePool({ processes: 1 });
    const child = children[0]!.ready();
    const { signal } = new AbortController();
    const results = Array.from({ length: 50 }, (_, i) => pool.apply('f', [i], { signal }));
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    for (let i = 0; i < 50; i++) {
      child.answer(taskIds(child)[i]!);
      await flush();
    }
    await expect(Promise.all(results)).resolves.toHaveLength(50);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    await pool.terminate();
  });

  test('one abort cancels every call that shares the signal', async () => {
    const { pool, children } = makePool({ processes: 1 });
    children[0]!.ready();
    const controller = new AbortController();
    const results = Array.from({ length: 20 }, (_, i) => pool.apply('f', [i], { signal: controller.signal }));
    controller.abort('all of them');
    const settled = await Promise.allSettled(results);
    expect(
      settled.every(
        (outcome) => outcome.status === 'rejected' && (outcome.reason as AbortError).reason === 'all of them',
      ),
    ).toBe(true);
    await pool.terminate();
  });
});
