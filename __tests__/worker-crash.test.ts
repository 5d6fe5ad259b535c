/**
 * A worker that dies on its own (killed from outside, `process.exit()` in a task, an
 * uncaught exception) fails exactly the task it was running, with `WorkerExitedError`,
 * and the pool replaces it with a worker named by the next number.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { Pool, PoolTerminatedError, WorkerExitedError, WorkerInitError } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, isAlive } from './helpers/processes.js';
import { Rendezvous, workerNumber } from './helpers/rendezvous.js';
import { errorOf } from './helpers/errors.js';

type Tasks = typeof import('./fixtures/lifecycle-tasks.js');

expectNoLeakedWorkers();

const module = fixture('lifecycle-tasks.js');
const numbers = Array.from({ length: 10 }, (_, i) => i);

/** Where each worker reports its start (the initializer) … */
let starts: Rendezvous;
/** … and where tasks report that they are running. */
let running: Rendezvous;

beforeEach(async () => {
  starts = await Rendezvous.open();
  running = await Rendezvous.open();
});

afterEach(async () => {
  await starts.close();
  await running.close();
});

function startPool(processes: number): Pool<Tasks> {
  return new Pool<Tasks>({ processes, module, initializer: 'reportStart', initargs: [starts.path] });
}

describe('a worker killed from outside while it runs a task', () => {
  test('fails that task with WorkerExitedError; queued work runs on a replacement named by the next number', async () => {
    const pool = startPool(2);
    try {
      const initial = await starts.take(2);
      const firstNumber = Math.min(...initial.map((worker) => workerNumber(worker.name)));
      expect(initial.map((worker) => worker.name).sort()).toEqual([
        `PoolWorker-${firstNumber}`,
        `PoolWorker-${firstNumber + 1}`,
      ]);

      const victimTask = pool.applyAsync('reportAndHang', [running.path, 'victim']);
      const survivorTask = pool.applyAsync('reportAndHang', [running.path, 'survivor']);
      const reports = await running.take(2);
      const victim = reports.find((report) => report.tag === 'victim')!;
      const survivor = reports.find((report) => report.tag === 'survivor')!;
      // Both workers are busy: this waits in the queue and must outlive the crash.
      const queued = pool.map('double', numbers, { chunksize: 1 });

      process.kill(victim.pid, 'SIGKILL');

      const error = await errorOf(victimTask.get());
      expect(error).toBeInstanceOf(WorkerExitedError);
      expect(error).toMatchObject({
        code: 'ERR_WORKER_EXITED',
        workerName: victim.name,
        pid: victim.pid,
        exitCode: null,
        signal: 'SIGKILL',
      });
      await expect(queued).resolves.toEqual(numbers.map((x) => x * 2));

      const [replacement] = await starts.take(1);
      expect(replacement!.name).toBe(`PoolWorker-${firstNumber + 2}`);
      expect(replacement!.pid).not.toBe(victim.pid);
      expect(survivorTask.ready()).toBe(false);
      expect(isAlive(survivor.pid)).toBe(true); // the other worker was not touched

      // Back to full size: the replacement takes a task while the survivor still runs its own.
      const again = pool.applyAsync('reportAndHang', [running.path, 'again']);
      const report = await running.next();
      expect(report).toMatchObject({ tag: 'again', name: replacement!.name, pid: replacement!.pid });

      await pool.terminate();
      await expect(survivorTask.get()).rejects.toBeInstanceOf(PoolTerminatedError);
      await expect(again.get()).rejects.toBeInstanceOf(PoolTerminatedError);
    } finally {
      await pool.terminate();
    }
  });

  test('an idle worker killed from outside is replaced and no task fails', async () => {
    const pool = startPool(1);
    try {
      const [first] = await starts.take(1);
      process.kill(first!.pid, 'SIGKILL');
      const [replacement] = await starts.take(1);
      expect(workerNumber(replacement!.name)).toBe(workerNumber(first!.name) + 1);
      await expect(pool.apply('whoami')).resolves.toEqual({ name: replacement!.name, pid: replacement!.pid });
    } finally {
      await pool.terminate();
    }
  });
});

