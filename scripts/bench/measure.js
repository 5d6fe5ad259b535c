/**
 * What every benchmark case shares: the clocks (throughput, round trip, startup) and the
 * correctness check of the tiny-task workloads. Each clock returns one result object,
 * printed by the case as a JSON line:
 *
 *   { value, unit, higherIsBetter, check: { ok, ... } }
 */
import { performance } from 'node:perf_hooks';

export const processes = 2;
/** Sequential calls made before a round-trip clock starts. */
export const warmUpCalls = 200;

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

export const inputs = (n) => Array.from({ length: n }, (_, i) => i);

/** Times `run(n)`, which returns the results; the figure is tasks per second. */
export async function throughput(n, run) {
  const start = performance.now();
  const values = await run(n);
  const seconds = (performance.now() - start) / 1000;
  return { value: n / seconds, unit: 'tasks/s', higherIsBetter: true, check: checkDoubled(values, n) };
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
