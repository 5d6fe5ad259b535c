/**
 * What a pool tells about itself, on real processes: `stats()` and the
 * `workerStart`/`workerExit` events after a known sequence of tasks, an inspector port
 * of its own for each worker under `--inspect`, and how `shutdown()` ends.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import {
  Pool,
  PoolNotRunningError,
  PoolTerminatedError,
  WorkerExitedError,
  type WorkerExitEvent,
  type WorkerStartEvent,
} from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { errorOf } from './helpers/errors.js';
import { expectNoLeakedWorkers } from './helpers/processes.js';
import { Rendezvous, workerNumber } from './helpers/rendezvous.js';

type Tasks = typeof import('./fixtures/limits-tasks.js');

expectNoLeakedWorkers();

const module = fixture('limits-tasks.js');
const noReplacements = { 'max-tasks': 0, memory: 0, timeout: 0, abort: 0, crash: 0 };

/** Where tasks report that they are running. */
let running: Rendezvous;

beforeEach(async () => {
  running = await Rendezvous.open();
});

afterEach(async () => {
  await running.close();
});

/** Records a pool's events; `exits(n)` resolves once n `workerExit` events have come. */
function recordEvents(pool: Pool<Tasks>) {
  const starts: WorkerStartEvent[] = [];
  const exitEvents: WorkerExitEvent[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  pool.on('workerStart', (event) => starts.push(event));
  pool.on('workerExit', (event) => {
    exitEvents.push(event);
    for (const waiter of waiters.filter((waiter) => exitEvents.length >= waiter.count)) {
      waiter.resolve();
    }
  });
  const exits = (count: number): Promise<WorkerExitEvent[]> =>
    exitEvents.length >= count
      ? Promise.resolve(exitEvents.slice(0, count))
      : new Promise<void>((resolve) => waiters.push({ count, resolve })).then(() => exitEvents.slice(0, count));
  return { starts, exitEvents, exits };
}

describe('stats() and events', () => {
  test('count workers, tasks, failures and replacements through tasks, a failure, a crash and maxTasksPerChild', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, maxTasksPerChild: 2 });
    const { starts, exitEvents, exits } = recordEvents(pool);
    try {
      expect(pool.stats()).toEqual({
        workers: { alive: 1, starting: 1, idle: 0, busy: 0 },
        queued: 0,
        running: 0,
        completed: 0,
        failed: 0,
        spawned: 1,
        replacements: noReplacements,
      });

      // Worker 1: two tasks, then it retires.
      const held = pool.apply('reportAndWait', [running.path, 'held']);
      const doubled = pool.apply('double', [1]);
      const first = await running.next();
      expect(pool.stats()).toMatchObject({ workers: { alive: 1, busy: 1 }, queued: 1, running: 1, completed: 0 });
      first.socket.write('go\n');
      await expect(held).resolves.toEqual({ name: first.name, pid: first.pid });
      await expect(doubled).resolves.toBe(2);

      // Worker 2: its first task crashes it.
      const crash = await errorOf(pool.apply('exitWith', [3]));
      expect(crash).toBeInstanceOf(WorkerExitedError);

      // Worker 3: a task that throws, then one that answers; then it retires.
      await expect(pool.apply('fail', ['boom'])).rejects.toThrow('boom');
      await expect(pool.apply('double', [2])).resolves.toBe(4);

      await exits(3);
      const n = workerNumber(first.name);
      const names = [0, 1, 2, 3].map((i) => `PoolWorker-${n + i}`);
      expect(starts.map((start) => start.workerName)).toEqual(names); // worker 4 replaces worker 3
      expect(starts[0]!.pid).toBe(first.pid);
      // Workers 1 and 2 exit about the same time; the pool does not order their events.
      const byNumber = [...exitEvents].sort((a, b) => workerNumber(a.workerName) - workerNumber(b.workerName));
      expect(byNumber).toEqual([
        { workerName: names[0], pid: first.pid, exitCode: 0, signal: null, reason: 'max-tasks' },
        { workerName: names[1], pid: starts[1]!.pid, exitCode: 3, signal: null, reason: 'crash' },
        { workerName: names[2], pid: starts[2]!.pid, exitCode: 0, signal: null, reason: 'max-tasks' },
      ]);
      expect(crash).toMatchObject({ workerName: names[1], exitCode: 3 });
      expect(pool.stats()).toMatchObject({
        workers: { alive: 1, busy: 0 },
        queued: 0,
        running: 0,
        completed: 3,
        failed: 2,
        spawned: 4,
        replacements: { ...noReplacements, 'max-tasks': 2, crash: 1 },
      });

      await pool.terminate();
      const [, , , last] = await exits(4);
      expect(last).toMatchObject({ workerName: names[3], reason: 'terminate' });
      expect(pool.stats()).toMatchObject({
        workers: { alive: 0, starting: 0, idle: 0, busy: 0 },
        spawned: 4,
        replacements: { ...noReplacements, 'max-tasks': 2, crash: 1 }, // terminate() replaces nothing
      });
    } finally {
      await pool.terminate();
    }
  });
});

