/**
 * Per-task `timeout` on real processes: a task past its limit rejects with
 * `TaskTimeoutError`, its worker is stopped (`SIGTERM`, then `SIGKILL` after
 * `killTimeout`) and a replacement, named by the next number, serves what comes next.
 */
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { Pool, TaskTimeoutError, type WorkerExitEvent } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { errorOf } from './helpers/errors.js';
import { expectNoLeakedWorkers, isAlive } from './helpers/processes.js';
import { Rendezvous, workerNumber } from './helpers/rendezvous.js';
import { exitOf } from './helpers/events.js';

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

describe('a task past its timeout', () => {
  test('rejects with TaskTimeoutError naming its worker; the worker is gone once workerExit fires; a replacement serves the next task', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const first = await pool.apply('whoami');
      const exited = exitOf(pool, first.pid);

      const error = await errorOf(pool.apply('hang', [], { timeout: 100 }));
      expect(error).toBeInstanceOf(TaskTimeoutError);
      expect(error).toMatchObject({
        name: 'TaskTimeoutError',
        code: 'ERR_TASK_TIMEOUT',
        workerName: first.name,
        pid: first.pid,
        timeout: 100,
      });
      expect((error as Error).message).toContain(first.name);

      const exit = await exited;
      expect(exit).toEqual({
        workerName: first.name,
        pid: first.pid,
        exitCode: null,
        signal: 'SIGTERM',
        reason: 'timeout',
      });
      expect(isAlive(first.pid)).toBe(false);

      const next = await pool.apply('whoami');
      expect(workerNumber(next.name)).toBeGreaterThan(workerNumber(first.name));
      expect(next.pid).not.toBe(first.pid);
      expect(pool.stats().replacements).toMatchObject({ timeout: 1, crash: 0 });
    } finally {
      await pool.terminate();
    }
  });

  test('a CPU-bound synchronous loop is stopped too', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const first = await pool.apply('whoami');
      const exited = exitOf(pool, first.pid);

      const error = await errorOf(pool.apply('spin', [], { timeout: 100 }));
      expect(error).toBeInstanceOf(TaskTimeoutError);
      expect(error).toMatchObject({ workerName: first.name, pid: first.pid });
      await expect(exited).resolves.toMatchObject({ reason: 'timeout', signal: 'SIGTERM' });

      const next = await pool.apply('whoami');
      expect(workerNumber(next.name)).toBeGreaterThan(workerNumber(first.name));
      await expect(pool.apply('double', [21])).resolves.toBe(42);
    } finally {
      await pool.terminate();
    }
  });

  // The worker is told to ignore SIGTERM by an earlier task, so the handler is surely in
  // place before the timeout fires, however short it is.
  test.each(['hang', 'spin'] as const)(
    'a worker that ignores SIGTERM (task: %s) is killed with SIGKILL after killTimeout',
    async (task) => {
      const pool = new Pool<Tasks>({ processes: 1, module, killTimeout: 50 });
      try {
        const pid = await pool.apply('ignoreSigterm');
        const exited = exitOf(pool, pid);

        const error = await errorOf(pool.apply(task, [], { timeout: 100 }));
        expect(error).toBeInstanceOf(TaskTimeoutError);
        expect(error).toMatchObject({ pid });
        await expect(exited).resolves.toMatchObject({ pid, reason: 'timeout', exitCode: null, signal: 'SIGKILL' });
        expect(isAlive(pid)).toBe(false);

        const next = await pool.apply('whoami');
        expect(next.pid).not.toBe(pid);
      } finally {
        await pool.terminate();
      }
    },
  );
});

