/**
 * The example scripts (scripts/example-*.js) run as a user runs them, `node scripts/…`
 * from the repository root, and print what Python's versions print. Their workers'
 * console output reaching this stdout is part of what is checked.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { cpuCount } from '../lib/index.js';
import { expectNoLeakedWorkers } from './helpers/processes.js';

expectNoLeakedWorkers();

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
}

/** Runs `node scripts/<name>` to its end; never rejects, so the exit code can be asserted. */
function runScript(name: string): Promise<Run> {
  // Jest's NODE_OPTIONS (--experimental-vm-modules …) are not the user's: leave them out.
  const { NODE_OPTIONS: _, ...env } = process.env;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [`scripts/${name}`], { cwd: repoRoot, env }, (_error, stdout, stderr) => {
      resolve({ code: child.exitCode, signal: child.signalCode, lines: stdout.split('\n').slice(0, -1), stderr });
    });
  });
}

const inputsLine = 'Inputs  : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]';
const outputsList = '[0, 2, 4, 6, 8, 10, 12, 14, 16, 18]';

/** Checks the frame of the two `map` examples and returns the worker numbers of the `Starting` lines. */
function startedWorkers(run: Run): number[] {
  expect(run.stderr).toBe('');
  expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
  expect(run.lines[0]).toBe(inputsLine);
  expect(run.lines[1]).toBe(`Build-In : ${outputsList}`);
  expect(run.lines.at(-1)).toBe(`Pool  : ${outputsList}`);
  const starting = run.lines.slice(2, -1);
  for (const line of starting) {
    expect(line).toMatch(/^Starting PoolWorker-\d+$/);
  }
  return starting.map((line) => Number(line.slice('Starting PoolWorker-'.length)));
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('scripts/example-map.js', () => {
  test('prints the inputs, both outputs, and one Starting line per worker of cpuCount() * 2', async () => {
    const workers = startedWorkers(await runScript('example-map.js'));
    expect(workers.toSorted((a, b) => a - b)).toEqual(range(1, cpuCount() * 2));
  });
});

describe('scripts/example-maxtasks.js', () => {
  test('starts more workers than the pool size, numbered from 1 without gaps, each once', async () => {
    const workers = startedWorkers(await runScript('example-maxtasks.js'));
    expect(workers.length).toBeGreaterThan(cpuCount() * 2);
    expect(workers.toSorted((a, b) => a - b)).toEqual(range(1, workers.length));
  });
});

describe('scripts/example-apply-async.js', () => {
  test('prints every message three times, then every result in submission order', async () => {
    const run = await runScript('example-apply-async.js');
    expect(run.stderr).toBe('');
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
    const messages = range(0, 9).map((i) => `hello ${i}`);
    expect(run.lines).toHaveLength(30 + 10 + 1);
    expect(run.lines.slice(0, 30).toSorted()).toEqual(messages.flatMap((msg) => [msg, msg, msg]).toSorted());
    expect(run.lines.slice(30, 40)).toEqual(messages.map((msg) => `done ${msg}`));
    expect(run.lines.at(-1)).toBe('Sub-process(es) done.');
  });
});
