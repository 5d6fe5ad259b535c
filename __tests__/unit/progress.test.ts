/** onProgress: counts, totals, failures, and coalescing, driven with a fake fork. */
import { describe, expect, test } from '@jest/globals';
import { Pool, type Progress } from '../../lib/index.js';
import { kFork } from '../../lib/pool.js';
import type { PoolOptions } from '../../lib/options.js';
import { fakeFork, flush, type FakeChild } from '../helpers/fake-fork.js';

function makePool(options: PoolOptions = {}) {
  const { fork, children } = fakeFork();
  const pool = new Pool({ processes: 1, ...options, [kFork]: fork } as PoolOptions);
  return { pool, children };
}

/** Answers every task sent to `child` so far and those the answers let in, until none is left. */
async function answerAll(child: FakeChild, fail?: (id: number) => boolean): Promise<void> {
  const answered = new Set<number>();
  for (;;) {
    const pending = child.sentOf('task').filter((task) => !answered.has(task.id));
    if (pending.length === 0) {
      return;
    }
    for (const { id } of pending) {
      answered.add(id);
      if (fail?.(id)) {
        child.reply({
          type: 'result',
          id,
          values: [],
          failure: { kind: 'thrown', error: { name: 'Error', message: 'x', stack: '' } },
        });
      } else {
        child.answer(id);
      }
    }
    await flush();
  }
}

describe('onProgress', () => {
  test('map: the first report comes at once, the last has every item done and the total', async () => {
    const { pool, children } = makePool();
    const child = children[0]!.ready();
    const reports: Progress[] = [];
    const result = pool.map(
      'f',
      Array.from({ length: 400 }, (_, i) => i),
      { chunksize: 1, onProgress: (p) => reports.push(p) },
    );
    await answerAll(child);
    await expect(result).resolves.toHaveLength(400);
    expect(reports[0]).toEqual({ done: 1, failed: 0, total: 400 });
    expect(reports.at(-1)).toEqual({ done: 400, failed: 0, total: 400 });
    // Coalesced: far fewer reports than the 400 tasks.
    expect(reports.length).toBeLessThan(400 / 4);
    const done = reports.map((report) => report.done);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    await pool.terminate();
  });

  test('a failing chunk counts its items that produced no value as failed', async () => {
    const { pool, children } = makePool();
    const child = children[0]!.ready();
    const reports: Progress[] = [];
    const result = pool.map('f', [1, 2, 3, 4], { chunksize: 2, onProgress: (p) => reports.push(p) });
    const firstId = child.sentOf('task')[0]!.id;
    await answerAll(child, (id) => id === firstId);
    await expect(result).rejects.toThrow('x');
    expect(reports.at(-1)).toEqual({ done: 4, failed: 2, total: 4 });
    await pool.terminate();
  });

  test('imap: the total is unknown until the input ends, then given in the last report', async () => {
    const { pool, children } = makePool();
    const child = children[0]!.ready();
    const reports: Progress[] = [];
    const items = Array.from({ length: 40 }, (_, i) => i);
    function* input() {
      yield* items; // more than the 32 chunks imap reads ahead on one process
    }
    const iterator = pool.imap('f', input(), { onProgress: (p) => reports.push(p) });
    const collected: unknown[] = [];
    const reading = (async () => {
      for await (const value of iterator) collected.push(value);
    })();
    await flush();
    await answerAll(child);
    await reading;
    expect(collected).toEqual(items);
    expect(reports[0]!.total).toBeUndefined();
    expect(reports.at(-1)).toEqual({ done: 40, failed: 0, total: 40 });
    await pool.terminate();
  });

  test('onProgress must be a function; an unknown option is refused', async () => {
    const { pool } = makePool();
    await expect(pool.map('f', [1], { onProgress: 5 as never })).rejects.toThrow(
      'Expected `onProgress` to be a function',
    );
    await expect(pool.map('f', [1], { progress: () => {} } as never)).rejects.toThrow('Unknown option `progress`');
    await pool.terminate();
  });
});
