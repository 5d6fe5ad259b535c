// @ts-nocheck: 'forkpool' resolves only in a consumer project (package.test.ts drops this line).
// package.test.ts copies this file into a CommonJS project that installed the packed
// tarball and runs tsc there with `"module": "nodenext"`.
//
// The typed API as a CommonJS consumer sees it: `import` compiles to `require('forkpool')`.
import path from 'node:path';
import { AsyncResult, Pool } from 'forkpool';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): void {}

const pool = new Pool<typeof import('./tasks.js')>({ module: path.join(__dirname, 'tasks.js') });

const applied = pool.apply('double', [2]);
expectType<Equal<typeof applied, Promise<number>>>();
// @ts-expect-error double takes a number
pool.apply('double', ['x']);
// @ts-expect-error not an export of the task module
pool.apply('nope');

const mapped = pool.map('double', [1, 2]);
expectType<Equal<typeof mapped, Promise<number[]>>>();
const starmapped = pool.starmap('add', [[1, 2]]);
expectType<Equal<typeof starmapped, Promise<number[]>>>();
const result = pool.applyAsync('double', [2]);
expectType<Equal<typeof result, AsyncResult<number>>>();

pool.close();
