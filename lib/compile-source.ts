/**
 * Turns the source text of a function back into a function, in the global scope. Used by
 * workers to run functions sent by source, and by the pool to refuse at the call a
 * function that could not be compiled there.
 */

/** `Function.prototype.toString` of native and bound functions. */
const nativeCode = /\{\s*\[native code\]\s*\}\s*$/;

export function isNativeSource(source: string): boolean {
  return nativeCode.test(source);
}

// Indirect eval: global scope, no access to this module's variables.
const globalEval = eval;

/**
 * Compiles `function f() {}`, `async (x) => x`, `class A {}` and also method shorthand
 * (`name(x) {}`, `async *name() {}`), which is not an expression on its own.
 * Throws `SyntaxError` (or `TypeError` for native code) when it cannot.
 */
export function compileSource(source: string): (...args: unknown[]) => unknown {
  if (isNativeSource(source)) {
    throw new TypeError('native and bound functions have no source to send');
  }
  let compiled: unknown;
  try {
    compiled = globalEval(`(${source}\n)`);
  } catch (error) {
    if (!(error instanceof SyntaxError)) {
      throw error;
    }
    // Method shorthand only parses inside an object literal.
    const holder = globalEval(`({${source}\n})`) as object;
    compiled = Object.values(Object.getOwnPropertyDescriptors(holder))[0]?.value;
  }
  if (typeof compiled !== 'function') {
    throw new TypeError(`source does not define a function: ${source.slice(0, 80)}`);
  }
  return compiled as (...args: unknown[]) => unknown;
}
