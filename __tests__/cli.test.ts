/**
 * `forkpool-map`, end to end: the compiled CLI (dist/lib/cli.js) run as a user runs it,
 * over the fixture module __tests__/fixtures/cli-tasks.js, reading JSON lines from a file
 * or a pipe and writing JSON lines to a pipe.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, isAlive } from './helpers/processes.js';

expectNoLeakedWorkers();

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const cli = join(repoRoot, 'dist/lib/cli.js');
const tasks = fileURLToPath(fixture('cli-tasks.js'));
/** Jest's NODE_OPTIONS (--experimental-vm-modules …) are not what a user runs with. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'NODE_OPTIONS'));

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [cli, ...args], { cwd: repoRoot, env: { ...cleanEnv, ...env } });
  child.stdin.on('error', () => {}); // a CLI that exits early (a usage error, a signal) closes it
  return child;
}

/** Runs the CLI to its end with `input` on stdin. */
async function run(args: readonly string[], input = '', env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const child = start(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (data: string) => (stdout += data));
  child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  child.stdin.end(input);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stdout, stderr };
}

const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');
const parsed = (text: string): unknown[] => lines(text).map((line) => JSON.parse(line) as unknown);

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'forkpool-cli-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function inputFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('output', () => {
  test('in input order, one JSON line per input line, read from a file; nothing on stderr', async () => {
    const file = inputFile('numbers.jsonl', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].join('\n') + '\n');
    const result = await run([tasks, 'squareLater', file]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe('1\n4\n9\n16\n25\n36\n49\n64\n81\n100\n');
  });

  test('from stdin (no file, or "-"), skipping blank lines, also with CRLF and no final newline', async () => {
    const input = '2\n\n   \n3\r\n\r\n4';
    for (const args of [
      [tasks, 'square'],
      [tasks, 'square', '-'],
    ]) {
      const result = await run(args, input);
      expect(result).toMatchObject({ code: 0, stderr: '', stdout: '4\n9\n16\n' });
    }
  });

  test('--unordered: every line is {"index", "value"}, the index counting non-blank input lines from 0', async () => {
    const input = '1\n2\n\n3\n4\n5\n6\n';
    const result = await run(['--unordered', '--processes', '2', tasks, 'squareLater'], input);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const records = parsed(result.stdout) as { index: number; value: number }[];
    for (const record of records) {
      expect(Object.keys(record)).toEqual(['index', 'value']);
    }
    expect(records.sort((a, b) => a.index - b.index)).toEqual(
      [1, 4, 9, 16, 25, 36].map((value, index) => ({ index, value })),
    );
  });

  test('--spread calls fn(...array); a line that is not an array is the one argument; without it the array is one argument', async () => {
    const input = '[1, 2]\n[3, 4]\n5\n[]\n';
    const spread = await run(['--spread', tasks, 'args'], input);
    expect(spread).toMatchObject({ code: 0, stderr: '' });
    expect(parsed(spread.stdout)).toEqual([[1, 2], [3, 4], [5], []]);

    const plain = await run([tasks, 'args'], input);
    expect(parsed(plain.stdout)).toEqual([[[1, 2]], [[3, 4]], [5], [[]]]);

    const added = await run(['--spread', tasks, 'add'], '[1, 2]\n[30, 12]\n');
    expect(added.stdout).toBe('3\n42\n');
  });

  test('undefined is written as null; what the function prints to stdout goes to stderr, not into the results', async () => {
    const nothing = await run([tasks, 'nothing'], '1\n2\n');
    expect(nothing).toMatchObject({ code: 0, stdout: 'null\nnull\n' });

    const noisy = await run(['--processes', '1', tasks, 'noisy'], '"a"\n"b"\n');
    expect(noisy).toMatchObject({ code: 0, stdout: '"a"\n"b"\n' });
    expect(noisy.stderr).toBe('noise from a\nmore noise\nnoise from b\nmore noise\n');
  });
});

