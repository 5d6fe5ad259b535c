// A long map with a progress bar: `onProgress` reports how many items are done out of
// how many, coalesced to at most ten reports a second, whatever the number of tasks.
//
//   npm run build && node scripts/progress-bar.js [items]
//
// On a terminal the bar redraws in place on stderr; otherwise one line per report.
import { Pool, cpuCount } from '../dist/lib/index.js';

const items = Number(process.argv[2] ?? 2000);

/** About a millisecond of CPU per item: the kind of work worth a process pool. */
function work(seed) {
  let x = seed;
  for (let i = 0; i < 200_000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
  }
  return x;
}

function draw({ done, failed, total }) {
  const width = 40;
  const share = total ? done / total : 0;
  const bar = '#'.repeat(Math.round(share * width)).padEnd(width, '.');
  const line = `[${bar}] ${done}/${total ?? '?'} done${failed ? `, ${failed} failed` : ''}`;
  if (process.stderr.isTTY) {
    process.stderr.write(`\r${line}`);
  } else {
    process.stderr.write(`${line}\n`);
  }
}

const pool = new Pool({ processes: cpuCount() });
try {
  const inputs = Array.from({ length: items }, (_, i) => i);
  const results = await pool.map(work, inputs, { chunksize: 10, onProgress: draw });
  if (process.stderr.isTTY) {
    process.stderr.write('\n');
  }
  console.log(`${results.length} results, first ${results[0]}, last ${results.at(-1)}`);
} finally {
  pool.close();
  await pool.join();
}
