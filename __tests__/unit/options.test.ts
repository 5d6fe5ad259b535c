/** Validation of Pool options and per-call arguments: each bad value gets a clear error. */
import { describe, expect, test } from '@jest/globals';
import { Pool, cpuCount } from '../../lib/index.js';
import { kFork } from '../../lib/pool.js';
import type { PoolOptions } from '../../lib/options.js';
import { fakeFork } from '../helpers/fake-fork.js';

const make = (options: PoolOptions) => new Pool({ ...options, [kFork]: fakeFork().fork } as PoolOptions);

describe('Pool options', () => {
  test.each([
    [{ processes: 0 }, RangeError, 'Expected `processes` to be an integer >= 1, got `0` (number)'],
    [{ processes: -1 }, RangeError, '`processes`'],
    [{ processes: 1.5 }, TypeError, 'got `1.5` (number)'],
    [{ processes: '2' }, TypeError, 'got `"2"` (string)'],
    [{ maxTasksPerChild: 0 }, RangeError, '`maxTasksPerChild`'],
    [{ maxTasksPerChild: 2.5 }, TypeError, '`maxTasksPerChild`'],
    [{ maxTasksPerChild: null }, TypeError, '`maxTasksPerChild`'],
    [{ initializer: 5 }, TypeError, '`initializer`'],
    [{ initargs: 'x' }, TypeError, '`initargs`'],
    [{ module: 42 }, TypeError, '`module`'],
    [{ module: 'https://example.com/tasks.js' }, TypeError, '`module`'],
    [{ module: '/no/such/tasks.js' }, Error, 'Cannot find the task module /no/such/tasks.js'],
    [{ execArgv: '--inspect' }, TypeError, '`execArgv`'],
    [{ killTimeout: -1 }, RangeError, '`killTimeout`'],
    [{ procesess: 2 }, TypeError, 'Unknown Pool option `procesess`'],
  ])('%j is refused', (options, errorClass, message) => {
    expect(() => make(options as PoolOptions)).toThrow(errorClass);
    expect(() => make(options as PoolOptions)).toThrow(message);
  });

  test('processes defaults to cpuCount()', async () => {
    const pool = make({});
    expect(pool.processes).toBe(cpuCount());
    await pool.terminate();
  });

  test('a native function cannot be an initializer (no source, no identity to match)', () => {
    expect(() => make({ initializer: Math.max })).toThrow(TypeError);
  });
});

describe('per-call arguments', () => {
  test('fn must be a name or a function; native and bound functions without a module are refused with TypeError', async () => {
    const pool = make({ processes: 1 });
    expect(() => pool.applyAsync(42 as never)).toThrow(TypeError);
    expect(() => pool.applyAsync('')).toThrow(TypeError);
    await expect(pool.apply(Math.max, [1, 2])).rejects.toThrow(TypeError);
    await expect(pool.apply(((x: number) => x).bind(null), [1])).rejects.toThrow(/native or bound/);
    await pool.terminate();
  });

  test('imap and initializer refuse a native function at the call, even with a task module', () => {
    const module = new URL('../fixtures/tasks.js', import.meta.url);
    const pool = make({ processes: 1, module });
    expect(() => pool.imap(Math.abs, [1])).toThrow(/native or bound/);
    expect(() => make({ processes: 1, module, initializer: Math.abs })).toThrow(/native or bound/);
    void pool.terminate();
  });

  test('args must be an array; iterables must be iterable; callbacks must be functions', async () => {
    const pool = make({ processes: 1 });
    expect(() => pool.applyAsync('f', 5 as never)).toThrow(
      'Expected `args` to be an array of arguments, got `5` (number)',
    );
    await expect(pool.map('f', 5 as never)).rejects.toThrow(TypeError);
    expect(() => pool.imap('f', null as never)).toThrow(TypeError);
    expect(() => pool.applyAsync('f', [], { callback: 'x' as never })).toThrow('`callback`');
    await expect(pool.starmap('f', [5] as never)).rejects.toThrow(
      "Expected each item of starmap's input to be an array of arguments",
    );
    await pool.terminate();
  });

  test('empty input resolves at once with []', async () => {
    const pool = make({ processes: 1 });
    await expect(pool.map('f', [])).resolves.toEqual([]);
    await expect(pool.starmap('f', [])).resolves.toEqual([]);
    const collected: unknown[] = [];
    for await (const value of pool.imap('f', [])) collected.push(value);
    expect(collected).toEqual([]);
    await pool.terminate();
  });

  test('an error thrown by the input iterable rejects map with that same error', async () => {
    const pool = make({ processes: 1 });
    const boom = new Error('input');
    function* bad() {
      yield 1;
      throw boom;
    }
    async function* badAsync() {
      yield 1;
      throw boom;
    }
    await expect(pool.map('f', bad())).rejects.toBe(boom);
    await expect(pool.map('f', badAsync())).rejects.toBe(boom);
    await pool.terminate();
  });
});

describe('execArgv inherited by default', () => {
  test("drops the flags that name the parent's own program, keeps the rest", async () => {
    const { inheritableExecArgv } = await import('../../lib/options.js');
    expect(
      inheritableExecArgv([
        '--input-type=module',
        '--eval',
        'new Pool()',
        '--max-old-space-size=512',
        '-e',
        'x',
        '--print=1',
        '--experimental-vm-modules',
        '--test',
        '--test-reporter=spec',
        '--watch',
        '--enable-source-maps',
      ]),
    ).toEqual(['--max-old-space-size=512', '--experimental-vm-modules', '--enable-source-maps']);
  });
});
