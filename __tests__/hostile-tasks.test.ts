/**
 * Task code that misbehaves gets a clear error and the pool keeps serving: it throws
 * what is not an Error, errors that cannot be cloned or that try to pollute prototypes,
 * ends its own process, throws after it returned, forges protocol messages, returns
 * huge values, floods stdout, cannot be imported or never settles. Nothing is lost,
 * nothing hangs, nothing reaches into the parent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import {
  Pool,
  PoolError,
  PoolTerminatedError,
  SerializationError,
  WorkerExitedError,
  WorkerInitError,
} from '../lib/index.js';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, liveWorkers } from './helpers/processes.js';
import { Rendezvous, workerNumber } from './helpers/rendezvous.js';
import { errorOf } from './helpers/errors.js';
import type {
  LateThrow,
  PollutionWay,
  SelfKill,
  ThrownValueKind,
  UncloneablePropertyKind,
} from './fixtures/hostile-tasks.js';

type Tasks = typeof import('./fixtures/hostile-tasks.js');

expectNoLeakedWorkers();

const module = fixture('hostile-tasks.js');
const MiB = 1024 * 1024;
const numbers = Array.from({ length: 10 }, (_, i) => i);

/** Where each worker reports its start (the initializer); its connection closes when the worker dies … */
let starts: Rendezvous;
/** … and where tasks report that they are running. */
let running: Rendezvous;

beforeEach(async () => {
  starts = await Rendezvous.open();
  running = await Rendezvous.open();
});

afterEach(async () => {
  await starts.close();
  await running.close();
});

/** A pool whose workers report their start to `starts`. */
function startPool(processes: number): Pool<Tasks> {
  return new Pool<Tasks>({ processes, module, initializer: 'reportStart', initargs: [starts.path] });
}

async function withPool<M extends object>(pool: Pool<M>, body: (pool: Pool<M>) => Promise<void>): Promise<void> {
  try {
    await body(pool);
  } finally {
    await pool.terminate();
  }
}

/** The task failed with an error of its own, not one of the pool's (a crash, a clone failure …). */
function expectTaskError(error: unknown): asserts error is Error & Record<string, unknown> {
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(PoolError);
}

const sha256 = (value: Buffer | string) => createHash('sha256').update(value).digest('hex');

describe('a task that throws what is not an Error', () => {
  test.each<[ThrownValueKind, Record<string, unknown>]>([
    ['string', { name: 'NonError', message: 'Non-error value: x' }],
    ['number', { name: 'NonError', message: 'Non-error value: 42' }],
    ['null', { name: 'NonError', message: 'Non-error value: null' }],
    ['undefined', { name: 'NonError', message: 'Non-error value: undefined' }],
    ['plain object', { name: 'Error', message: 'plain' }],
    ['frozen object', { name: 'Error', message: 'frozen', code: 'E_FROZEN' }],
    ['null-prototype object', { name: 'NonError', message: 'Non-error value: {}' }],
    ['symbol', { name: 'NonError', message: 'Non-error value: Symbol(thrown)' }],
  ])(
    '(%s) rejects with an Error that shows the value; the same worker serves the next task',
    async (kind, expected) => {
      await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
        const worker = await pool.apply('whoami');
        const error = await errorOf(pool.apply('throwValue', [kind]));
        expectTaskError(error);
        expect(error).toMatchObject(expected);
        await expect(pool.apply('whoami')).resolves.toEqual(worker);
      });
    },
  );
});

