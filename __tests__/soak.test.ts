/**
 * Soak: hundreds of thousands of tiny tasks, and what they leave behind. The parent must
 * not keep anything per task (heap, listeners on a shared AbortSignal, timers, process
 * listeners); `imap` must read an endless input only as far as its window; and workers
 * that leak are kept in bounds by `maxTasksPerChild` and `maxMemoryPerChild`.
 *
 * Memory is compared after forced garbage collections, never against the clock.
 */
import { setMaxListeners, getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from '@jest/globals';
import { Pool } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, terminateAfterEach } from './helpers/processes.js';

type Tasks = typeof import('./fixtures/reliability-tasks.js');

/** Terminated after each test, pass or fail, before the check for leaked workers. */
const openPools = terminateAfterEach<Pool<Tasks>>();
expectNoLeakedWorkers();

const module = fixture('reliability-tasks.js');
const MB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use once everything unreachable is collected. */
function heapUsed(): number {
  for (let i = 0; i < 3; i++) {
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Listener counts of every event of `process`. */
function processListeners(): Record<string, number> {
  return Object.fromEntries(process.eventNames().map((name) => [String(name), process.listenerCount(name)]));
}

/** Active timers of this process (the pool's task timeouts among them). */
function timers(): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;
}

function startPool(options: ConstructorParameters<typeof Pool<Tasks>>[0]): Pool<Tasks> {
  const pool = new Pool<Tasks>({ module, ...options });
  openPools.add(pool);
  return pool;
}

describe('the parent keeps nothing per task', () => {
  const total = 200_000;
  const warmUp = 20_000;
  const batch = 1000;

  test(`${total} tasks through applyAsync, each with a timeout and one shared signal`, async () => {
    const pool = startPool({ processes: 4 });
    const controller = new AbortController();
    // Every pending call listens on it: up to a batch at once.
    setMaxListeners(batch, controller.signal);
    let heapAfterWarmUp = 0;
    let listenersAfterWarmUp: Record<string, number> = {};
    let timersAfterWarmUp = 0;
    for (let done = 0; done < total; done += batch) {
      const results = Array.from({ length: batch }, (_, i) =>
        // The timeout is far beyond the test's run: it must be cleared, never fire.
        pool.applyAsync('increment', [done + i], { signal: controller.signal, timeout: 600_000 }).get(),
      );
      const values = await Promise.all(results);
      // Checked without expect() in the loop: one comparison per batch.
      if (values.some((value, i) => value !== done + i + 1)) {
        throw new Error(`Wrong results in the batch from ${done}`);
      }
      if (done + batch === warmUp) {
        heapAfterWarmUp = heapUsed();
        listenersAfterWarmUp = processListeners();
        timersAfterWarmUp = timers();
      }
    }
    const growth = heapUsed() - heapAfterWarmUp;
    console.log(
      `soak: ${total} tasks via applyAsync; parent heap after ${warmUp} ${(heapAfterWarmUp / MB).toFixed(1)} MB, ` +
        `growth over the next ${total - warmUp}: ${(growth / 1024).toFixed(0)} KB (${(growth / (total - warmUp)).toFixed(2)} bytes per task)`,
    );
    // 50 bytes kept per task would be 9 MB here.
    expect(growth).toBeLessThan(5 * MB);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(processListeners()).toEqual(listenersAfterWarmUp);
    // Each task's timeout timer is cleared when it settles: 180,000 left behind would show.
    // (A few may come and go with Jest itself.)
    expect(timers() - timersAfterWarmUp).toBeLessThan(10);
    expect(pool.stats()).toMatchObject({ completed: total, failed: 0, spawned: 4, queued: 0, running: 0 });
    await pool.terminate();
  }, 180_000);

  test('imap over an endless generator reads only its window ahead and keeps nothing per item', async () => {
    const processes = 4;
    const items = 60_000;
    const pool = startPool({ processes });
    let produced = 0;
    function* endless(): Generator<number> {
      for (;;) {
        yield produced++;
      }
    }
    const iterator = pool.imap('increment', endless(), { chunksize: 1 });
    let consumed = 0;
    let furthestAhead = 0;
    let heapAfterWarmUp = 0;
    let wrong: string | undefined;
    for await (const value of iterator) {
      if (value !== consumed + 1 && wrong === undefined) {
        wrong = `item ${consumed}: got ${value}`;
      }
      consumed++;
      furthestAhead = Math.max(furthestAhead, produced - consumed);
      if (consumed === items / 10) {
        heapAfterWarmUp = heapUsed();
      }
      if (consumed === items) {
        break; // return(): the input is closed, the chunks still out are dropped
      }
    }
    const growth = heapUsed() - heapAfterWarmUp;
    console.log(
      `soak: ${items} items via imap from an endless generator; read at most ${furthestAhead} ahead; ` +
        `parent heap growth after warm-up ${(growth / 1024).toFixed(0)} KB`,
    );
    expect(wrong).toBeUndefined();
    // Its window is processes * 32 chunks (lib/pool.ts), plus the item being read.
    expect(furthestAhead).toBeLessThanOrEqual(processes * 32 + 1);
    expect(growth).toBeLessThan(5 * MB);
    await pool.terminate();
  }, 120_000);
});

describe('workers that leak stay in bounds', () => {
  const leakBytes = 10 * 1024;
  const tasks = 20_000;
  const processes = 2;

  /** RSS of a fresh worker that has run one `leak(0)`. */
  async function freshWorkerRss(): Promise<number> {
    const probe = startPool({ processes: 1 });
    const rss = await probe.apply('leak', [0]);
    await probe.terminate();
    return rss;
  }

  test('maxTasksPerChild: 1000 recycles them before the leak adds up', async () => {
    const start = await freshWorkerRss();
    const pool = startPool({ processes, maxTasksPerChild: 1000 });
    const rss = await pool.map(
      'leak',
      Array.from({ length: tasks }, () => leakBytes),
      { chunksize: 1 },
    );
    const highest = Math.max(...rss);
    console.log(
      `soak: ${tasks} tasks leaking ${leakBytes / 1024} KB each on ${processes} workers, maxTasksPerChild 1000: ` +
        `worker RSS ${(start / MB).toFixed(0)} MB fresh, at most ${(highest / MB).toFixed(0)} MB; ${pool.stats().spawned} workers started`,
    );
    // Without recycling each worker would run ~tasks / processes = 10,000 tasks and keep
    // 10,000 * 10 KB ≈ 100 MB more; with it, at most 1000 * 10 KB ≈ 10 MB.
    expect(highest).toBeLessThan(start + 40 * MB);
    expect(pool.stats().replacements['max-tasks']).toBeGreaterThanOrEqual(tasks / 1000 - processes);
    await pool.terminate();
  }, 120_000);

  test('maxMemoryPerChild replaces a worker once its RSS is over the limit', async () => {
    const start = await freshWorkerRss();
    const limit = start + 30 * MB;
    const pool = startPool({ processes, maxMemoryPerChild: limit });
    const rss = await pool.map(
      'leak',
      Array.from({ length: tasks }, () => leakBytes),
      { chunksize: 1 },
    );
    const highest = Math.max(...rss);
    const { replacements, spawned } = pool.stats();
    console.log(
      `soak: ${tasks} tasks leaking ${leakBytes / 1024} KB each on ${processes} workers, maxMemoryPerChild fresh + 30 MB: ` +
        `worker RSS at most ${((highest - start) / MB).toFixed(1)} MB over fresh; ${replacements.memory} replaced for memory, ${spawned} started`,
    );
    // ~100 MB per worker without the limit: it must have stepped in, and a worker over
    // the limit runs no further task, so no result reports much more than the limit.
    expect(replacements.memory).toBeGreaterThanOrEqual(processes);
    expect(highest).toBeLessThan(limit + 20 * MB);
    await pool.terminate();
  }, 120_000);
});
