/**
 * `signal` on real processes: an aborted call rejects (or its `imap` throws) `AbortError`
 * carrying `signal.reason`. Queued tasks are dropped without running; a running one has
 * its worker stopped and replaced; other callers' tasks go on.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { getEventListeners, once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { AbortError, Pool, type WorkerExitEvent, type WorkerStartEvent } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { errorOf } from './helpers/errors.js';
import { expectNoLeakedWorkers, isAlive } from './helpers/processes.js';
import { Rendezvous, workerNumber, type Report } from './helpers/rendezvous.js';
import { exitOf } from './helpers/events.js';

type Tasks = typeof import('./fixtures/limits-tasks.js');

expectNoLeakedWorkers();

const module = fixture('limits-tasks.js');

/** Where tasks report that they are running. */
let running: Rendezvous;
/** A directory for files tasks leave behind. */
let dir: string;

beforeEach(async () => {
  running = await Rendezvous.open();
  dir = mkdtempSync(join(tmpdir(), 'forkpool-abort-'));
});

afterEach(async () => {
  await running.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The item of `checkIn` that reports `tag`. */
const item = (tag: string) => ({ socketPath: running.path, tag });
const byTag = (reports: Report[], tag: string) => reports.find((report) => report.tag === tag)!;

describe('aborting a running task', () => {
  test('rejects with AbortError carrying signal.reason; its worker is stopped and replaced; a task on another worker goes on', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    try {
      const controller = new AbortController();
      const victimTask = pool.apply('reportAndHang', [running.path, 'victim'], { signal: controller.signal });
      const otherTask = pool.apply('reportAndWait', [running.path, 'other']);
      const reports = await running.take(2);
      const victim = byTag(reports, 'victim');
      const other = byTag(reports, 'other');
      expect(victim.pid).not.toBe(other.pid);

      const exited = exitOf(pool, victim.pid);
      const started = once(pool, 'workerStart') as Promise<[WorkerStartEvent]>;
      const reason = new Error('client went away');
      controller.abort(reason);

      const error = await errorOf(victimTask);
      expect(error).toBeInstanceOf(AbortError);
      expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', reason, cause: reason });
      await expect(exited).resolves.toEqual({
        workerName: victim.name,
        pid: victim.pid,
        exitCode: null,
        signal: 'SIGTERM',
        reason: 'abort',
      });
      await victim.closed;
      expect(isAlive(victim.pid)).toBe(false);
      const [replacement] = await started;
      expect(workerNumber(replacement.workerName)).toBeGreaterThan(workerNumber(victim.name));

      expect(isAlive(other.pid)).toBe(true);
      other.socket.write('go\n');
      await expect(otherTask).resolves.toEqual({ name: other.name, pid: other.pid });
      expect(pool.stats().replacements).toMatchObject({ abort: 1, crash: 0 });
      await expect(pool.map('double', [1, 2, 3, 4], { chunksize: 1 })).resolves.toEqual([2, 4, 6, 8]);
    } finally {
      await pool.terminate();
    }
  });

  test('AbortSignal.timeout() works as a signal', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      // Once its last task has answered, the worker is idle: the next task is sent at once.
      const first = await pool.apply('whoami');
      const exited = exitOf(pool, first.pid);
      const error = await errorOf(pool.apply('hang', [], { signal: AbortSignal.timeout(100) }));
      expect(error).toBeInstanceOf(AbortError);
      expect((error as AbortError).reason).toBeInstanceOf(DOMException);
      expect((error as AbortError).reason).toMatchObject({ name: 'TimeoutError' });
      await expect(exited).resolves.toMatchObject({ reason: 'abort' });
      const next = await pool.apply('whoami');
      expect(workerNumber(next.name)).toBeGreaterThan(workerNumber(first.name));
    } finally {
      await pool.terminate();
    }
  });
});

