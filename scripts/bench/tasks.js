/**
 * The task module of the forkpool benchmark cases: every pool worker imports it, and the
 * cases pass `double` by reference, as CPython's pool pickles a module-level function.
 */
export function double(x) {
  return x * 2;
}