describe('per-call timeout', () => {
  test("a shorter per-call timeout overrides the pool's", async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, timeout: 60_000 });
    try {
      const error = await errorOf(pool.apply('hang', [], { timeout: 100 }));
      expect(error).toBeInstanceOf(TaskTimeoutError);
      expect(error).toMatchObject({ timeout: 100 });
    } finally {
      await pool.terminate();
    }
  });

  test.each([60_000, Number.POSITIVE_INFINITY])(
    "a longer per-call timeout (%p) overrides the pool's",
    async (timeout) => {
      const pool = new Pool<Tasks>({ processes: 2, module, timeout: 100 });
      try {
        const patient = pool.apply('reportAndWait', [running.path, 'patient'], { timeout });
        const report = await running.next();
        const exited = once(pool, 'workerExit') as Promise<[WorkerExitEvent]>;
        // Sent after `patient` was running and stopped after the pool's 100 ms: by then
        // `patient` has run longer than the pool's timeout.
        const error = await errorOf(pool.apply('hang'));
        expect(error).toBeInstanceOf(TaskTimeoutError);
        expect(error).toMatchObject({ timeout: 100 });
        const [exit] = await exited;
        expect(exit).toMatchObject({ pid: (error as TaskTimeoutError).pid, reason: 'timeout' });
        expect(exit.pid).not.toBe(report.pid);

        report.socket.write('go\n');
        await expect(patient).resolves.toEqual({ name: report.name, pid: report.pid });
        expect(isAlive(report.pid)).toBe(true);
        expect(pool.stats().replacements.timeout).toBe(1);
      } finally {
        await pool.terminate();
      }
    },
  );
});

describe('a task that finishes within its timeout', () => {
  test('succeeds and its worker is kept', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, timeout: 60_000 });
    const exits: WorkerExitEvent[] = [];
    pool.on('workerExit', (event) => exits.push(event));
    try {
      const first = await pool.apply('whoami');
      await expect(pool.apply('double', [21])).resolves.toBe(42);
      await expect(pool.map('double', [1, 2, 3, 4, 5], { chunksize: 2 })).resolves.toEqual([2, 4, 6, 8, 10]);
      await expect(pool.apply('whoami')).resolves.toEqual(first);
      expect(exits).toEqual([]);
      expect(pool.stats()).toMatchObject({ spawned: 1, failed: 0, replacements: { timeout: 0 } });
    } finally {
      await pool.terminate();
    }
  });
});

describe('map with a per-item timeout', () => {
  test('a chunk of n items may run n times the timeout; a hanging item fails its chunk, the other chunks succeed, and map rejects once all have settled', async () => {
    const pool = new Pool<Tasks>({ processes: 2, module });
    try {
      // Chunks [1, 2], [3, -4], [5, 6]: the second never settles. The per-item limit is
      // generous so that the chunks that answer surely answer in time.
      const error = await errorOf(pool.map('hangIfNegative', [1, 2, 3, -4, 5, 6], { chunksize: 2, timeout: 1000 }));
      expect(error).toBeInstanceOf(TaskTimeoutError);
      expect(error).toMatchObject({ timeout: 2000 });
      // No fail-fast: the other two chunks had finished, with values, when map rejected.
      expect(pool.stats()).toMatchObject({ queued: 0, running: 0, completed: 2, failed: 1 });

      await expect(pool.map('hangIfNegative', [1, 2, 3, 4, 5, 6], { chunksize: 2, timeout: 60_000 })).resolves.toEqual([
        2, 4, 6, 8, 10, 12,
      ]);
    } finally {
      await pool.terminate();
    }
  });
});

describe('imap with a per-item timeout', () => {
  test('yields the results before the hanging item, then throws TaskTimeoutError', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const results: number[] = [];
      const error = await errorOf(
        (async () => {
          for await (const value of pool.imap('hangIfNegative', [1, 2, -3, 4], { timeout: 1000 })) {
            results.push(value);
          }
        })(),
      );
      expect(results).toEqual([2, 4]);
      expect(error).toBeInstanceOf(TaskTimeoutError);
      expect(error).toMatchObject({ timeout: 1000 });
      await expect(pool.apply('double', [21])).resolves.toBe(42);
    } finally {
      await pool.terminate();
    }
  });
});

describe('a timeout on a closed pool', () => {
  test('the stopped worker is replaced while queued work remains, and join() resolves once it is done', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const first = await pool.apply('whoami');
      const hung = pool.apply('hang', [], { timeout: 100 });
      const queued = pool.apply('whoami');
      pool.close();
      await expect(hung).rejects.toBeInstanceOf(TaskTimeoutError);
      const second = await queued;
      expect(workerNumber(second.name)).toBeGreaterThan(workerNumber(first.name));
      await pool.join();
      expect(isAlive(second.pid)).toBe(false);
    } finally {
      await pool.terminate();
    }
  });
});
