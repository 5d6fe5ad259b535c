/**
 * The task module of the forkpool benchmark cases: every pool worker imports it, and the
 * cases pass these functions by reference, as CPython's pool pickles a module-level function.
 * The peer libraries' worker scripts (scripts/bench/peer-workers/) import the same functions.
 */
import { threadId } from 'node:worker_threads';

export function double(x) {
  return x * 2;
}

/** Returns its argument: the payload workloads measure the trip there and back. */
export function echo(value) {
  return value;
}

/**
 * Which worker ran the call: its process id, and its thread id (0 in a child process; a
 * thread pool's workers share one process). The warm-up calls it until every worker has answered.
 */
export function workerId() {
  return `${process.pid}/${threadId}`;
}

/** Iterations of `burn` that take about 5 ms of CPU on the benchmark machine (2-core AMD EPYC). */
export const burnIterations = 3_000_000;

/**
 * A fixed amount of CPU work (not a timed spin, so a busy machine slows it instead of
 * shortening it): `iterations` steps of xorshift32 from `seed`; returns the final state.
 *
 * The state is kept unsigned inside the loop, and returned as it is. Written the usual way,
 * with `x >>> 0` only after the loop, V8 compiles the loop on the first call (on-stack
 * replacement) before that line has ever run, and in some processes the code it keeps then
 * deoptimizes at the end of every later call (node --trace-deopt shows one bailout per
 * call, "Insufficient type feedback for binary operation"): a cost that comes and goes from
 * run to run, whatever runs the task, and that the benchmark should not measure.
 */
export function burn(seed, iterations = burnIterations) {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < iterations; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
  }
  return x;
}

/**
 * `burn(seed, iterations)`, when it started and ended by this process's clock, in
 * milliseconds since the epoch, and which process ran it: `[value, startedAt, endedAt,
 * pid]` (the `worker-gap` and `cpu-gap` workloads).
 */
export function timedBurn(seed, iterations) {
  const startedAt = performance.timeOrigin + performance.now();
  const value = burn(seed, iterations);
  return [value, startedAt, performance.timeOrigin + performance.now(), process.pid];
}
