/**
 * What every benchmark case shares: the clocks (throughput, round trip, startup) and the
 * correctness check of the tiny-task workloads. Each clock returns one result object,
 * printed by the case as a JSON line:
 *
 *   { value, unit, higherIsBetter, check: { ok, ... } }
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export const processes = 2;
/** Sequential calls made before a round-trip clock starts. */
export const warmUpCalls = 2_000;
/**
 * Timed passes of a throughput workload, after its untimed one: at least `minTimedPasses`,
 * and more until they add up to `minTimedMs`. A pass of 20k tasks by `applyAsync` takes a
 * few hundred ms, and five of them are enough; a `map` pass of the same tasks takes about
 * 3 ms, and five of those (15 ms in all) measured this machine's scheduling more than the
 * pool: its ratio to CPython spread from 0.76× to 1.53× within one run.
 */
export const minTimedPasses = 5;
export const minTimedMs = 250;

/** Rounds of `processes` calls at once after which `warmUp` gives up on seeing every worker. */
const maxWarmUpRounds = 100_000;

/**
 * Warms a pool before a clock starts: rounds of `processes` calls at once to `callWorkerId()`
 * (tasks.js `workerId` through the pool) until every one of the `processes` workers has
 * answered one, so that none is still starting when the clock starts. Throws after
 * `maxWarmUpRounds` rounds without that.
 */
export async function warmUp(callWorkerId) {
  const seen = new Set();
  for (let round = 0; round < maxWarmUpRounds; round++) {
    for (const id of await Promise.all(Array.from({ length: processes }, () => callWorkerId()))) {
      seen.add(id);
    }
    if (seen.size >= processes) {
      return;
    }
  }
  throw new Error(
    `warm-up: ${seen.size} of ${processes} workers answered in ${maxWarmUpRounds} rounds of ${processes} calls`,
  );
}

/** Checks that `values[i] === 2 * i` for every i, and reports the sum against the expected one. */
export function checkDoubled(values, n) {
  let sum = 0;
  let inOrder = values.length === n;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (values[i] !== 2 * i) {
      inOrder = false;
    }
  }
  const expectedSum = n * (n - 1);
  return { ok: inOrder && sum === expectedSum, count: values.length, sum, expectedSum };
}

export function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const inputLists = new Map();

/**
 * The list 0 … n-1 that `map` and `imap` are given: made once per size and handed to every
 * pass, so that it is made in the untimed pass, not on the clock. Making 20,000 items takes
 * 1 to 2 ms here (docs/benchmarks.md has the command), a fifth of a `map` pass or more,
 * and is the caller's work, not the pool's; CPython's side is handed a `range`, which costs nothing to make. The pool does
 * not change the list, and every pass copies and chunks it anew.
 */
export function inputs(n) {
  let list = inputLists.get(n);
  if (list === undefined) {
    list = Array.from({ length: n }, (_, i) => i);
    inputLists.set(n, list);
  }
  return list;
}

/**
 * Times `run(n)`, which returns the results; the figure is tasks per second: the median of
 * the timed passes (at least `minTimedPasses`, adding up to `minTimedMs` or more), after
 * one untimed pass, so that what is timed is the steady state (JIT-compiled code on both
 * sides of the channel), not the warm-up. Every pass's results are checked.
 */
export async function throughput(n, run) {
  const checks = [checkDoubled(await run(n), n)];
  const rates = [];
  let timedMs = 0;
  while (rates.length < minTimedPasses || timedMs < minTimedMs) {
    const start = performance.now();
    const values = await run(n);
    const ms = performance.now() - start;
    timedMs += ms;
    rates.push(n / (ms / 1000));
    checks.push(checkDoubled(values, n));
  }
  const check = { ...checks.at(-1), ok: checks.every((c) => c.ok), passes: checks.length };
  return { value: median(rates), unit: 'tasks/s', higherIsBetter: true, check };
}

/** Times `n` sequential calls of `call(i)` after the warm-up; the figure is µs per call. */
export async function roundTrip(n, call) {
  for (let i = 0; i < warmUpCalls; i++) {
    await call(i);
  }
  const values = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    values.push(await call(i));
  }
  const micros = ((performance.now() - start) * 1000) / n;
  return { value: micros, unit: 'µs/call', higherIsBetter: false, check: checkDoubled(values, n) };
}

/** Times `n` lifetimes of `lifetime()` (which returns its first result, 42); the figure is the median, in ms. */
export async function startup(n, lifetime) {
  const times = [];
  const values = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    values.push(await lifetime());
    times.push(performance.now() - start);
  }
  const ok = values.every((value) => value === 42);
  return { value: median(times), unit: 'ms', higherIsBetter: false, check: { ok, count: values.length } };
}