describe('aborting a queued task', () => {
  test('drops it without running it; the running task and its worker are untouched', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const blocker = pool.apply('reportAndWait', [running.path, 'blocker']);
      const busy = await running.next();
      const marker = join(dir, 'ran');
      const controller = new AbortController();
      const queued = pool.apply('createFile', [marker], { signal: controller.signal });
      expect(pool.stats()).toMatchObject({ queued: 1, running: 1 });

      controller.abort('not needed');
      const error = await errorOf(queued);
      expect(error).toBeInstanceOf(AbortError);
      expect(error).toMatchObject({ reason: 'not needed' });
      expect(pool.stats()).toMatchObject({ queued: 0, running: 1 });

      busy.socket.write('go\n');
      await expect(blocker).resolves.toEqual({ name: busy.name, pid: busy.pid });
      // The worker runs its tasks in the order sent: had the aborted task been sent, it
      // would have run before this one.
      await expect(pool.apply('whoami')).resolves.toEqual({ name: busy.name, pid: busy.pid });
      expect(existsSync(marker)).toBe(false);
      expect(pool.stats().replacements.abort).toBe(0);
    } finally {
      await pool.terminate();
    }
  });
});

describe('aborting a map mid-way', () => {
  test('rejects with AbortError; its running chunks have their workers replaced, its queued chunks never run', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    try {
      const controller = new AbortController();
      const tags = ['a', 'b', 'c', 'd', 'e', 'f'];
      const mapped = pool.map('checkIn', tags.map(item), { chunksize: 1, signal: controller.signal });
      const firstTwo = await running.take(2);
      expect(firstTwo.map((report) => report.tag).sort()).toEqual(['a', 'b']);
      byTag(firstTwo, 'a').socket.write('go\n');
      const third = await running.next();
      expect(third.tag).toBe('c'); // in input order, on the worker that ran 'a'
      const stillRunning = [byTag(firstTwo, 'b'), third];
      const exited = Promise.all(stillRunning.map((report) => exitOf(pool, report.pid)));

      const reason = new Error('enough');
      controller.abort(reason);
      const error = await errorOf(mapped);
      expect(error).toBeInstanceOf(AbortError);
      expect(error).toMatchObject({ reason });
      expect(pool.stats()).toMatchObject({ queued: 0, running: 0, completed: 1, failed: 5 });

      const exits = await exited;
      expect(exits.map((exit) => exit.reason)).toEqual(['abort', 'abort']);
      expect(pool.stats().replacements.abort).toBe(2);
      await expect(pool.map('double', [1, 2, 3])).resolves.toEqual([2, 4, 6]);
      // 'd', 'e' and 'f' were never sent: nothing reported besides 'a', 'b' and 'c'.
      expect(running.unread).toEqual([]);
    } finally {
      await pool.terminate();
    }
  });
});

describe('aborting an imap mid-way', () => {
  test('the for await loop gets AbortError; the running chunk has its worker replaced; the input is closed', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const controller = new AbortController();
      const reason = new Error('stop reading');
      let inputClosed = false;
      function* input() {
        try {
          for (const tag of ['a', 'b', 'c', 'd', 'e']) {
            yield item(tag);
          }
        } finally {
          inputClosed = true;
        }
      }
      const seen: string[] = [];
      let exited: Promise<WorkerExitEvent> | undefined;
      const reading = errorOf(
        (async () => {
          for await (const tag of pool.imap('checkIn', input(), { signal: controller.signal })) {
            seen.push(tag);
            const next = await running.next(); // 'b' is running now
            expect(next.tag).toBe('b');
            exited = exitOf(pool, next.pid);
            controller.abort(reason);
          }
        })(),
      );
      const first = await running.next();
      expect(first.tag).toBe('a');
      first.socket.write('go\n');

      const error = await reading;
      expect(error).toBeInstanceOf(AbortError);
      expect(error).toMatchObject({ reason });
      expect(seen).toEqual(['a']);
      expect(inputClosed).toBe(true);
      await expect(exited).resolves.toMatchObject({ workerName: first.name, reason: 'abort' });
      expect(pool.stats()).toMatchObject({ queued: 0, running: 0, replacements: { abort: 1 } });
      await expect(pool.apply('double', [21])).resolves.toBe(42);
    } finally {
      await pool.terminate();
    }
  });
});

