/**
 * A task module written in TypeScript (`.ts`), with no build step: it works when the
 * workers have a TypeScript loader, which they inherit from a parent run with tsx
 * (`node --import tsx main.ts`, `NODE_OPTIONS='--import tsx'`, or the `tsx` command), or
 * get from `execArgv`. Without one, Node.js 20 cannot import a `.ts` file and the pool
 * cannot start its workers.
 *
 * The programs run as a user runs them: __tests__/fixtures/ts-main.ts, a TypeScript main
 * script, in a child process, printing one JSON line per call.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { Pool } from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers } from './helpers/processes.js';

type Tasks = typeof import('./fixtures/ts-tasks.js');

expectNoLeakedWorkers();

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const tsMain = fileURLToPath(fixture('ts-main.ts'));
const tsTasks = fixture('ts-tasks.ts');
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  printed: Record<string, unknown>;
  stderr: string;
}

/**
 * Runs `node <nodeArgs> ts-main.ts <args>` from the repository root to its end; never
 * rejects, so the exit code can be asserted. Jest's NODE_OPTIONS are not the user's:
 * they are replaced by `nodeOptions`, if any.
 */
function runMain(nodeArgs: string[], args: string[] = [], nodeOptions?: string): Promise<Run> {
  const { NODE_OPTIONS: _, ...env } = process.env;
  if (nodeOptions !== undefined) {
    env['NODE_OPTIONS'] = nodeOptions;
  }
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [...nodeArgs, tsMain, ...args],
      { cwd: repoRoot, env },
      (_error, stdout, stderr) => {
        const printed: Record<string, unknown> = {};
        for (const line of stdout.split('\n').slice(0, -1)) {
          const { label, value } = JSON.parse(line) as { label: string; value: unknown };
          printed[label] = value;
        }
        resolve({ code: child.exitCode, signal: child.signalCode, printed, stderr });
      },
    );
  });
}

const expectedResults = {
  main: 'MainProcess',
  map: [1, 4, 9, 16],
  apply: { shape: 'cube', value: 27, inWorker: true },
  applyAsync: 'x:string',
  byReference: [25, 36],
  bySource: 5,
};

describe('a .ts task module, parent run with tsx', () => {
  test.each([
    ['node --import tsx main.ts', ['--import', 'tsx'], undefined],
    ["NODE_OPTIONS='--import tsx' node main.ts", [], '--import tsx'],
    ['tsx main.ts', [tsxCli], undefined],
  ])(
    '%s: the workers inherit the loader; map, apply and applyAsync by export name, by reference and by source',
    async (_how, nodeArgs, nodeOptions) => {
      const run = await runMain(nodeArgs, [], nodeOptions);
      expect(run.stderr).toBe('');
      expect(run.printed).toEqual(expectedResults);
      expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
    },
  );

  // Workers start in the parent's directory, where `--import tsx` resolves as it did for
  // the parent, and only then change to `cwd`.
  test('node --import tsx main.ts with a `cwd` elsewhere: the workers still find the loader', async () => {
    const run = await runMain(['--import', 'tsx'], [`cwd=${tmpdir()}`]);
    expect(run.printed['error']).toBeUndefined();
    expect(run.printed).toEqual(expectedResults);
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
  });

  test('a parent run with tsx, in a pool given `execArgv` without the loader: new Pool says what to do', async () => {
    const run = await runMain(['--import', 'tsx'], ['execArgv=--max-old-space-size=256']);
    expect(run.printed['main']).toBe('MainProcess');
    expect(run.printed['error']).toEqual({
      name: 'TypeError',
      message: expect.stringMatching(
        /ts-tasks\.ts is TypeScript, and the workers have no TypeScript loader .*execArgv: \['--import', 'tsx'\]/,
      ),
    });
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 1, signal: null });
  });
});

describe('a .ts task module, pool created in a parent without a loader (this test process)', () => {
  test("execArgv: ['--import', 'tsx'] gives the workers the loader", async () => {
    await using pool = new Pool<Tasks>({ processes: 1, module: tsTasks, execArgv: ['--import', 'tsx'] });
    expect(await pool.map('square', [1, 2, 3])).toEqual([1, 4, 9]);
    expect(await pool.apply('describe', [7])).toBe('7:number');
  });

  test('no loader in the workers: new Pool refuses the module with a TypeError that says what to do', () => {
    expect(() => new Pool<Tasks>({ processes: 1, module: tsTasks })).toThrow(TypeError);
    expect(() => new Pool<Tasks>({ processes: 1, module: tsTasks })).toThrow(
      /ts-tasks\.ts is TypeScript, and the workers have no TypeScript loader .*tsx main\.ts.*execArgv: \['--import', 'tsx'\].*compiled \.js/,
    );
  });
});