describe('a task error with an own property that cannot be cloned as it is', () => {
  test.each<[UncloneablePropertyKind, (extra: unknown) => void]>([
    ['a function', (extra) => expect(extra).toBeUndefined()],
    ['a symbol', (extra) => expect([undefined, 'Symbol(extra)']).toContain(extra)],
    ['a circular structure', (extra) => expect(extra).toMatchObject({ label: 'loop' })],
    ['a getter that throws', (extra) => expect(extra).toBeUndefined()],
    ['a BigInt', (extra) => expect(String(extra)).toMatch(/^12345678901234567890n?$/)],
    ['a Map', (extra) => expect(extra).toBeInstanceOf(Object)],
  ])('(%s) rejects with the error, keeping its class, message, code and what can be kept', async (kind, checkExtra) => {
    await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
      const worker = await pool.apply('whoami');
      const error = await errorOf(pool.apply('throwWithProperty', [kind]));
      expectTaskError(error);
      expect(error).toBeInstanceOf(TypeError);
      expect(error).toMatchObject({ name: 'TypeError', message: `an error with ${kind}`, code: 'E_HOSTILE' });
      checkExtra(error.extra);
      // The worker survived it.
      await expect(pool.apply('whoami')).resolves.toEqual(worker);
    });
  });
});

describe('an error built to pollute prototypes', () => {
  /** What `Object.prototype` and `Error.prototype` hold, to compare before and after. */
  function prototypes(): Record<string, PropertyDescriptor>[] {
    return [Object.getOwnPropertyDescriptors(Object.prototype), Object.getOwnPropertyDescriptors(Error.prototype)];
  }

  test.each<PollutionWay>(['Object.defineProperty', 'JSON.parse', 'Object.assign'])(
    '(own __proto__, constructor, prototype keys by %s) rejects with an Error and pollutes nothing in the parent',
    async (how) => {
      const before = prototypes();
      await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
        const error = await errorOf(pool.apply('throwPolluting', [how]));
        expectTaskError(error);
        expect(Object.getPrototypeOf(error)).toBe(Error.prototype);
        expect(error.message).toMatch(/^polluting/);
        expect(error.polluted).toBeUndefined();
        if (how === 'Object.assign') {
          // The cause was a plain object and stays one, with a plain prototype.
          expect(error.cause).toMatchObject({ message: 'polluting cause' });
          expect(Object.getPrototypeOf(error.cause)).toBe(Object.prototype);
          expect((error.cause as Record<string, unknown>).polluted).toBeUndefined();
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect((new Error('fresh') as unknown as Record<string, unknown>).polluted).toBeUndefined();
        expect(prototypes()).toEqual(before);
        await expect(pool.apply('double', [21])).resolves.toBe(42);
      });
    },
  );
});

describe('a task that ends its own process', () => {
  test.each<[SelfKill, { exitCode: number | null; signal: NodeJS.Signals | null }]>([
    ['process.exit(0)', { exitCode: 0, signal: null }],
    ['process.exit(7)', { exitCode: 7, signal: null }],
    ['process.abort()', { exitCode: null, signal: 'SIGABRT' }],
    ["process.kill(process.pid, 'SIGSEGV')", { exitCode: null, signal: 'SIGSEGV' }],
  ])(
    '(%s) fails with WorkerExitedError; the pool is back to full size with the next PoolWorker-N',
    async (how, exit) => {
      await withPool(startPool(2), async (pool) => {
        const initial = await starts.take(2);
        const error = await errorOf(pool.apply('killSelf', [how]));
        expect(error).toBeInstanceOf(WorkerExitedError);
        const victim = initial.find((worker) => worker.name === (error as WorkerExitedError).workerName)!;
        expect(victim).toBeDefined();
        expect(error).toMatchObject({ code: 'ERR_WORKER_EXITED', pid: victim.pid, ...exit });
        const survivor = initial.find((worker) => worker !== victim)!;

        const [replacement] = await starts.take(1);
        expect(workerNumber(replacement!.name)).toBe(
          Math.max(...initial.map((worker) => workerNumber(worker.name))) + 1,
        );

        // Full size: two tasks run at once, one on the survivor and one on the replacement.
        const first = pool.applyAsync('reportAndWait', [running.path, 'first', 1]);
        const second = pool.applyAsync('reportAndWait', [running.path, 'second', 2]);
        const reports = await running.take(2);
        expect(reports.map((report) => report.name).sort()).toEqual([survivor.name, replacement!.name].sort());
        for (const report of reports) {
          report.socket.write('go\n');
        }
        await expect(Promise.all([first.get(), second.get()])).resolves.toEqual([1, 2]);
      });
    },
  );
});