describe('a worker killed from outside before it is ready', () => {
  /** A pool whose workers stay starting (in their initializer) until the test lets them go. */
  function startHeldPool(): Pool<Tasks> {
    return new Pool<Tasks>({ processes: 1, module, initializer: 'reportStartAndWait', initargs: [starts.path] });
  }

  test('is replaced, and the task waiting for it runs on the replacement', async () => {
    const pool = startHeldPool();
    try {
      const waiting = pool.apply('whoami');
      const [first] = await starts.take(1);
      process.kill(first!.pid, 'SIGKILL');
      const [second] = await starts.take(1);
      expect(workerNumber(second!.name)).toBe(workerNumber(first!.name) + 1);
      second!.socket.write('go\n');
      await expect(waiting).resolves.toEqual({ name: second!.name, pid: second!.pid });
      expect(pool.state).toBe('running');
    } finally {
      await pool.terminate();
    }
  });

  test('three times in a row breaks the pool with WorkerInitError instead of forking on', async () => {
    const pool = startHeldPool();
    try {
      const waiting = pool.apply('whoami');
      const killed = [];
      for (let death = 1; death <= 3; death++) {
        const [starting] = await starts.take(1);
        killed.push(starting!);
        process.kill(starting!.pid, 'SIGKILL');
      }
      const error = await errorOf(waiting);
      expect(error).toBeInstanceOf(WorkerInitError);
      expect((error as Error).message).toContain('(3 workers in a row)');
      expect((error as Error).cause).toBeInstanceOf(WorkerExitedError);
      expect((error as Error).cause).toMatchObject({ workerName: killed[2]!.name, exitCode: null, signal: 'SIGKILL' });
      expect(pool.state).toBe('terminated');
      await pool.join();
      expect(starts.unread).toEqual([]); // no fourth worker got as far as its initializer
    } finally {
      await pool.terminate();
    }
  });

  test('the count of deaths in a row starts again once a worker becomes ready', async () => {
    const pool = startHeldPool();
    try {
      const killStarting = async () => {
        const [starting] = await starts.take(1);
        process.kill(starting!.pid, 'SIGKILL');
      };
      await killStarting();
      await killStarting();
      const [ready] = await starts.take(1);
      ready!.socket.write('go\n');
      await expect(pool.apply('whoami')).resolves.toEqual({ name: ready!.name, pid: ready!.pid });

      process.kill(ready!.pid, 'SIGKILL'); // a ready worker's death does not count
      await killStarting();
      await killStarting();
      const [last] = await starts.take(1);
      last!.socket.write('go\n');
      await expect(pool.apply('whoami')).resolves.toEqual({ name: last!.name, pid: last!.pid });
      expect(pool.state).toBe('running');
    } finally {
      await pool.terminate();
    }
  });
});

describe('process.exit() in a task', () => {
  test('fails that task with WorkerExitedError carrying the exit code; later tasks succeed', async () => {
    const pool = startPool(1);
    try {
      const [first] = await starts.take(1);
      const exiting = pool.apply('exitWith', [3]);
      const queued = pool.apply('double', [21]);

      const error = await errorOf(exiting);
      expect(error).toBeInstanceOf(WorkerExitedError);
      expect(error).toMatchObject({ workerName: first!.name, pid: first!.pid, exitCode: 3, signal: null });
      await expect(queued).resolves.toBe(42);

      const [replacement] = await starts.take(1);
      expect(workerNumber(replacement!.name)).toBe(workerNumber(first!.name) + 1);
      await expect(pool.apply('whoami')).resolves.toEqual({ name: replacement!.name, pid: replacement!.pid });
    } finally {
      await pool.terminate();
    }
  });
});

describe('an uncaught exception after a task returned', () => {
  test('kills the worker; the pool replaces it and later tasks succeed', async () => {
    const pool = startPool(1);
    try {
      const [first] = await starts.take(1);
      await expect(pool.apply('throwWhenTold', [running.path])).resolves.toBe(first!.pid);
      const task = await running.next();
      expect(task.pid).toBe(first!.pid);

      task.socket.write('throw now\n'); // the worker throws from a socket callback, outside any task
      await first!.closed; // its process is gone

      const [replacement] = await starts.take(1);
      expect(workerNumber(replacement!.name)).toBe(workerNumber(first!.name) + 1);
      expect(replacement!.pid).not.toBe(first!.pid);
      await expect(pool.map('double', numbers)).resolves.toEqual(numbers.map((x) => x * 2));
      await expect(pool.apply('whoami')).resolves.toEqual({ name: replacement!.name, pid: replacement!.pid });
    } finally {
      await pool.terminate();
    }
  });
});
