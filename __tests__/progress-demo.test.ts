/** scripts/progress-bar.js: a long map reports its progress, ending at the total. (Coalescing: unit/progress.test.ts.) */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from '@jest/globals';
import { expectNoLeakedWorkers } from './helpers/processes.js';

expectNoLeakedWorkers();

const script = fileURLToPath(new URL('../scripts/progress-bar.js', import.meta.url));

test('the progress bar counts up, in order, to every item', async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, '600'], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const lines = stderr.trim().split('\n');
  expect(lines.at(-1)).toBe(`[${'#'.repeat(40)}] 600/600 done`);
  const done = lines.map((line) => Number(/\] (\d+)\/600 done$/.exec(line)![1]));
  expect(done).toEqual([...done].sort((a, b) => a - b));
  expect(stdout).toMatch(/^600 results, first \d+, last \d+\n$/);
});
