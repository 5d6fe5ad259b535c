/**
 * The third example of Python's `multiprocessing.Pool` documentation, ported: ten
 * `applyAsync` calls on four workers, each task printing its message three times a second
 * apart; after `close()` and `join()`, every result is read with `get()`, in submission
 * order.
 *
 * This script is also the pool's task module (`module: import.meta.url`), so the code
 * that creates the pool sits behind the `MainProcess` guard, Python's
 * `if __name__ == '__main__':`. `func` is an export, so it reaches the workers by
 * reference and runs there with this module's imports in scope.
 *
 * Run: `npm run build && node scripts/example-apply-async.js`
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, currentProcess } from '../dist/lib/index.js';

export async function func(msg) {
  for (let i = 0; i < 3; i++) {
    console.log(msg);
    await sleep(1000);
  }
  return 'done ' + msg;
}

if (currentProcess().name === 'MainProcess') {
  const pool = new Pool({ processes: 4, module: import.meta.url });
  const result = [];
  for (let i = 0; i < 10; i++) {
    const msg = `hello ${i}`;
    result.push(pool.applyAsync(func, [msg]));
  }
  pool.close();
  await pool.join();
  for (const res of result) {
    console.log(await res.get());
  }
  console.log('Sub-process(es) done.');
}
