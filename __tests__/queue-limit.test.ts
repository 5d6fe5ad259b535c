/**
 * `maxQueue` on real processes: past it a call rejects at once with `QueueFullError`
 * (a map all or none), `waitForRoom()` resolves when a worker frees a slot, and `imap`
 * waits for room instead of failing, reading its input lazily.
 */
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { Pool, QueueFullError } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { errorOf } from './helpers/errors.js';
import { expectNoLeakedWorkers } from './helpers/processes.js';
import { Rendezvous } from './helpers/rendezvous.js';

type Tasks = typeof import('./fixtures/limits-tasks.js');

expectNoLeakedWorkers();

const module = fixture('limits-tasks.js');

/** Where tasks report that they are running. */
let running: Rendezvous;

beforeEach(async () => {
  running = await Rendezvous.open();
});

afterEach(async () => {
  await running.close();
});

/** Lets pending promise callbacks and I/O callbacks run. Not a sleep: nothing is timed. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('maxQueue', () => {
  test('a full queue rejects at once with QueueFullError; waitForRoom() resolves when a worker frees a slot', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, maxQueue: 2 });
    try {
      const blocker = pool.apply('reportAndWait', [running.path, 'blocker']);
      const busy = await running.next();
      await pool.waitForRoom(); // room now: resolves at once

      const queued = [pool.apply('double', [1]), pool.apply('double', [2])];
      expect(pool.stats().queued).toBe(2);
      const error = await errorOf(pool.apply('double', [3]));
      expect(error).toBeInstanceOf(QueueFullError);
      expect(error).toMatchObject({ name: 'QueueFullError', code: 'ERR_QUEUE_FULL', maxQueue: 2 });
      await expect(pool.applyAsync('double', [3]).get()).rejects.toBeInstanceOf(QueueFullError);
      // A map is queued all or none.
      await expect(pool.map('double', [4, 5], { chunksize: 1 })).rejects.toBeInstanceOf(QueueFullError);
      expect(pool.stats()).toMatchObject({ queued: 2, running: 1 });

      let roomSeen = false;
      const room = pool.waitForRoom().then(() => {
        roomSeen = true;
      });
      await flush();
      expect(roomSeen).toBe(false); // the only worker is still held by the blocker

      busy.socket.write('go\n');
      await room;
      await expect(blocker).resolves.toEqual({ name: busy.name, pid: busy.pid });
      const more = pool.apply('double', [6]);
      await expect(Promise.all([...queued, more])).resolves.toEqual([2, 4, 12]);
      expect(pool.stats().failed).toBe(4); // the refused tasks: two applies and the map's two chunks
    } finally {
      await pool.terminate();
    }
  });

  test('imap over a 10,000-item generator waits for room instead of failing, completes in order and reads its input lazily', async () => {
    const processes = 2;
    const maxQueue = 4;
    const length = 10_000;
    const pool = new Pool<Tasks>({ processes, module, maxQueue });
    try {
      // Both workers busy: whatever imap submits waits in the queue.
      const blockers = [
        pool.apply('reportAndWait', [running.path, 'blocker']),
        pool.apply('reportAndWait', [running.path, 'blocker']),
      ];
      const busy = await running.take(2);

      let pulled = 0;
      let maxQueued = 0;
      function* numbers() {
        for (let i = 0; i < length; i++) {
          pulled++;
          maxQueued = Math.max(maxQueued, pool.stats().queued);
          yield i;
        }
      }
      const iterator = pool.imap('double', numbers());
      await flush();
      expect(pool.stats().queued).toBe(maxQueue);
      expect(pulled).toBe(maxQueue); // it waits for room rather than read on or fail

      for (const report of busy) {
        report.socket.write('go\n');
      }
      let consumed = 0;
      let maxAhead = 0;
      let inOrder = true;
      for await (const value of iterator) {
        inOrder &&= value === consumed * 2;
        consumed++;
        maxAhead = Math.max(maxAhead, pulled - consumed);
        maxQueued = Math.max(maxQueued, pool.stats().queued);
      }
      expect(inOrder).toBe(true);
      expect(consumed).toBe(length);
      expect(pulled).toBe(length);
      expect(maxQueued).toBeLessThanOrEqual(maxQueue);
      // Documented bound: at most `processes * 32` chunks submitted ahead of what was consumed.
      expect(maxAhead).toBeLessThanOrEqual(processes * 32);
      await Promise.all(blockers);
      expect(pool.stats()).toMatchObject({ failed: 0, completed: length + 2 });
    } finally {
      await pool.terminate();
    }
  });

  test('under maxQueue: 0 only a task an idle worker takes at once is accepted; imap still completes', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, maxQueue: 0 });
    try {
      await pool.waitForRoom(); // the worker is ready and idle
      const blocker = pool.apply('reportAndWait', [running.path, 'blocker']);
      const busy = await running.next();
      await expect(pool.apply('double', [1])).rejects.toBeInstanceOf(QueueFullError);
      busy.socket.write('go\n');
      await blocker;

      const results: number[] = [];
      for await (const value of pool.imap('double', [1, 2, 3, 4, 5])) {
        results.push(value);
      }
      expect(results).toEqual([2, 4, 6, 8, 10]);
    } finally {
      await pool.terminate();
    }
  });

  test('terminate() wakes the producers waiting for room', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, maxQueue: 1 });
    try {
      const blocker = pool.apply('reportAndHang', [running.path, 'blocker']);
      await running.next();
      const queued = pool.apply('double', [1]);
      const room = pool.waitForRoom();
      await pool.terminate();
      await expect(room).resolves.toBeUndefined();
      await expect(blocker).rejects.toMatchObject({ code: 'ERR_POOL_TERMINATED' });
      await expect(queued).rejects.toMatchObject({ code: 'ERR_POOL_TERMINATED' });
    } finally {
      await pool.terminate();
    }
  });

  test('a call refused with QueueFullError leaves no listener on its signal', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, maxQueue: 0 });
    try {
      const { signal } = new AbortController();
      // While the worker starts, nothing is taken at once: every call is refused.
      await expect(pool.apply('double', [1], { signal })).rejects.toBeInstanceOf(QueueFullError);
      await expect(pool.map('double', [1, 2], { signal })).rejects.toBeInstanceOf(QueueFullError);
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    } finally {
      await pool.terminate();
    }
  });
});