describe('an error that escapes after the task returned', () => {
  const hows: LateThrow[] = ['setImmediate', 'setTimeout(0)', 'queueMicrotask', 'process.nextTick', 'Promise.reject'];

  const variants = hows.flatMap((how) => [
    [how, 'returnThenThrow'],
    [how, 'returnThenThrowAsync'],
  ]) as [LateThrow, 'returnThenThrow' | 'returnThenThrowAsync'][];

  test.each(variants)(
    '(%s, in %s) the returned value is delivered; the worker dies and is replaced; later tasks succeed',
    async (how, task) => {
      await withPool(startPool(1), async (pool) => {
        const [first] = await starts.take(1);
        await expect(pool.apply(task, [how, 'the value'])).resolves.toBe('the value');
        await first!.closed; // its process is gone

        const [replacement] = await starts.take(1);
        expect(workerNumber(replacement!.name)).toBe(workerNumber(first!.name) + 1);
        await expect(pool.map('double', numbers)).resolves.toEqual(numbers.map((x) => x * 2));
        await expect(pool.apply('whoami')).resolves.toEqual({ name: replacement!.name, pid: replacement!.pid });
      });
    },
  );

  // The next task is handed to the worker the moment its previous result arrives, before
  // the pool can know that the worker is dying: the worker never starts it, so it must
  // run elsewhere rather than fail with the dying worker.
  test.each<LateThrow>(['setImmediate', 'Promise.reject'])(
    '(%s) a task submitted as the value arrives is not failed by the dying worker',
    async (how) => {
      await withPool(startPool(1), async (pool) => {
        const [first] = await starts.take(1);
        await expect(pool.apply('returnThenThrow', [how, 'the value'])).resolves.toBe('the value');
        const next = pool.apply('double', [21]);
        await first!.closed;
        await expect(next).resolves.toBe(42);
        const [replacement] = await starts.take(1);
        await expect(pool.apply('whoami')).resolves.toEqual({ name: replacement!.name, pid: replacement!.pid });
      });
    },
  );
});

describe('forged protocol messages', () => {
  test('sent by a task on its IPC channel (process.send), with guessed ids, settle nothing; the real values arrive', async () => {
    await withPool(startPool(2), async (pool) => {
      await starts.take(2);
      const waiting = pool.applyAsync('reportAndWait', [running.path, 'waiting', 'the real value']);
      const [waiter] = await running.take(1);

      // Runs on the other worker; its own result is forged too (its id is among 1..1000).
      await expect(pool.apply('forgeMessages')).resolves.toBe('forger done');
      expect(waiting.ready()).toBe(false);
      expect(pool.state).toBe('running');

      waiter!.socket.write('go\n');
      await expect(waiting.get()).resolves.toBe('the real value');
      await expect(pool.map('double', numbers, { chunksize: 1 })).resolves.toEqual(numbers.map((x) => x * 2));
      expect(starts.unread).toEqual([]); // no worker was replaced
    });
  });

  test('bytes that are not a frame, written by a task to the data channel (fd 4), end that worker only: its task fails, a replacement goes on', async () => {
    await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
      const worker = await pool.apply('whoami');
      const error = await errorOf(pool.apply('writeGarbageToDataChannel'));
      expect(error).toBeInstanceOf(WorkerExitedError);
      expect(error).toMatchObject({ pid: worker.pid });
      expect(String((error as Error).cause)).toMatch(/malformed frame/);
      const replacement = await pool.apply('whoami');
      expect(replacement.pid).not.toBe(worker.pid);
      await expect(pool.map('double', numbers)).resolves.toEqual(numbers.map((x) => x * 2));
    });
  });

  test('a task that replaces process.send still delivers its result, and so do later tasks of that worker', async () => {
    await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
      const worker = await pool.apply('whoami');
      await expect(pool.apply('replaceProcessSend')).resolves.toBe('delivered anyway');
      await expect(pool.apply('whoami')).resolves.toEqual(worker);
      await expect(pool.map('double', numbers)).resolves.toEqual(numbers.map((x) => x * 2));
    });
  });
});