describe('--inspect in execArgv', () => {
  test('gives each worker its own inspector port, 9400 + N; two workers listen at once', async () => {
    // Each worker prints 'Debugger listening on ws://…' to stderr.
    const pool = new Pool<Tasks>({ processes: 2, module, execArgv: ['--inspect=127.0.0.1:9400'] });
    try {
      const tasks = [
        pool.apply('reportInspectorAndWait', [running.path]),
        pool.apply('reportInspectorAndWait', [running.path]),
      ];
      const reports = await running.take(2); // both running at once
      const ports: number[] = [];
      for (const report of reports) {
        const { debugPort, url } = JSON.parse(report.tag) as { debugPort: number; url: string | null };
        const port = 9400 + workerNumber(report.name);
        expect(debugPort).toBe(port);
        expect(url).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${port}/`));
        ports.push(port);
      }
      expect(new Set(ports).size).toBe(2);
      // Each inspector answers on its own port.
      for (const port of ports) {
        const response = await fetch(`http://127.0.0.1:${port}/json/version`);
        expect(response.ok).toBe(true);
        expect(await response.json()).toMatchObject({ Browser: expect.stringContaining('node') });
      }
      for (const report of reports) {
        report.socket.write('go\n');
      }
      // The reports arrive in whatever order the workers got there: compare as sets.
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      const answered = (await Promise.all(tasks)).sort(byName);
      expect(answered).toEqual(reports.map(({ name, pid }) => ({ name, pid })).sort(byName));
    } finally {
      await pool.terminate();
    }
  });
});

describe('shutdown()', () => {
  test("lets queued work finish and resolves 'drained'", async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    const { exits } = recordEvents(pool);
    try {
      const held = pool.apply('reportAndWait', [running.path, 'held']);
      const report = await running.next();
      const queued = pool.map('double', [1, 2, 3, 4], { chunksize: 1 });
      expect(pool.stats().queued).toBe(4);

      const done = pool.shutdown(60_000);
      expect(pool.state).toBe('closed');
      await expect(pool.apply('double', [5])).rejects.toBeInstanceOf(PoolNotRunningError);

      report.socket.write('go\n');
      await expect(held).resolves.toEqual({ name: report.name, pid: report.pid });
      await expect(queued).resolves.toEqual([2, 4, 6, 8]);
      await expect(done).resolves.toBe('drained');
      expect(pool.state).toBe('closed');
      await expect(exits(1)).resolves.toEqual([
        expect.objectContaining({ pid: report.pid, reason: 'close', exitCode: 0 }),
      ]);
    } finally {
      await pool.terminate();
    }
  });

  test("with a hanging task and shutdown(0), terminates and resolves 'terminated'", async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    const { exits } = recordEvents(pool);
    try {
      const hung = pool.apply('reportAndHang', [running.path, 'hung']);
      const report = await running.next();
      const queued = pool.apply('double', [1]);

      await expect(pool.shutdown(0)).resolves.toBe('terminated');
      expect(pool.state).toBe('terminated');
      await expect(hung).rejects.toBeInstanceOf(PoolTerminatedError);
      await expect(queued).rejects.toBeInstanceOf(PoolTerminatedError);
      await expect(exits(1)).resolves.toEqual([expect.objectContaining({ pid: report.pid, reason: 'terminate' })]);
    } finally {
      await pool.terminate();
    }
  });

  test("on a pool already closed, waits for the drain and resolves 'drained'", async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const held = pool.apply('reportAndWait', [running.path, 'held']);
      const report = await running.next();
      pool.close();
      const done = pool.shutdown();
      report.socket.write('go\n');
      await expect(held).resolves.toEqual({ name: report.name, pid: report.pid });
      await expect(done).resolves.toBe('drained');
    } finally {
      await pool.terminate();
    }
  });

  test("resolves 'terminated' when someone else terminates the pool while it drains", async () => {
    const pool = new Pool<Tasks>({ processes: 1, module });
    try {
      const hung = pool.apply('reportAndHang', [running.path, 'hung']);
      await running.next();
      const done = pool.shutdown();
      await pool.terminate();
      await expect(hung).rejects.toBeInstanceOf(PoolTerminatedError);
      // The work was cut short, not drained.
      await expect(done).resolves.toBe('terminated');
    } finally {
      await pool.terminate();
    }
  });
});
