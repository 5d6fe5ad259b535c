/**
 * The task module of the forkpool benchmark cases: every pool worker imports it, and the
 * cases pass these functions by reference, as CPython's pool pickles a module-level function.
 * The peer libraries' worker scripts (scripts/bench/peer-workers/) import the same functions.
 */
export function double(x) {
  return x * 2;
}

/** Returns its argument: the payload workloads measure the trip there and back. */
export function echo(value) {
  return value;
}

/** Iterations of `burn` that take about 5 ms of CPU on the benchmark machine (2-core AMD EPYC). */
export const burnIterations = 3_000_000;

/**
 * A fixed amount of CPU work (not a timed spin, so a busy machine slows it instead of
 * shortening it): `iterations` steps of xorshift32 from `seed`; returns the final state.
 */
export function burn(seed, iterations = burnIterations) {
  let x = seed | 0 || 1;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x >>> 0;
}