describe('huge values', () => {
  /** What `hugeBuffer(size)` of hostile-tasks.js builds. */
  function hugeBufferLike(size: number): Buffer {
    const buffer = Buffer.alloc(size);
    for (let at = 0; at < size; at += 4096) {
      buffer[at] = (at / 4096) & 0xff;
    }
    buffer[size - 1] = 0xab;
    return buffer;
  }

  test('a 100 MB Buffer result arrives intact; the pool serves the next task', async () => {
    await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
      const size = 100 * MiB;
      const received = await pool.apply('hugeBuffer', [size]);
      expect(Buffer.isBuffer(received)).toBe(true);
      expect(received.length).toBe(size);
      expect([
        received[0],
        received[4096],
        received[255 * 4096],
        received[256 * 4096],
        received[4097],
        received[size - 1],
      ]).toEqual([0, 1, 255, 0, 0, 0xab]);
      expect(sha256(received)).toBe(sha256(hugeBufferLike(size)));
      await expect(pool.apply('double', [21])).resolves.toBe(42);
    });
  });

  test('a 100 MB string result arrives intact; the pool serves the next task', async () => {
    await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
      const size = 100 * MiB + 1;
      const received = await pool.apply('hugeString', [size]);
      expect(typeof received).toBe('string');
      expect(received.length).toBe(size);
      expect(received.slice(0, 4)).toBe('abab');
      expect(received.slice(-3)).toBe('abZ');
      expect(sha256(received)).toBe(sha256(`${'ab'.repeat((size - 1) / 2)}Z`));
      await expect(pool.apply('double', [21])).resolves.toBe(42);
    });
  });

  test('50 MB arguments (a Buffer and a string) arrive intact', async () => {
    await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
      const buffer = hugeBufferLike(50 * MiB);
      await expect(pool.apply('digest', [buffer])).resolves.toEqual({
        type: 'Buffer',
        length: buffer.length,
        sha256: sha256(buffer),
      });
      const text = 'xyz'.repeat((50 * MiB) / 2).slice(0, 50 * MiB);
      await expect(pool.apply('digest', [text])).resolves.toEqual({
        type: 'String',
        length: text.length,
        sha256: sha256(text),
      });
      await expect(pool.apply('double', [21])).resolves.toBe(42);
    });
  });
});

/** Scripts started by a test; any still running at its end are killed. */
const scripts = new Set<ChildProcess>();

afterEach(() => {
  for (const child of scripts) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
  scripts.clear();
});

interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Runs a fixture script as its own process (without Jest's NODE_OPTIONS); `onStdout`
 * gets its stdout as it comes. Resolves once it has exited and its output has closed.
 */
function runScript(
  name: string,
  args: string[],
  onStdout: (chunk: Buffer) => void,
  detached = false,
): Promise<ScriptRun> {
  const child = spawn(process.execPath, [fileURLToPath(fixture(name)), ...args], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  scripts.add(child);
  let stderr = '';
  child.stdout!.on('data', onStdout);
  child.stderr!.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stderr })));
}

describe('a task that floods stdout', () => {
  test('50 MB written by a worker all reach the parent’s stdout; the task completes and the pool serves the next', async () => {
    const bytes = 50 * MiB;
    const xs = Buffer.alloc(MiB, 'x');
    let received = 0;
    let other = 0;
    const run = await runScript('hostile-stdout-flood.js', [String(bytes)], (chunk) => {
      for (let at = 0; at < chunk.length; at += xs.length) {
        const piece = chunk.subarray(at, at + xs.length);
        if (!piece.equals(xs.subarray(0, piece.length))) {
          other++;
        }
      }
      received += chunk.length;
    });
    expect(run).toEqual({ code: 0, signal: null, stderr: `${JSON.stringify({ written: bytes, next: 42 })}\n` });
    expect(received).toBe(bytes);
    expect(other).toBe(0);
  });
});