describe('aborting an imap before it reads on', () => {
  test('results already computed are not handed out: the next read throws AbortError, then the iterator is done', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const controller = new AbortController();
      const iterator = pool.imap('double', [1, 2, 3], { signal: controller.signal });
      await new Promise((resolve) => setImmediate(resolve)); // it has read its input and submitted it
      // One worker runs tasks in the order queued: once this answers, so have the three chunks.
      await pool.apply('whoami');
      expect(pool.stats()).toMatchObject({ completed: 4, queued: 0, running: 0 });

      controller.abort('changed my mind');
      await expect(iterator.next()).rejects.toMatchObject({ name: 'AbortError', reason: 'changed my mind' });
      await expect(iterator.next()).resolves.toEqual({ done: true, value: undefined });
      expect(pool.stats().replacements.abort).toBe(0); // nothing was running: no worker stopped
    } finally {
      await pool.terminate();
    }
  });

  test('an imap waiting for room under maxQueue reads nothing more once aborted', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, maxQueue: 1 });
    try {
      const blocker = pool.apply('reportAndWait', [running.path, 'blocker']);
      const busy = await running.next();
      const filler = pool.apply('double', [1]); // the queue is full
      let pulled = 0;
      function* input() {
        for (;;) {
          pulled++;
          yield pulled;
        }
      }
      const controller = new AbortController();
      const iterator = pool.imap('double', input(), { signal: controller.signal });
      const reading = iterator.next();
      controller.abort('gone');
      await expect(reading).rejects.toMatchObject({ name: 'AbortError', reason: 'gone' });

      busy.socket.write('go\n'); // room again
      await blocker;
      await expect(filler).resolves.toBe(2);
      await expect(pool.apply('double', [2])).resolves.toBe(4);
      expect(pulled).toBe(0);
      expect(pool.stats()).toMatchObject({ queued: 0, running: 0 });
    } finally {
      await pool.terminate();
    }
  });
});

describe('a long-lived signal', () => {
  test('keeps no listener once its calls have settled, after 100 calls of every method', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    try {
      const { signal } = new AbortController();
      const listeners = () => getEventListeners(signal, 'abort').length;
      const collect = async (iterator: AsyncIterable<number>) => {
        const values: number[] = [];
        for await (const value of iterator) {
          values.push(value);
        }
        return values;
      };
      const calls: ((i: number) => Promise<unknown>)[] = [
        (i) => pool.apply('double', [i], { signal }),
        (i) => pool.applyAsync('double', [i], { signal }).get(),
        (i) => pool.map('double', [i, i + 1, i + 2], { chunksize: 1, signal }),
        (i) => pool.mapAsync('double', [i, i + 1], { signal }).get(),
        (i) => pool.starmap('double', [[i], [i + 1]], { signal }),
        (i) => pool.starmapAsync('double', [[i]], { signal }).get(),
        (i) => collect(pool.imap('double', [i, i + 1, i + 2], { signal })),
        (i) => collect(pool.imapUnordered('double', [i, i + 1], { signal })),
        (i) => errorOf(pool.apply('fail', [`failure ${i}`], { signal })),
        async (i) => {
          for await (const value of pool.imap('double', [i, i + 1, i + 2], { signal })) {
            return value; // leaves early
          }
        },
      ];
      for (let i = 0; i < 100; i++) {
        const call = calls[i % calls.length]!(i);
        if (i < calls.length) {
          expect(listeners()).toBe(1); // the call listens while it runs
        }
        await call;
      }
      expect(listeners()).toBe(0);
    } finally {
      await pool.terminate();
    }
  });
});