describe('failing lines', () => {
  const errorOfChecked = (x: number) => ({
    error: { name: 'RangeError', message: `negative: ${x}`, code: 'E_NEGATIVE' },
  });

  test('a line whose call throws is {"error": {name, message, code}} at its position; the rest go on; exit 1', async () => {
    const result = await run([tasks, 'checked'], '1\n-2\n3\n-4\n5\n');
    expect(result).toMatchObject({ code: 1, stderr: '' });
    expect(parsed(result.stdout)).toEqual([2, errorOfChecked(-2), 6, errorOfChecked(-4), 10]);
  });

  test('in a chunk of several lines, only the failing line fails', async () => {
    const result = await run(['--chunksize', '3', tasks, 'checked'], '1\n2\n-3\n4\n5\n6\n7\n');
    expect(result.code).toBe(1);
    expect(parsed(result.stdout)).toEqual([2, 4, errorOfChecked(-3), 8, 10, 12, 14]);
  });

  test('--unordered: a failing line is {"index", "error"}', async () => {
    const result = await run(['--unordered', tasks, 'checked'], '1\n-2\n3\n');
    expect(result.code).toBe(1);
    const records = (parsed(result.stdout) as { index: number }[]).sort((a, b) => a.index - b.index);
    expect(records).toEqual([
      { index: 0, value: 2 },
      { index: 1, ...errorOfChecked(-2) },
      { index: 2, value: 6 },
    ]);
  });

  test('a line of invalid JSON is a SyntaxError at its position, not a crash', async () => {
    const result = await run([tasks, 'square'], '2\n{oops\n3\n');
    expect(result.code).toBe(1);
    const [first, bad, last] = parsed(result.stdout) as [number, { error: { name: string; message: string } }, number];
    expect([first, last]).toEqual([4, 9]);
    expect(bad.error.name).toBe('SyntaxError');
    expect(bad.error.message).toMatch(/JSON/);
  });

  test('a result JSON cannot hold (a BigInt) is an error of its line', async () => {
    const result = await run([tasks, 'big'], '1\n');
    expect(result.code).toBe(1);
    expect(parsed(result.stdout)).toEqual([
      { error: { name: 'TypeError', message: expect.stringContaining('BigInt') } },
    ]);
  });

  test('a worker that dies on a line fails that line with WorkerExitedError; a replacement takes the next', async () => {
    const result = await run(['--processes', '1', tasks, 'act'], '"pid"\n"exit"\n"pid"\n');
    expect(result.code).toBe(1);
    const [before, died, after] = parsed(result.stdout) as [number, { error: Record<string, unknown> }, number];
    expect(died.error).toMatchObject({ name: 'WorkerExitedError', code: 'ERR_WORKER_EXITED' });
    expect(after).not.toBe(before);
    expect([before, after].filter(isAlive)).toEqual([]);
  });

  // The hanging line is sure to pass the limit; the other one is a function call that
  // returns at once, given a second on a loaded machine.
  test('--timeout: a line past it fails with TaskTimeoutError; the next line runs on a replacement', async () => {
    const result = await run(['--processes', '1', '--timeout', '1000', tasks, 'act'], '"hang"\n"after"\n');
    expect(result.code).toBe(1);
    const [timedOut, after] = parsed(result.stdout) as [{ error: Record<string, unknown> }, string];
    expect(timedOut.error).toMatchObject({ name: 'TaskTimeoutError', code: 'ERR_TASK_TIMEOUT' });
    expect(after).toBe('after');
  });

  test('--stop-on-error writes the results before the first failing line, reports it on stderr and exits 1', async () => {
    const result = await run(['--stop-on-error', tasks, 'checked'], '1\n2\n-3\n4\n-5\n6\n');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('2\n4\n');
    expect(result.stderr).toBe(
      'forkpool-map: item 2 failed (--stop-on-error): RangeError: negative: -3 [E_NEGATIVE]\n',
    );
  });

  test('workers that cannot load the module end the run: exit 1 with the reason', async () => {
    const result = await run([tasks, 'square'], '1\n2\n', { CLI_TASKS_THROW_IN_WORKERS: '1' });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^forkpool-map: PoolWorker-\d+ failed to start: .*cli-tasks refuses to load in a worker/,
    );
  });
});

