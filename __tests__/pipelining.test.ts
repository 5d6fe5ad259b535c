/**
 * Tasks sent ahead: while tasks take a few milliseconds, the pool sends a busy worker the
 * next one before it is needed, and the worker reads it from its channel as soon as the
 * task before it ends, without waiting for a turn of its event loop; small answers go
 * straight to the socket, larger ones through the stream. Whatever the route, every task
 * runs once and every answer comes back whole, to the call it belongs to.
 */
import { describe, expect, test } from '@jest/globals';
import { Pool } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, terminateAfterEach } from './helpers/processes.js';

type Tasks = typeof import('./fixtures/reliability-tasks.js');

const openPools = terminateAfterEach<Pool<Tasks>>();
expectNoLeakedWorkers();

const module = fixture('reliability-tasks.js');
const range = (length: number) => Array.from({ length }, (_, i) => i);

function newPool(): Pool<Tasks> {
  const pool = new Pool<Tasks>({ processes: 2, module });
  openPools.add(pool);
  return pool;
}

describe('tasks of a few milliseconds, sent ahead to busy workers', () => {
  test('each runs once, on either worker, and map gives the values in order', async () => {
    const pool = newPool();
    const results = await pool.starmap(
      'spinSquare',
      range(60).map((x) => [x, 2] as [number, number]),
      { chunksize: 1 },
    );
    expect(results.map(([squared]) => squared)).toEqual(range(60).map((x) => x * x));
    expect(new Set(results.map(([, pid]) => pid)).size).toBe(2);
    expect(pool.stats()).toMatchObject({ completed: 60, failed: 0, queued: 0, running: 0 });
  });

  test('answers too large to go straight to the socket, among small ones, come back whole and in place', async () => {
    const pool = newPool();
    // Every fifth answer is a string of 100,000 characters: far over what is written directly.
    const values = range(40).map((i) => (i % 5 === 0 ? `${i}:${'x'.repeat(100_000)}` : `${i}`));
    const results = await Promise.all(values.map((value) => pool.apply('spinEcho', [value, 2])));
    expect(results).toEqual(values);
  });
});