describe('a task module that cannot be imported (beyond init-failure.test.ts)', () => {
  test('throwing null breaks the pool with WorkerInitError that shows the value', async () => {
    const pool = new Pool<typeof import('./fixtures/hostile-import-throws-null.js')>({
      processes: 1,
      module: fixture('hostile-import-throws-null.js'),
    });
    await withPool(pool, async () => {
      const error = await errorOf(pool.apply('double', [1]));
      expect(error).toBeInstanceOf(WorkerInitError);
      expect((error as Error).message).toContain('null');
      expect((error as Error).cause).toBeInstanceOf(Error);
      expect((error as Error).cause).toMatchObject({ message: 'Non-error value: null' });
      expect(pool.state).toBe('terminated');
    });
  });

  test('importing a package that is not installed breaks the pool with WorkerInitError naming it', async () => {
    const pool = new Pool<typeof import('./fixtures/hostile-import-missing-dependency.js')>({
      processes: 1,
      module: fixture('hostile-import-missing-dependency.js'),
    });
    await withPool(pool, async () => {
      const error = await errorOf(pool.apply('double', [1]));
      expect(error).toBeInstanceOf(WorkerInitError);
      expect((error as Error).message).toContain('forkpool-fixture-no-such-package');
      expect((error as Error).cause).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    });
  });
});

describe('a task named by something that is not an exported function', () => {
  test('an unknown name rejects with a TypeError listing the exported functions; the worker serves on', async () => {
    await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
      const worker = await pool.apply('whoami');
      const error = await errorOf(pool.apply('noSuchTask' as never));
      expectTaskError(error);
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toContain(`${fileURLToPath(module)} has no exported function \`noSuchTask\``);
      const listed = error.message.slice(error.message.indexOf('Its exported functions: ')).split(/[:,]\s*/);
      expect(listed).toEqual(expect.arrayContaining(['double', 'whoami', 'throwValue', 'forgeMessages']));
      expect(listed).not.toContain('answer');
      expect(listed).not.toContain('settings');
      await expect(pool.apply('whoami')).resolves.toEqual(worker);
    });
  });

  test.each([
    ['answer', 'number'],
    ['settings', 'object'],
  ])('the name of a non-function export (%s) says what it is (%s)', async (name, type) => {
    await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
      const error = await errorOf(pool.apply(name as never));
      expectTaskError(error);
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toContain(`has no exported function \`${name}\``);
      expect(error.message).toContain(type);
      await expect(pool.apply('double', [21])).resolves.toBe(42);
    });
  });

  test.each(['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__proto__'])(
    'a name of an Object.prototype member (%s) is an unknown name too, with or without a task module',
    async (name) => {
      await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
        const error = await errorOf(pool.apply(name as never));
        expectTaskError(error);
        expect(error).toBeInstanceOf(TypeError);
        expect(error.message).toContain(`has no exported function \`${name}\``);
      });
      await withPool(new Pool({ processes: 1 }), async (pool) => {
        const error = await errorOf(pool.apply(name));
        expectTaskError(error);
        expect(error).toBeInstanceOf(TypeError);
        expect(error.message).toContain(`Cannot look up \`${name}\` by name: the pool has no task module`);
        await expect(pool.apply((x: number) => x * 2, [21])).resolves.toBe(42);
      });
    },
  );
});

