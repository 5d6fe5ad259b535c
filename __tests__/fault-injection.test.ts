/**
 * Fault injection: thousands of tasks while workers are killed with SIGKILL, tasks that
 * never settle run into their timeouts, and callers abort at random points. Every task
 * must settle exactly once, with its value or with the error that fits what happened to
 * it; none may be lost; the pool must come back to full size with consistent counters.
 *
 * The plan of tasks comes from a seeded generator: the seed is printed, and
 * `FORKPOOL_SEED=<seed>` replays the same plan (the interleaving with the workers is
 * the operating system's). Kills and aborts are driven by completions, never by time.
 */
import { randomInt } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { describe, expect, test } from '@jest/globals';
import pDefer from 'p-defer';
import { AbortError, Pool, TaskTimeoutError, WorkerExitedError, type PoolStats } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, liveWorkers, terminateAfterEach } from './helpers/processes.js';
import { Rendezvous } from './helpers/rendezvous.js';

type Tasks = typeof import('./fixtures/reliability-tasks.js');

/**
 * Terminated after the test even if it timed out waiting (its own `finally` never runs
 * then), before the check for leaked workers (hooks run in the order declared).
 */
const openPools = terminateAfterEach<Pool<Tasks>>();
expectNoLeakedWorkers();

const processes = 4;
const taskCount = 5000;
/** A live, ready worker is killed after every `killEvery` settled tasks. */
const killEvery = 30;
/**
 * Tasks submitted and not settled: some always wait in the queue, and an abort due a few
 * dozen completions later finds its task sometimes queued, sometimes running.
 */
const inFlight = 40;

/** mulberry32: a small seeded generator, so a failing plan can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'tiny' | 'cpu' | 'hang';

interface Plan {
  id: number;
  kind: Kind;
  x: number;
  /** cpu: how long it keeps its worker busy. */
  spinMs: number;
  /** hang: always (it must time out); tiny: sometimes, far longer than the test runs. */
  timeout: number | undefined;
  /** Aborted this many settled tasks after it was submitted; `undefined`: never. */
  abortAfter: number | undefined;
}

type Outcome = { ok: true; value: [number, number] } | { ok: false; error: Error };

interface Tracked {
  plan: Plan;
  controller: AbortController | undefined;
  /** Whether `abort()` was called while the task was not yet settled. */
  abortedWhilePending: boolean;
  reason: Error | undefined;
  callbacks: Outcome[];
  get: Promise<Outcome> | undefined;
}

function makePlan(random: () => number): Plan[] {
  return Array.from({ length: taskCount }, (_, id): Plan => {
    const roll = random();
    const kind: Kind = roll < 0.015 ? 'hang' : roll < 0.115 ? 'cpu' : 'tiny';
    const timeout =
      kind === 'hang' ? 50 + Math.floor(random() * 250) : kind === 'tiny' && random() < 0.1 ? 600_000 : undefined;
    // Hanging tasks are aborted more often: their aborts mostly find them running.
    const abortAfter = random() < (kind === 'hang' ? 0.4 : 0.03) ? Math.floor(random() * 60) : undefined;
    return {
      id,
      kind,
      x: Math.floor(random() * 1000),
      spinMs: kind === 'cpu' ? 1 + Math.floor(random() * 5) : 0,
      timeout,
      abortAfter,
    };
  });
}

