/**
 * Every file under a directory, hashed (SHA-256) and counted (lines, words, bytes) by a
 * pool of processes, one line per file as each is done, then a summary.
 *
 *   npm run build && node scripts/process-directory.js [directory] [--processes N]
 *
 * The directory defaults to the repository's docs/; N to `cpuCount()`. The paths come
 * from an async generator that walks the tree as `imapUnordered` asks for them, so memory
 * stays bounded however many files there are: the pool holds a few paths at a time, not
 * the whole list. Results come in the order the files are done, not the order they were
 * found. Exits 1 if a file could not be read (it is reported on stderr, the others go on),
 * 2 on bad arguments.
 */
import { opendir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool, cpuCount } from '../dist/lib/index.js';

/** Regular files under `directory`, depth first; symbolic links are not followed. */
async function* walk(directory) {
  for await (const entry of await opendir(directory)) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      yield* walk(path);
    } else if (entry.isFile()) {
      yield path;
    }
  }
}

let options;
try {
  options = parseArgs({ allowPositionals: true, options: { processes: { type: 'string' } } });
} catch (error) {
  console.error(`process-directory: ${error.message}`);
  console.error('Usage: node scripts/process-directory.js [directory] [--processes N]');
  process.exit(2);
}
const root = options.positionals[0] ?? fileURLToPath(new URL('../docs/', import.meta.url));
const processes = options.values.processes === undefined ? cpuCount() : Number(options.values.processes);

let pool;
try {
  pool = new Pool({ processes, module: new URL('./file-tasks.js', import.meta.url) });
} catch (error) {
  console.error(`process-directory: ${error.message}`); // e.g. `--processes 0`
  process.exit(2);
}

const total = { files: 0, failed: 0, bytes: 0, lines: 0, words: 0 };
try {
  for await (const file of pool.imapUnordered('summarizeFile', walk(root))) {
    const name = relative(root, file.path);
    if (file.error !== undefined) {
      total.failed++;
      console.error(`process-directory: ${name}: ${file.error}`);
      continue;
    }
    total.files++;
    total.bytes += file.bytes;
    total.lines += file.lines;
    total.words += file.words;
    console.log(`${file.sha256}  ${file.lines} lines  ${file.words} words  ${file.bytes} bytes  ${name}`);
  }
  console.log(
    `${total.files} files, ${total.lines} lines, ${total.words} words, ${total.bytes} bytes` +
      `${total.failed ? `, ${total.failed} unreadable` : ''} (${processes} ${processes === 1 ? 'process' : 'processes'})`,
  );
  pool.close();
  await pool.join();
} catch (error) {
  // The walk failed (the directory does not exist, cannot be listed …).
  await pool.terminate();
  console.error(`process-directory: ${error.message}`);
  process.exitCode = 1;
}
if (total.failed > 0) {
  process.exitCode = 1;
}
