/**
 * Memory on real processes: `maxMemoryPerChild` replaces a worker whose RSS went over
 * the limit once its task is done; a worker that runs out of heap under
 * `--max-old-space-size` dies by SIGABRT and says so; and the per-worker `execArgv`,
 * `env` and `cwd` options reach every worker.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { Pool, WorkerExitedError } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { errorOf } from './helpers/errors.js';
import { expectNoLeakedWorkers } from './helpers/processes.js';
import { Rendezvous, workerNumber } from './helpers/rendezvous.js';
import { exitOf } from './helpers/events.js';

type Tasks = typeof import('./fixtures/limits-tasks.js');

expectNoLeakedWorkers();

const module = fixture('limits-tasks.js');
const MiB = 1024 * 1024;

/** Where workers report. */
let rendezvous: Rendezvous;

beforeEach(async () => {
  rendezvous = await Rendezvous.open();
});

afterEach(async () => {
  await rendezvous.close();
});

describe('maxMemoryPerChild', () => {
  /** RSS of a fresh worker after a task, as the pool would measure it. */
  let baseline: number;

  beforeAll(async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, maxMemoryPerChild: Number.MAX_SAFE_INTEGER });
    try {
      await pool.apply('double', [1]);
      baseline = await pool.apply('rss');
    } finally {
      await pool.terminate();
    }
  });

  test('a worker that retains memory is replaced after the task that took it over the limit; results stay correct', async () => {
    // Each task keeps 64 MiB; the limit lies 32 MiB above one task's worth and 32 MiB
    // below two tasks' worth, so the worker goes after its second task.
    const pool = new Pool<Tasks>({ processes: 1, module, maxMemoryPerChild: baseline + 96 * MiB });
    try {
      const first = await pool.apply('retainMegabytes', [64]);
      expect(first.held).toBe(1);
      const exited = exitOf(pool, first.pid);

      const second = await pool.apply('retainMegabytes', [64]);
      expect(second).toEqual({ held: 2, pid: first.pid }); // kept after the first
      await expect(exited).resolves.toMatchObject({ reason: 'memory', exitCode: 0, signal: null });

      const third = await pool.apply('retainMegabytes', [64]);
      expect(third.held).toBe(1); // a fresh process
      expect(third.pid).not.toBe(first.pid);
      await expect(pool.map('double', [1, 2, 3])).resolves.toEqual([2, 4, 6]);
      expect(pool.stats().replacements).toMatchObject({ memory: 1, crash: 0 });
    } finally {
      await pool.terminate();
    }
  });
});

describe('a worker out of heap under --max-old-space-size', () => {
  test('fails its task with WorkerExitedError (SIGABRT) that mentions the heap; the pool serves the next task', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, execArgv: ['--max-old-space-size=32'] });
    try {
      const first = await pool.apply('whoami');
      const exited = exitOf(pool, first.pid);

      // V8 prints 'JavaScript heap out of memory' and a stack to the worker's stderr.
      const error = await errorOf(pool.apply('exhaustHeap'));
      expect(error).toBeInstanceOf(WorkerExitedError);
      expect(error).toMatchObject({ workerName: first.name, pid: first.pid, exitCode: null, signal: 'SIGABRT' });
      expect((error as Error).message).toContain('out of heap');
      await expect(exited).resolves.toMatchObject({ reason: 'crash', signal: 'SIGABRT' });

      const next = await pool.apply('whoami');
      expect(workerNumber(next.name)).toBeGreaterThan(workerNumber(first.name));
      await expect(pool.apply('double', [21])).resolves.toBe(42);
    } finally {
      await pool.terminate();
    }
  });
});

describe('execArgv, env and cwd', () => {
  test('reach every worker and the tasks it runs', async () => {
    const cwd = realpathSync(mkdtempSync(join(tmpdir(), 'forkpool-cwd-')));
    const variable = 'FORKPOOL_TEST_VARIABLE';
    const pool = new Pool<Tasks>({
      processes: 2,
      module,
      initializer: 'reportEnvironment',
      initargs: [rendezvous.path, variable],
      execArgv: ['--max-old-space-size=48', '--no-deprecation'],
      env: { ...process.env, [variable]: 'from the parent' },
      cwd,
    });
    try {
      const expected = { execArgv: ['--max-old-space-size=48', '--no-deprecation'], value: 'from the parent', cwd };
      const starts = await rendezvous.take(2);
      expect(new Set(starts.map((start) => start.pid)).size).toBe(2);
      for (const start of starts) {
        expect(JSON.parse(start.tag)).toEqual(expected);
      }
      await expect(pool.apply('environment', [variable])).resolves.toEqual(expected);
      expect(process.env[variable]).toBeUndefined(); // the parent's own environment is untouched
    } finally {
      await pool.terminate();
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