describe('usage errors exit 2 before any work', () => {
  test("an unknown export: the message lists the module's exported functions", async () => {
    const result = await run([tasks, 'cube'], '1\n');
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toContain(`The module ${tasks} has no exported function \`cube\``);
    expect(result.stderr).toContain(
      'Its exported functions: act, add, args, big, checked, noisy, nothing, square, squareLater',
    );
    expect(result.stderr).toContain("Try 'forkpool-map --help'");
  });

  test('an export that is not a function says what it is', async () => {
    const result = await run([tasks, 'notAFunction']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('has no exported function `notAFunction` (it is a number)');
  });

  test.each([
    ['a missing module', ['./no-such-module.js', 'square'], /Cannot find the module .*no-such-module\.js/],
    [
      'a missing input file',
      [tasks, 'square', 'no-such-input.jsonl'],
      /Cannot read the input file .*no-such-input\.jsonl/,
    ],
    [
      'an input file that is a directory',
      [tasks, 'square', '__tests__'],
      /Cannot read the input file .*__tests__: it is a directory/,
    ],
    ['an unknown option', ['--fast', tasks, 'square'], /Unknown option '--fast'/],
    ['no export', [tasks], /Expected <module> and <export>/],
    ['too many arguments', [tasks, 'square', 'a', 'b'], /at most 3 arguments/],
    ['--processes 0', ['--processes', '0', tasks, 'square'], /Expected --processes to be an integer >= 1, got "0"/],
    [
      '--chunksize 1.5',
      ['--chunksize', '1.5', tasks, 'square'],
      /Expected --chunksize to be an integer >= 1, got "1.5"/,
    ],
    ['--timeout without a value', [tasks, 'square', '--timeout'], /--timeout/],
  ])('%s', async (_, args, message) => {
    const result = await run(args);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(message);
  });
});

describe('--help and --version', () => {
  test('--help shows usage, every option with its default, exit statuses and examples', async () => {
    for (const flag of ['--help', '-h']) {
      const result = await run([flag]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(/^Usage: forkpool-map \[options\] <module> <export> \[file\]/);
      for (const option of [
        '--processes N',
        '--chunksize N',
        '--max-tasks-per-child N',
        '--timeout MS',
        '--spread',
        '--unordered',
        '--stop-on-error',
        '--help',
        '--version',
      ]) {
        expect(result.stdout).toContain(option);
      }
      const optionsSection = result.stdout.slice(
        result.stdout.indexOf('Options:'),
        result.stdout.indexOf('-h, --help'),
      );
      expect(optionsSection.match(/\(default:/g)).toHaveLength(7);
      expect(result.stdout).toContain('Exit status');
      expect(result.stdout).toContain('Examples:');
    }
  });

  test('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const result = await run(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});

describe('streaming', () => {
  // --chunksize 200: 200,000 calls one by one are IPC-bound and slow on a loaded machine;
  // what is tested here is the stream, not the chunking.
  test('200,000 lines through a pipe, fed as the CLI reads them, come out all, in order', async () => {
    const count = 200_000;
    const child = start(['--chunksize', '200', tasks, 'square']);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
    // pipe() writes only as fast as the CLI reads: the input is never held whole, here or there.
    Readable.from(
      (function* () {
        for (let i = 1; i <= count; i++) {
          yield `${i}\n`;
        }
      })(),
    ).pipe(child.stdin);

    let seen = 0;
    let wrong: string | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      seen++;
      if (wrong === undefined && line !== String(seen * seen)) {
        wrong = `line ${seen}: ${line}`;
      }
    }
    const [code] = (await once(child, 'close')) as [number | null];
    expect({ code, stderr, seen, wrong }).toEqual({ code: 0, stderr: '', seen: count, wrong: undefined });
  });
});

describe('no worker is left', () => {
  const pidsOf = (stdout: string) => [...new Set(parsed(stdout) as number[])];

  test('after a run that ends normally', async () => {
    const result = await run(['--processes', '2', tasks, 'act'], '"pid"\n'.repeat(20));
    expect(result.code).toBe(0);
    const pids = pidsOf(result.stdout);
    expect(pids.length).toBeGreaterThan(0);
    expect(pids.filter(isAlive)).toEqual([]);
  });

  test('after --stop-on-error, with a line still running', async () => {
    const child = start(['--processes', '2', '--unordered', '--stop-on-error', tasks, 'act']);
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (data: string) => (stdout += data));
    const stderr = createInterface({ input: child.stderr })[Symbol.asyncIterator]();
    child.stdin.write('"hang"\n');
    const hanging = await stderr.next();
    const pid = Number(/^hanging in (\d+)$/.exec(hanging.value as string)?.[1]);
    expect(isAlive(pid)).toBe(true);
    child.stdin.write('"throw"\n'); // stdin stays open: the stop ends the run
    const rest = [];
    for await (const line of { [Symbol.asyncIterator]: () => stderr }) {
      rest.push(line);
    }
    const [code] = (await once(child, 'close')) as [number | null];
    expect({ code, stdout, rest }).toEqual({
      code: 1,
      stdout: '',
      rest: ['forkpool-map: item 1 failed (--stop-on-error): Error: thrown on request'],
    });
    expect(isAlive(pid)).toBe(false);
  });

  test.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('after %s, with a line running: exit %i', async (signal, status) => {
    const child = start(['--processes', '1', '--unordered', tasks, 'act']);
    child.stdin.write('"pid"\n"hang"\n'); // stdin stays open: the run would never end by itself
    const output = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await output.next();
    const pid = (JSON.parse(first.value as string) as { value: number }).value;
    expect(isAlive(pid)).toBe(true);
    child.kill(signal);
    const [code] = (await once(child, 'close')) as [number | null];
    expect(code).toBe(status);
    expect(isAlive(pid)).toBe(false);
  });
});
