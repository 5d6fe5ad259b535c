/**
 * The benchmark harness still runs: small cases (200 `apply` round trips, a payload echoed
 * by forkpool and by the raw baseline, the naive fork loop) each print, in a process of
 * their own, one JSON line whose correctness check passed; the driver's partial run prints
 * its page without writing docs/. No timing is asserted — a benchmark is not a test;
 * `npm run bench` is where figures come from.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@jest/globals';
import { expectNoLeakedWorkers, killLeftoversAfterEach } from './helpers/processes.js';

expectNoLeakedWorkers();
const { started } = killLeftoversAfterEach();

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runScript(script: string, args: string[]): Promise<Run> {
  // Jest's NODE_OPTIONS (--experimental-vm-modules …) are not the user's: leave them out.
  const { NODE_OPTIONS: _, ...env } = process.env;
  return new Promise((resolve) => {
    const child: ChildProcess = execFile(
      process.execPath,
      [script, ...args],
      { cwd: repoRoot, env, maxBuffer: 16 << 20 },
      (_error, stdout, stderr) => {
        resolve({ code: child.exitCode, stdout, stderr });
      },
    );
    started.add(child);
  });
}

const runCase = (args: string[]): Promise<Run> => runScript('scripts/bench/case.js', args);

function onlyLine(run: Run): { value: unknown } {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? '');
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

test.each([['forkpool'], ['raw-advanced']])(
  'case.js %s payload-buffer --n 2 brings the 1 MiB Buffer back intact',
  async (library) => {
    const result = onlyLine(await runCase([library, 'payload-buffer', '--n', '2']));
    expect(result).toMatchObject({
      library,
      workload: 'payload-buffer',
      n: 2,
      unit: 'ms/round trip',
      check: { ok: true, intact: true, count: 2 },
    });
    expect(typeof result.value).toBe('number');
  },
);

test('case.js raw-json payload-buffer --n 1: the Buffer arrives through JSON as { type, data }, so not intact', async () => {
  const result = onlyLine(await runCase(['raw-json', 'payload-buffer', '--n', '1']));
  expect(result).toMatchObject({ library: 'raw-json', check: { ok: true, intact: false, count: 1 } });
});

test('case.js raw-json naive-2-lanes --n 4 forks one child per task and checks every result', async () => {
  const result = onlyLine(await runCase(['raw-json', 'naive-2-lanes', '--n', '4']));
  expect(result).toMatchObject({
    library: 'raw-json',
    workload: 'naive-2-lanes',
    n: 4,
    unit: 'tasks/s',
    check: { ok: true, count: 4, sum: 4 * 3, expectedSum: 4 * 3 },
  });
  expect(typeof result.value).toBe('number');
});

test.each([['forkpool'], ['raw-json']])(
  'case.js %s worker-gap --n 4 runs the timed tasks on one worker and checks their values',
  async (library) => {
    const result = onlyLine(await runCase([library, 'worker-gap', '--n', '4']));
    expect(result).toMatchObject({
      library,
      workload: 'worker-gap',
      n: 4,
      unit: 'µs between tasks',
      check: { ok: true, count: 4 },
    });
    expect(result.value).toBeGreaterThan(0);
  },
);

test.each([['forkpool'], ['raw-json']])(
  'case.js %s cpu-gap --n 4 runs the timed tasks on both workers and checks their values',
  async (library) => {
    const result = onlyLine(await runCase([library, 'cpu-gap', '--n', '4']));
    expect(result).toMatchObject({ library, workload: 'cpu-gap', n: 4, check: { ok: true, count: 4 } });
    const { tasksPerWorker } = (result as { value: unknown; check: { tasksPerWorker: number[] } }).check;
    expect(tasksPerWorker.reduce((sum, count) => sum + count, 0)).toBe(4);
    expect(tasksPerWorker.length).toBeLessThanOrEqual(2);
    expect(result.value).toBeGreaterThan(0);
  },
);

test('case.js raw-json cpu-in-flight --n 6 hands the CPU tasks out two in flight per child and checks them', async () => {
  const result = onlyLine(await runCase(['raw-json', 'cpu-in-flight', '--n', '6']));
  expect(result).toMatchObject({
    library: 'raw-json',
    workload: 'cpu-in-flight',
    n: 6,
    unit: '× serial',
    check: { ok: true, count: 6 },
  });
  expect(result.value).toBeGreaterThan(0);
});

test('case.js forkpool cpu --n 4 reports the median of the timed passes and the first pass beside it', async () => {
  const result = onlyLine(await runCase(['forkpool', 'cpu', '--n', '4']));
  expect(result).toMatchObject({ library: 'forkpool', workload: 'cpu', n: 4, check: { ok: true, count: 4 } });
  const { check } = result as { value: unknown; check: { firstPass: unknown; serialMs: number; parallelMs: number } };
  expect(result.value).toBeCloseTo(check.serialMs / check.parallelMs, 10);
  expect(typeof check.firstPass).toBe('number');
  expect(check.firstPass).toBeGreaterThan(0);
});

test.each([['forkpool'], ['raw-json'], ['raw-advanced']])(
  "case.js %s cpu-map --n 16 runs the CPU tasks in map's default chunks and checks every value",
  async (library) => {
    const result = onlyLine(await runCase([library, 'cpu-map', '--n', '16']));
    expect(result).toMatchObject({
      library,
      workload: 'cpu-map',
      n: 16,
      unit: '× serial',
      check: { ok: true, count: 16 },
    });
    expect(result.value).toBeGreaterThan(0);
  },
);

test('run.js --only idle-rss --libraries raw-json --reps 1 prints its page and leaves docs/ alone', async () => {
  const docs = (file: string): string | undefined => {
    try {
      return readFileSync(new URL(`../docs/${file}`, import.meta.url), 'utf8');
    } catch {
      return undefined;
    }
  };
  const before = [docs('benchmarks.md'), docs('benchmarks.svg')];
  const run = await runScript('scripts/bench/run.js', ['--only', 'idle-rss', '--libraries', 'raw-json', '--reps', '1']);
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('## Status');
  expect(run.stdout).toMatch(/\| raw \(json\), bare forked child \| \d/);
  expect(run.stdout).toContain('<!-- levers:start -->');
  expect(run.stderr).toContain('Partial run: docs/benchmarks.md not written');
  expect([docs('benchmarks.md'), docs('benchmarks.svg')]).toEqual(before);
});
