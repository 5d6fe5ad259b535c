/**
 * The second example of Python's `multiprocessing.Pool` documentation, ported: the same
 * `map` as example-map.js, with `maxTasksPerChild: 2`. A worker exits after two tasks and
 * a new one, with the next `PoolWorker-N` name, takes its place, so ten tasks start more
 * workers than the pool's size.
 *
 * This script is also the pool's task module: see example-map.js for the `MainProcess`
 * guard and how `doCalculation` and `startProcess` reach the workers.
 *
 * Run: `npm run build && node scripts/example-maxtasks.js`
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
  const pool = new Pool({
    processes: poolSize,
    module: import.meta.url,
    initializer: startProcess,
    maxTasksPerChild: 2,
  });

  const poolOutputs = await pool.map(doCalculation, inputs);
  pool.close();
  await pool.join();

  console.log('Pool  :', repr(poolOutputs));
}