// ── payload workloads: one value sent to `echo` and back ────────────────────────────────

/** The three payloads: a 1 MiB Buffer, a 1 MiB string, an array of 10,000 small objects. */
export const payloadKinds = ['buffer', 'string', 'objects'];

export function makePayload(kind) {
  switch (kind) {
    case 'buffer': {
      const buffer = Buffer.allocUnsafe(1 << 20);
      for (let i = 0; i < buffer.length; i++) {
        buffer[i] = (i * 31) & 0xff;
      }
      return buffer;
    }
    case 'string':
      return 'forkpool '.repeat(Math.ceil((1 << 20) / 9)).slice(0, 1 << 20);
    case 'objects':
      return Array.from({ length: 10_000 }, (_, i) => ({
        id: i,
        name: `item ${i}`,
        tags: ['a', 'b'],
        ok: i % 2 === 0,
      }));
    default:
      throw new Error(`Unknown payload kind ${kind}; expected one of ${payloadKinds.join(', ')}`);
  }
}

/** Whether `value` came back equal to `makePayload(kind)`, and of the same type. */
export function samePayload(kind, value) {
  const expected = makePayload(kind);
  switch (kind) {
    case 'buffer':
      return Buffer.isBuffer(value) && value.equals(expected);
    case 'string':
      return value === expected;
    case 'objects':
      return Array.isArray(value) && JSON.stringify(value) === JSON.stringify(expected);
    default:
      return false;
  }
}

/**
 * Sequential round trips of the payload `kind` through `call(payload)` (which resolves with
 * what came back): 5 warm-up, then `n` timed; the figure is ms per round trip.
 *
 * The check's `intact` says whether the last value came back equal to the payload and of
 * its type. By default `ok` is `intact`; `options.accept(value)` may accept a value that
 * arrived changed in a known way (a Buffer through JSON arrives as `{ type, data }`), in
 * which case `ok` is true and `intact` false, and the figure is no reference for that payload.
 */
export async function payloadRoundTrips(kind, n, call, options = {}) {
  const payload = makePayload(kind);
  for (let i = 0; i < 5; i++) {
    await call(payload);
  }
  let last;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    last = await call(payload);
  }
  const ms = (performance.now() - start) / n;
  const intact = samePayload(kind, last);
  const ok = intact || (options.accept ? options.accept(last) === true : false);
  return { value: ms, unit: 'ms/round trip', higherIsBetter: false, check: { ok, intact, count: n } };
}

// ── CPU workload: 200 tasks of about 5 ms of CPU each ───────────────────────────────────

/**
 * Timed passes of the CPU workload, after its first one: its figure is their median (an odd
 * number, so that the median is one pass). Each pass takes about 1.5 s (the serial run, then
 * the parallel one).
 */
export const cpuTimedPasses = 3;

/**
 * One pass: `burn(seed)` for seeds 1..n serially in this process, then `run(seeds)` (which
 * resolves with the results in order, computed by 2 workers). Its speed-up is serial time
 * over parallel time; `ok` when both results agree.
 */
async function cpuPass(n, burn, run) {
  const seeds = Array.from({ length: n }, (_, i) => i + 1);
  let start = performance.now();
  const serial = seeds.map((seed) => burn(seed));
  const serialMs = performance.now() - start;
  start = performance.now();
  const cpuBefore = process.cpuUsage();
  const parallel = await run(seeds);
  const parallelMs = performance.now() - start;
  const { user, system } = process.cpuUsage(cpuBefore);
  return {
    speedup: serialMs / parallelMs,
    ok: parallel.length === n && parallel.every((value, i) => value === serial[i]),
    count: parallel.length,
    serialMs,
    parallelMs,
    parentCpuMs: (user + system) / 1000,
  };
}

/**
 * The CPU workload, as a throughput workload is measured: a first pass, then
 * `cpuTimedPasses` more, whose median speed-up is the figure (the steady state of a
 * long-running process, its code and its workers' compiled). The first pass, the first
 * `map` of a fresh process, is reported beside it (`check.firstPass`): the parent's and the
 * workers' code still cold, it is what a script that makes one such call sees. Every pass's
 * results must agree with its serial run.
 */
export async function cpuSpeedup(n, burn, run) {
  const first = await cpuPass(n, burn, run);
  const timed = [];
  for (let i = 0; i < cpuTimedPasses; i++) {
    timed.push(await cpuPass(n, burn, run));
  }
  const mid = timed.sort((a, b) => a.speedup - b.speedup)[cpuTimedPasses >> 1];
  return {
    value: mid.speedup,
    unit: '× serial',
    higherIsBetter: true,
    check: {
      ok: first.ok && timed.every((pass) => pass.ok),
      count: mid.count,
      // Of the median pass. parentCpuMs: the CPU this process used meanwhile, handing out
      // tasks and reading answers on the cores the workers burn on (with a thread pool,
      // its workers' CPU too).
      serialMs: mid.serialMs,
      parallelMs: mid.parallelMs,
      parentCpuMs: mid.parentCpuMs,
      firstPass: first.speedup,
    },
  };
}

