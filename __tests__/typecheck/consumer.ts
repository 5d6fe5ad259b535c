// @ts-nocheck: 'forkpool' resolves only in a consumer project (package.test.ts drops this line).
// package.test.ts copies this file into an ESM project that installed the packed tarball
// and runs tsc there.
//
// The typed API as an ESM consumer sees it: task names, argument and result types are
// checked against the task module. Every `@ts-expect-error` must meet an error, and every
// `expectType` an exact type, or tsc fails.
import { AsyncResult, Pool, cpuCount, currentProcess, type PoolError, type ProcessInfo } from 'forkpool';
import { double } from './tasks.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): void {}

const pool = new Pool<typeof import('./tasks.js')>({ module: new URL('./tasks.js', import.meta.url) });

const applied = pool.apply('double', [2]);
expectType<Equal<typeof applied, Promise<number>>>();
const awaited = pool.apply('doubleLater', [2]);
expectType<Equal<typeof awaited, Promise<number>>>();
const greeting = pool.apply('greet', ['x']);
expectType<Equal<typeof greeting, Promise<string>>>();

// @ts-expect-error double takes a number
pool.apply('double', ['x']);
// @ts-expect-error not an export of the task module
pool.apply('nope');
// @ts-expect-error an export that is not a function
pool.apply('notAFunction');
// @ts-expect-error double takes one argument
pool.apply('double', [1, 2]);

const mapped = pool.map('double', [1, 2]);
expectType<Equal<typeof mapped, Promise<number[]>>>();
// @ts-expect-error items of double are numbers
pool.map('double', ['a']);

const starmapped = pool.starmap('add', [[1, 2]]);
expectType<Equal<typeof starmapped, Promise<number[]>>>();
// @ts-expect-error argument lists of add are [number, number]
pool.starmap('add', [[1, 'b']]);

const ordered = pool.imap('greet', ['a', 'b']);
expectType<Equal<typeof ordered, AsyncIterableIterator<string>>>();
const unordered = pool.imapUnordered('double', [1, 2]);
expectType<Equal<typeof unordered, AsyncIterableIterator<number>>>();

const result = pool.applyAsync('double', [2]);
expectType<Equal<typeof result, AsyncResult<number>>>();
expectType<Equal<ReturnType<typeof result.get>, Promise<number>>>();
const mappedAsync = pool.mapAsync('double', [1, 2]);
expectType<Equal<typeof mappedAsync, AsyncResult<number[]>>>();
const starmappedAsync = pool.starmapAsync('add', [[1, 2]]);
expectType<Equal<typeof starmappedAsync, AsyncResult<number[]>>>();

// Form 2: an export of the task module, passed as the function itself.
const byReference = pool.map(double, [1, 2]);
expectType<Equal<typeof byReference, Promise<number[]>>>();
// Form 3: a self-contained function, typed by its own signature.
const bySource = pool.apply((times: number, text: string) => text.repeat(times), [2, 'x']);
expectType<Equal<typeof bySource, Promise<string>>>();

const me: ProcessInfo = currentProcess();
expectType<Equal<typeof me.name, string>>();
expectType<Equal<ReturnType<typeof cpuCount>, number>>();
expectType<Equal<PoolError['code'], string>>();

pool.close();
await pool.join();

// An AsyncResult is covariant in its value: results of different tasks fit in one list.
const mixed: AsyncResult<unknown>[] = [pool.applyAsync('double', [1]), pool.applyAsync('greet', ['x'])];
void mixed;