describe('fault injection', () => {
  test(`${taskCount} tasks over ${processes} workers with kills, timeouts and aborts: each settles once, none is lost`, async () => {
    const seed = process.env.FORKPOOL_SEED === undefined ? randomInt(2 ** 31) : Number(process.env.FORKPOOL_SEED);
    console.log(`fault-injection seed=${seed} (replay the plan with FORKPOOL_SEED=${seed})`);
    const random = seededRandom(seed);
    const plans = makePlan(random);

    const barrier = await Rendezvous.open();
    const pool = new Pool<Tasks>({ processes, module: fixture('reliability-tasks.js') });
    openPools.add(pool);
    try {
      const started = new Set<number>();
      const exited = new Set<number>();
      const killed = new Set<number>();
      /**
       * Every worker killed or stopped has exited, and `processes` are left. Until then a
       * task could still be sent to a killed worker whose exit the pool has not seen.
       */
      const settledDown = () => [...killed].every((pid) => exited.has(pid)) && exited.size === started.size - processes;
      /** Set once every task has settled. */
      let quiet: ReturnType<typeof pDefer<void>> | undefined;
      const checkQuiet = () => {
        if (quiet !== undefined && settledDown()) {
          quiet.resolve();
        }
      };
      pool.on('workerStart', ({ pid }) => {
        started.add(pid!);
        checkQuiet();
      });
      const exitReasons = new Map<string, number>();
      pool.on('workerExit', ({ pid, reason }) => {
        exited.add(pid!);
        exitReasons.set(reason, (exitReasons.get(reason) ?? 0) + 1);
        checkQuiet();
      });
      /** Workers that have answered a task: ready, so killing them is a crash, not a startup death. */
      const answered = new Set<number>();

      const tracked: Tracked[] = [];
      const abortsDue = new Map<number, Tracked[]>();
      let settled = 0;
      let submitted = 0;
      let abortsFired = 0;
      const allSettled = pDefer<void>();

      const kill = () => {
        const live = new Set(liveWorkers());
        const candidates = [...answered].filter((pid) => live.has(pid) && !exited.has(pid) && !killed.has(pid));
        if (candidates.length === 0) {
          return;
        }
        const pid = candidates[Math.floor(random() * candidates.length)]!;
        killed.add(pid);
        answered.delete(pid);
        process.kill(pid, 'SIGKILL');
      };

      // Runs after the pool's bookkeeping for the settled task is done (a microtask later).
      const afterSettle = (count: number, outcome: Outcome) => {
        try {
          drive(count, outcome);
        } catch (error) {
          allSettled.reject(error); // the pool refused a task: fail now rather than hang
        }
      };
      const drive = (count: number, outcome: Outcome) => {
        if (outcome.ok) {
          answered.add(outcome.value[1]);
        }
        if (count % killEvery === 0) {
          kill();
        }
        for (const entry of abortsDue.get(count) ?? []) {
          if (entry.callbacks.length === 0) {
            entry.abortedWhilePending = true;
            abortsFired++;
          }
          entry.controller!.abort(entry.reason);
        }
        abortsDue.delete(count);
        if (submitted < taskCount) {
          submit();
        }
        if (count === taskCount) {
          allSettled.resolve();
        }
      };

      const submit = () => {
        const plan = plans[submitted++]!;
        const entry: Tracked = {
          plan,
          controller: plan.abortAfter === undefined ? undefined : new AbortController(),
          abortedWhilePending: false,
          reason: plan.abortAfter === undefined ? undefined : new Error(`abort of task ${plan.id}`),
          callbacks: [],
          get: undefined,
        };
        tracked.push(entry);
        const onSettled = (outcome: Outcome) => {
          entry.callbacks.push(outcome);
          const count = ++settled;
          queueMicrotask(() => afterSettle(count, outcome));
        };
        const options = {
          timeout: plan.timeout,
          signal: entry.controller?.signal,
          callback: (value: [number, number]) => onSettled({ ok: true, value }),
          errorCallback: (error: Error) => onSettled({ ok: false, error }),
        };
        const result =
          plan.kind === 'hang'
            ? pool.applyAsync('hang', [], options)
            : plan.kind === 'cpu'
              ? pool.applyAsync('spinSquare', [plan.x, plan.spinMs], options)
              : pool.applyAsync('square', [plan.x], options);
        entry.get = result.get().then(
          (value): Outcome => ({ ok: true, value }),
          (error: Error): Outcome => ({ ok: false, error }),
        );
        if (plan.abortAfter !== undefined) {
          // Strictly after every count already handled, so the abort is sure to fire.
          const due = settled + 1 + plan.abortAfter;
          abortsDue.set(due, [...(abortsDue.get(due) ?? []), entry]);
        }
      };

      while (submitted < Math.min(inFlight, taskCount)) {
        submit();
      }
      await allSettled.promise;
      // Aborts due after the last task settled have nothing left to abort.
      for (const entry of [...abortsDue.values()].flat()) {
        entry.controller!.abort(entry.reason);
      }

      // Every task settled exactly once, and get() agrees with the callback.
      expect(tracked).toHaveLength(taskCount);
      const settledTwice = tracked.filter((entry) => entry.callbacks.length !== 1).map((entry) => entry.plan.id);
      expect(settledTwice).toEqual([]);
      const gets = await Promise.all(tracked.map((entry) => entry.get!));
      const disagreeing = tracked.filter((entry, i) => {
        const [callback] = entry.callbacks;
        const got = gets[i]!;
        return (
          callback!.ok !== got.ok ||
          (got.ok ? got.value !== (callback as typeof got).value : got.error !== (callback as typeof got).error)
        );
      });
      expect(disagreeing.map((entry) => entry.plan.id)).toEqual([]);

      // Each outcome fits what happened to the task.
      const counts = { values: 0, workerExited: 0, timedOut: 0, aborted: 0 };
      const wrong: string[] = [];
      const exitedErrorsByPid = new Map<number, number>();
      for (const { plan, callbacks, abortedWhilePending, reason } of tracked) {
        const outcome = callbacks[0]!;
        const what = `task ${plan.id} (${plan.kind}${plan.timeout === undefined ? '' : `, timeout ${plan.timeout}`}${plan.abortAfter === undefined ? '' : ', abortable'})`;
        if (outcome.ok) {
          counts.values++;
          if (plan.kind === 'hang') {
            wrong.push(`${what} got a value`);
          } else if (outcome.value[0] !== plan.x * plan.x) {
            wrong.push(`${what} got ${JSON.stringify(outcome.value)}`);
          }
          continue;
        }
        const { error } = outcome;
        if (error instanceof WorkerExitedError) {
          counts.workerExited++;
          exitedErrorsByPid.set(error.pid!, (exitedErrorsByPid.get(error.pid!) ?? 0) + 1);
          if (!killed.has(error.pid!) || error.signal !== 'SIGKILL') {
            wrong.push(
              `${what} got WorkerExitedError for pid ${error.pid} (${error.signal}), not a worker this test killed`,
            );
          }
        } else if (error instanceof TaskTimeoutError) {
          counts.timedOut++;
          if (plan.kind !== 'hang' || error.timeout !== plan.timeout) {
            wrong.push(`${what} got TaskTimeoutError (${error.timeout} ms)`);
          }
        } else if (error instanceof AbortError) {
          counts.aborted++;
          if (!abortedWhilePending || error.reason !== reason) {
            wrong.push(
              `${what} got AbortError, but ${abortedWhilePending ? 'with another reason' : 'it was not aborted while pending'}`,
            );
          }
        } else {
          wrong.push(`${what} got ${error.name}: ${error.message}`);
        }
      }
      expect(wrong).toEqual([]);
      // A kill fails at most the one task its worker was running.
      expect([...exitedErrorsByPid].filter(([, count]) => count > 1)).toEqual([]);
      expect(counts.values + counts.workerExited + counts.timedOut + counts.aborted).toBe(taskCount);
      // Every hanging task ended by timeout, abort or kill; every timeout is a hanging task's.
      expect(counts.timedOut).toBeLessThanOrEqual(plans.filter((plan) => plan.kind === 'hang').length);

      // The workers the pool stopped or lost have all exited; `processes` are left.
      quiet = pDefer<void>();
      checkQuiet();
      await quiet.promise;

      // Back to full size: `processes` tasks run at once, each on its own ready worker.
      const final = Array.from({ length: processes }, (_, i) =>
        pool.applyAsync('reportAndWait', [barrier.path, `final-${i}`]),
      );
      const settledEarly = Promise.all(final.map((result) => result.get())).then(() => {
        throw new Error('The final tasks settled before all of them were running');
      });
      const reports = await Promise.race([barrier.take(processes), settledEarly]);
      const finalPids = reports.map((report) => report.pid);
      expect(new Set(finalPids).size).toBe(processes);
      expect(finalPids.every((pid) => started.has(pid) && !exited.has(pid))).toBe(true);
      const stats: PoolStats = pool.stats();
      expect(stats.workers).toEqual({ alive: processes, starting: 0, idle: 0, busy: processes });
      for (const report of reports) {
        report.socket.write('go\n');
      }
      expect((await Promise.all(final.map((result) => result.get()))).sort()).toEqual([...finalPids].sort());

      // The counters agree with what the callers saw.
      const after = pool.stats();
      expect(after).toMatchObject({ queued: 0, running: 0, workers: { alive: processes, idle: processes } });
      expect(after.completed).toBe(counts.values + processes);
      expect(after.failed).toBe(counts.workerExited + counts.timedOut + counts.aborted);
      expect(after.completed + after.failed).toBe(taskCount + processes);
      expect(after.replacements.timeout).toBe(counts.timedOut);
      expect(after.replacements.abort).toBeLessThanOrEqual(counts.aborted);
      expect(after.replacements.crash).toBeGreaterThanOrEqual(counts.workerExited);
      expect(after.replacements.crash).toBeLessThanOrEqual(killed.size);
      expect(after.replacements['max-tasks'] + after.replacements.memory).toBe(0);
      // Every exit so far was a replacement, counted under its reason, or a death before
      // ready (none is provoked here; one can follow outside interference).
      const { startup = 0, ...replacedFor } = Object.fromEntries(exitReasons);
      expect(replacedFor).toEqual(
        Object.fromEntries(Object.entries(after.replacements).filter(([, count]) => count > 0)),
      );
      expect(after.spawned).toBe(started.size);
      expect(after.spawned).toBe(processes + exited.size);

      // Every call took its listener off its signal.
      const listening = tracked.filter(
        ({ controller }) => controller !== undefined && getEventListeners(controller.signal, 'abort').length > 0,
      );
      expect(listening.map((entry) => entry.plan.id)).toEqual([]);

      console.log(
        `fault-injection seed=${seed} tasks=${taskCount} workers=${processes} kills=${killed.size} ` +
          `values=${counts.values} workerExited=${counts.workerExited} timeouts=${counts.timedOut} ` +
          `aborts=${counts.aborted} (fired ${abortsFired}, ${after.replacements.abort} running) ` +
          `spawned=${after.spawned} startupDeaths=${startup} settledTwice=0 lost=${taskCount - tracked.filter((entry) => entry.callbacks.length > 0).length}`,
      );
    } finally {
      await pool.terminate();
      await barrier.close();
    }
  }, 240_000);
});
