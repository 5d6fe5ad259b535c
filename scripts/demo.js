/**
 * `npm run demo`: runs the three ported examples of Python's `multiprocessing.Pool`
 * documentation one after the other, each in its own Node.js process as Python runs each
 * script, so worker numbering starts at `PoolWorker-1` in each.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const examples = [
  ['example-map.js', 'map with an initializer, processes = cpuCount() * 2'],
  ['example-maxtasks.js', 'the same with maxTasksPerChild: 2'],
  ['example-apply-async.js', 'applyAsync on 4 processes, then get() every result'],
];

for (const [index, [script, title]] of examples.entries()) {
  if (index > 0) {
    console.log();
  }
  console.log(`== scripts/${script}: ${title}`);
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url))], { stdio: 'inherit' });
  const [code, signal] = await once(child, 'exit');
  if (code !== 0) {
    console.error(`scripts/${script} failed: ${signal === null ? `exit code ${code}` : `signal ${signal}`}`);
    process.exit(1);
  }
}
