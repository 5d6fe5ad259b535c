/**
 * The first example of Python's `multiprocessing.Pool` documentation, ported: `map` over
 * `cpuCount() * 2` workers, each greeting from its initializer.
 *
 * This script is also the pool's task module (`module: import.meta.url`). Every worker
 * imports it, so the code that creates the pool sits behind the `MainProcess` guard, the
 * counterpart of Python's `if __name__ == '__main__':`. `doCalculation` and `startProcess`
 * are exports of the task module, so the pool sends them by reference (by name), and in
 * the worker they run with this module's imports in scope.
 *
 * Run: `npm run build && node scripts/example-map.js`
 */
import { Pool, cpuCount, currentProcess } from '../dist/lib/index.js';

export function doCalculation(data) {
  return data * 2;
}

export function startProcess() {
  console.log('Starting', currentProcess().name);
}

/** A list of numbers as Python prints it: `[0, 2, 4]`. */
const repr = (list) => `[${list.join(', ')}]`;

if (currentProcess().name === 'MainProcess') {
  const inputs = Array.from({ length: 10 }, (_, i) => i);
  console.log('Inputs  :', repr(inputs));

  const builtinOutput = inputs.map(doCalculation);
  console.log('Build-In :', repr(builtinOutput));

  const poolSize = cpuCount() * 2;
  const pool = new Pool({ processes: poolSize, module: import.meta.url, initializer: startProcess });

  const poolOutputs = await pool.map(doCalculation, inputs);
  pool.close();
  await pool.join();

  console.log('Pool  :', repr(poolOutputs));
}
