/**
 * `maxTasksPerChild`: a worker exits after that many tasks (a chunk is one task) and a
 * new one, named by the next `PoolWorker-N`, takes its place.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from '@jest/globals';
import { Pool } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers } from './helpers/processes.js';
import { workerNumber } from './helpers/rendezvous.js';

type Tasks = typeof import('./fixtures/lifecycle-tasks.js');

expectNoLeakedWorkers();

const module = fixture('lifecycle-tasks.js');
const range = (length: number) => Array.from({ length }, (_, i) => i);

/** Item indexes per worker pid, and each pid's name. */
function byWorker(results: [number, number, string][]): { items: Map<number, number[]>; names: Map<number, string> } {
  const items = new Map<number, number[]>();
  const names = new Map<number, string>();
  results.forEach(([, pid, name], index) => {
    items.set(pid, [...(items.get(pid) ?? []), index]);
    expect(names.get(pid) ?? name).toBe(name); // one name per process
    names.set(pid, name);
  });
  expect(new Set(names.values()).size).toBe(names.size); // one process per name
  return { items, names };
}

async function runPool(options: { processes: number; maxTasksPerChild: number }, length: number, chunksize: number) {
  const pool = new Pool<Tasks>({ ...options, module });
  try {
    const results = await pool.map('doubleWithWorker', range(length), { chunksize });
    expect(results.map(([doubled]) => doubled)).toEqual(range(length).map((x) => x * 2));
    pool.close();
    await pool.join(); // retired and remaining workers all exit
    return byWorker(results);
  } finally {
    await pool.terminate();
  }
}

describe('maxTasksPerChild', () => {
  test('in a fresh process, workers are PoolWorker-1, -2 … and the counter is shared with the next pool', async () => {
    const script = fileURLToPath(fixture('worker-names.js'));
    const { stdout } = await promisify(execFile)(process.execPath, [script]);
    const { tasks, secondWorker } = JSON.parse(stdout) as {
      tasks: { name: string; pid: number }[];
      secondWorker: { name: string; pid: number };
    };
    // One worker at a time, two tasks each: 10 tasks run on PoolWorker-1 … PoolWorker-5.
    expect(tasks.map((task) => task.name)).toEqual(range(10).map((i) => `PoolWorker-${Math.floor(i / 2) + 1}`));
    expect(new Set(tasks.map((task) => task.pid)).size).toBe(5);
    // PoolWorker-6 was started to replace PoolWorker-5 and let go unused by close().
    expect(secondWorker.name).toBe('PoolWorker-7');
  });

  test('one process: each worker runs exactly maxTasksPerChild tasks, replacements take the next numbers', async () => {
    const { items, names } = await runPool({ processes: 1, maxTasksPerChild: 3 }, 12, 1);
    const workers = [...items.keys()];
    expect(workers).toHaveLength(4);
    const base = workerNumber(names.get(workers[0]!)!);
    workers.forEach((pid, k) => {
      expect(items.get(pid)).toEqual([3 * k, 3 * k + 1, 3 * k + 2]);
      expect(names.get(pid)).toBe(`PoolWorker-${base + k}`);
    });
  });

  test('several processes: no worker runs more than maxTasksPerChild tasks, and only the last ones run fewer', async () => {
    const processes = 2;
    const max = 3;
    const { items, names } = await runPool({ processes, maxTasksPerChild: max }, 40, 1);
    const counts = [...items.values()].map((indexes) => indexes.length);
    expect(counts.every((count) => count <= max)).toBe(true);
    // Only the workers still in service when the work ran out can have run fewer.
    expect(counts.filter((count) => count < max).length).toBeLessThanOrEqual(processes);
    expect(counts.reduce((sum, count) => sum + count, 0)).toBe(40);
    expect(items.size).toBeGreaterThanOrEqual(Math.ceil(40 / max));
    // Distinct, increasing numbers; the only ones missing belong to replacements that found no work.
    const numbers = [...names.values()].map(workerNumber).sort((a, b) => a - b);
    expect(numbers.at(-1)! - numbers[0]! + 1).toBeLessThanOrEqual(numbers.length + processes);
  });

  test('a chunk counts as one task', async () => {
    const chunksize = 5;
    const max = 2;
    const { items } = await runPool({ processes: 2, maxTasksPerChild: max }, 40, chunksize);
    for (const indexes of items.values()) {
      // Whole chunks only, at most `max` of them.
      expect(indexes.length % chunksize).toBe(0);
      expect(indexes.length / chunksize).toBeLessThanOrEqual(max);
      for (let at = 0; at < indexes.length; at += chunksize) {
        expect(indexes[at]! % chunksize).toBe(0);
        expect(indexes.slice(at, at + chunksize)).toEqual(range(chunksize).map((i) => indexes[at]! + i));
      }
    }
    const singleChunk = [...items.values()].filter((indexes) => indexes.length === chunksize);
    expect(singleChunk.length).toBeLessThanOrEqual(2);
    expect(items.size).toBeGreaterThanOrEqual(40 / chunksize / max);
  });

  test('one process, chunks: each worker runs exactly maxTasksPerChild chunks', async () => {
    const { items } = await runPool({ processes: 1, maxTasksPerChild: 2 }, 30, 5);
    expect([...items.values()]).toEqual(range(3).map((k) => range(10).map((i) => 10 * k + i)));
  });

  test('a replacement gets initargs as they were when the pool was made, not as the caller changed them since', async () => {
    const config = { level: 1, names: ['a'] };
    const pool = new Pool({
      processes: 1,
      maxTasksPerChild: 1,
      initializer: (value: typeof config) => {
        (globalThis as { config?: typeof config }).config = value;
      },
      initargs: [config],
    });
    try {
      const seen: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        config.level++;
        config.names.push('changed');
        seen.push(await pool.apply(() => (globalThis as { config?: unknown }).config));
      }
      expect(seen).toEqual([0, 1, 2].map(() => ({ level: 1, names: ['a'] })));
    } finally {
      await pool.terminate();
    }
  });

  test('maxTasksPerChild: 1 over 50 tasks runs 50 processes', async () => {
    const { items, names } = await runPool({ processes: 2, maxTasksPerChild: 1 }, 50, 1);
    expect(items.size).toBe(50);
    expect(new Set(names.values()).size).toBe(50);
  });
});