describe('options that only a real process can check', () => {
  test('an execArgv flag Node.js does not know breaks the pool with WorkerInitError (exit code 9), without forking on', async () => {
    const pool = new Pool<Tasks>({ processes: 1, module, execArgv: ['--forkpool-no-such-flag'] });
    await withPool(pool, async () => {
      const error = await errorOf(pool.apply('double', [1]));
      expect(error).toBeInstanceOf(WorkerInitError);
      expect((error as Error).message).toContain('(3 workers in a row)');
      expect((error as Error).cause).toBeInstanceOf(WorkerExitedError);
      expect((error as Error).cause).toMatchObject({ exitCode: 9, signal: null });
      expect(pool.state).toBe('terminated');
      await pool.join();
      expect(liveWorkers()).toEqual([]);
    });
  });

  // A process that fails to spawn has no pid, yet Node.js may already have a handle for
  // it: a signal sent through that handle goes to pid 0, the caller's own process group.
  // Run in a process group of its own, so such a signal can only reach the script.
  describe('a cwd that does not exist', () => {
    let missing: string;

    beforeEach(() => {
      const parent = mkdtempSync(join(tmpdir(), 'forkpool-'));
      missing = join(parent, 'no-such-dir');
      rmSync(parent, { recursive: true });
    });

    interface Outcome {
      at: 'constructor' | 'terminate' | 'task';
      error?: { name: string; message: string; cause?: { message: string; code?: string } };
    }

    async function runPools(
      processes: number,
      rounds: number,
      mode: 'mixed' | 'task',
    ): Promise<{ run: ScriptRun; outcomes: Outcome[] }> {
      let stdout = '';
      const args = [missing, String(processes), String(rounds), mode];
      const run = await runScript('hostile-missing-cwd.js', args, (chunk) => (stdout += chunk.toString()), true);
      return { run, outcomes: stdout === '' ? [] : (JSON.parse(stdout) as Outcome[]) };
    }

    test('fails every call, and terminate() never signals the parent’s own process group', async () => {
      const { run, outcomes } = await runPools(2, 10, 'mixed');
      expect(run).toEqual({ code: 0, signal: null, stderr: '' });
      // Each round was terminated at once, or failed (at the constructor or at its task).
      expect(outcomes).toHaveLength(10);
      expect(outcomes).toEqual(
        outcomes.map((outcome) =>
          outcome.at === 'terminate'
            ? { at: 'terminate' }
            : { at: outcome.at, error: expect.objectContaining({ name: expect.stringMatching(/Error$/) }) },
        ),
      );
    });

    test('is reported with an error that names the directory', async () => {
      const { run, outcomes } = await runPools(1, 1, 'task');
      expect(run).toMatchObject({ code: 0, signal: null });
      const [outcome] = outcomes;
      expect(outcome?.error).toBeDefined();
      expect(`${outcome!.error!.message} (cause: ${outcome!.error!.cause?.message})`).toContain(missing);
    });
  });
});

describe('Pool options of the wrong type (beyond unit/options.test.ts)', () => {
  test.each<[string, unknown, new (...args: never[]) => Error, string]>([
    ['options 5', 5, TypeError, 'Expected Pool options to be an object, got `5` (number)'],
    ['env "x"', { env: 'x' }, TypeError, 'Expected `env` to be an object, got `"x"` (string)'],
    ['cwd 42', { cwd: 42 }, TypeError, 'Expected `cwd` to be a string, got `42` (number)'],
    ['killTimeout 1.5', { killTimeout: 1.5 }, TypeError, '`killTimeout`'],
    ['initargs with a function', { initargs: [() => 1] }, SerializationError, '`initargs`'],
    [
      'processes Infinity',
      { processes: Number.POSITIVE_INFINITY },
      TypeError,
      'Expected `processes` to be an integer >= 1, got `Infinity` (number)',
    ],
    [
      'processes NaN',
      { processes: Number.NaN },
      TypeError,
      'Expected `processes` to be an integer >= 1, got `NaN` (number)',
    ],
  ])(
    '(%s) make the constructor throw, naming the option and the value, before any worker starts',
    (_, options, errorClass, message) => {
      expect(() => new Pool(options as never)).toThrow(errorClass);
      expect(() => new Pool(options as never)).toThrow(message);
      expect(liveWorkers()).toEqual([]);
    },
  );
});

