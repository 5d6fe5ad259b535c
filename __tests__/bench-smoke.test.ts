/**
 * The benchmark harness still runs: one small case (200 `apply` round trips) in its own
 * process prints one JSON line whose correctness check passed. No timing is asserted — a
 * benchmark is not a test; `npm run bench` is where figures come from.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@jest/globals';
import { expectNoLeakedWorkers } from './helpers/processes.js';

expectNoLeakedWorkers();

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCase(args: string[]): Promise<Run> {
  // Jest's NODE_OPTIONS (--experimental-vm-modules …) are not the user's: leave them out.
  const { NODE_OPTIONS: _, ...env } = process.env;
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['scripts/bench/case.js', ...args],
      { cwd: repoRoot, env },
      (_error, stdout, stderr) => {
        resolve({ code: child.exitCode, stdout, stderr });
      },
    );
  });
}

test('case.js forkpool tiny-apply --n 200 prints one JSON line with a passed check', async () => {
  const run = await runCase(['forkpool', 'tiny-apply', '--n', '200']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const result = JSON.parse(lines[0] ?? '');
  expect(result).toMatchObject({
    library: 'forkpool',
    workload: 'tiny-apply',
    n: 200,
    unit: 'µs/call',
    check: { ok: true, count: 200, sum: 200 * 199, expectedSum: 200 * 199 },
  });
  expect(typeof result.value).toBe('number');
});