/**
 * What a worker spends between two tasks, seen from inside it: `run(tasks)` runs the n
 * tasks `[seed, iterations]` of tasks.js `timedBurn` (about 5 ms each) on the workers, the
 * next task always sent before the one running ends, and resolves with their results in
 * order. The figure is the time from one task's end to the next one's start on the same
 * worker (by its pid), by that worker's clock, averaged over every such pair: answering,
 * reading the next task and starting it, and whatever else ran on that core meanwhile.
 * `check.tasksPerWorker` says how the tasks were shared. Every value must be `burn`'s.
 */
export async function workerGap(n, burn, iterations, run) {
  const tasks = Array.from({ length: n }, (_, i) => [i + 1, iterations]);
  const results = await run(tasks);
  const byWorker = new Map();
  for (const result of results) {
    const ran = byWorker.get(result[3]);
    if (ran === undefined) {
      byWorker.set(result[3], [result]);
    } else {
      ran.push(result);
    }
  }
  let gapsMs = 0;
  let gaps = 0;
  for (const ran of byWorker.values()) {
    ran.sort((a, b) => a[1] - b[1]);
    for (let i = 1; i < ran.length; i++) {
      gapsMs += ran[i][1] - ran[i - 1][2];
      gaps++;
    }
  }
  const ok = results.length === n && results.every(([value], i) => value === burn(i + 1, iterations));
  return {
    value: (gapsMs / gaps) * 1000,
    unit: 'µs between tasks',
    higherIsBetter: false,
    check: { ok, count: results.length, tasksPerWorker: [...byWorker.values()].map((ran) => ran.length) },
  };
}

// ── memory workloads: idle worker RSS, parent peak RSS growth ───────────────────────────

const mebibyte = 1 << 20;

/** The resident set size of process `pid` in MiB, from /proc/<pid>/status (VmRSS); undefined when unreadable. */
export function rssMiBOf(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : undefined;
  } catch {
    return undefined; // the process exited, or there is no /proc
  }
}

/** How long the idle RSS workloads let the warmed-up workers settle before reading their RSS. */
export const idleSettleMs = 250;

/**
 * The average RSS of the processes `pids` (the 2 workers), read `idleSettleMs` after their
 * warm-up; the figure is MiB. The check needs exactly `processes` pids, every RSS readable.
 */
export async function idleRss(pids) {
  await new Promise((resolve) => setTimeout(resolve, idleSettleMs));
  const rss = pids.map((pid) => rssMiBOf(pid));
  const ok = pids.length === processes && rss.every((x) => x !== undefined && x > 0);
  return {
    value: ok ? rss.reduce((a, b) => a + b, 0) / rss.length : NaN,
    unit: 'MiB',
    higherIsBetter: false,
    check: { ok, count: pids.length, rssMiB: rss },
  };
}

/** The `chunksize` of the `imap-1m` workload (1 would make it a million IPC messages each way). */
export const imapMillionChunksize = 100;

/** A generator of 0, 1, …, n - 1: the lazy input of the `imap-1m` workload. */
export function* counting(n) {
  for (let i = 0; i < n; i++) {
    yield i;
  }
}

/**
 * Runs `run(n, onValue)`, which makes a pool, feeds it a lazy input of n items and passes
 * every result in order to `onValue`; each must be `2 * i`, and their sum n(n - 1). The
 * figure is this process's peak RSS growth in MiB: `process.resourceUsage().maxRSS` at the
 * end minus the RSS just before `run` (which makes the pool) was called.
 */
export async function peakRssGrowth(n, run) {
  const before = process.memoryUsage.rss();
  let count = 0;
  let sum = 0;
  let inOrder = true;
  const start = performance.now();
  await run(n, (value) => {
    if (value !== 2 * count) {
      inOrder = false;
    }
    sum += value;
    count++;
  });
  const seconds = (performance.now() - start) / 1000;
  const peak = process.resourceUsage().maxRSS * 1024;
  const expectedSum = n * (n - 1);
  return {
    value: (peak - before) / mebibyte,
    unit: 'MiB',
    higherIsBetter: false,
    check: {
      ok: inOrder && count === n && sum === expectedSum,
      count,
      sum,
      expectedSum,
      rssBeforeMiB: before / mebibyte,
      peakRssMiB: peak / mebibyte,
      tasksPerSecond: n / seconds,
    },
  };
}