describe('per-call options of the wrong type', () => {
  test('are refused at the call with TypeError or RangeError naming the option; the pool serves on', async () => {
    await withPool(new Pool<Tasks>({ processes: 1, module }), async (pool) => {
      const worker = await pool.apply('whoami');
      const calls: [what: string, call: () => unknown, errorClass: new () => Error, named: string][] = [
        ['map chunksize 0', () => pool.map('double', numbers, { chunksize: 0 }), RangeError, '`chunksize`'],
        [
          'starmap chunksize "2"',
          () => pool.starmap('double', [[1]], { chunksize: '2' as never }),
          TypeError,
          '`chunksize`',
        ],
        [
          'imapUnordered chunksize 1.5',
          () => pool.imapUnordered('double', numbers, { chunksize: 1.5 }),
          TypeError,
          '`chunksize`',
        ],
        [
          'mapAsync errorCallback 5',
          () => pool.mapAsync('double', numbers, { errorCallback: 5 as never }),
          TypeError,
          '`errorCallback`',
        ],
        [
          'applyAsync callback "x"',
          () => pool.applyAsync('double', [1], { callback: 'x' as never }),
          TypeError,
          '`callback`',
        ],
        ['mapAsync options "x"', () => pool.mapAsync('double', numbers, 'x' as never), TypeError, 'options'],
        ['imap options 5', () => pool.imap('double', numbers, 5 as never), TypeError, 'options'],
        [
          'map option chunkSize (chunksize misspelt)',
          () => pool.map('double', numbers, { chunkSize: 2 } as never),
          TypeError,
          '`chunkSize`',
        ],
        ['get timeoutMs "1000"', () => pool.applyAsync('double', [1]).get('1000' as never), TypeError, '`timeoutMs`'],
        ['get timeoutMs -1', () => pool.applyAsync('double', [1]).get(-1), RangeError, '`timeoutMs`'],
        ['wait timeoutMs NaN', () => pool.applyAsync('double', [1]).wait(Number.NaN), TypeError, '`timeoutMs`'],
      ];
      const refusals = [];
      for (const [what, call, , named] of calls) {
        let error: unknown;
        try {
          await call();
        } catch (thrown) {
          error = thrown;
        }
        refusals.push(
          error instanceof Error
            ? { what, refusedWith: error.constructor.name, namesIt: error.message.includes(named) }
            : { what, refusedWith: 'nothing: accepted' },
        );
      }
      expect(refusals).toEqual(
        calls.map(([what, , errorClass]) => ({ what, refusedWith: errorClass.name, namesIt: true })),
      );
      await expect(pool.apply('whoami')).resolves.toEqual(worker);
    });
  });
});

describe('a task that never settles', () => {
  test('terminate() rejects it with PoolTerminatedError, whether it waits or spins, and leaves no process', async () => {
    const pool = startPool(2);
    await withPool(pool, async () => {
      await starts.take(2);
      const waiting = pool.apply('reportAndHang', [running.path, 'waiting']);
      const spinning = pool.apply('reportAndSpin', [running.path, 'spinning']);
      const reports = await running.take(2);
      await pool.terminate();
      await expect(waiting).rejects.toBeInstanceOf(PoolTerminatedError);
      await expect(spinning).rejects.toBeInstanceOf(PoolTerminatedError);
      await Promise.all(reports.map((report) => report.closed));
      expect(liveWorkers()).toEqual([]);
    });
  });

  test('a task module whose import never finishes: terminate() rejects the waiting tasks and leaves no process', async () => {
    const pool = new Pool<typeof import('./fixtures/hostile-import-never-settles.js')>({
      processes: 1,
      module: fixture('hostile-import-never-settles.js'),
      env: { ...process.env, FORKPOOL_TEST_SOCKET: starts.path },
    });
    await withPool(pool, async () => {
      const waiting = pool.apply('double', [1]);
      const [importing] = await starts.take(1);
      expect(importing!.tag).toBe('importing');
      await pool.terminate();
      await expect(waiting).rejects.toBeInstanceOf(PoolTerminatedError);
      await importing!.closed;
      expect(liveWorkers()).toEqual([]);
    });
  });
});
