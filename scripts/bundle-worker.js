/**
 * Bundles the compiled worker entry (dist/worker-entry/worker.js, which `tsc` writes)
 * with everything it imports, serialize-error included, into that one file, in place.
 *
 * Why: a worker starts by loading its entry, at pool start and at each
 * `maxTasksPerChild` replacement. As ten ES modules (the entry, six of lib/,
 * serialize-error and its two) it loads more slowly than as one file: each module is a
 * file to find, read and link. The library's state that the worker shares with
 * task code (`currentProcess()`) lives on `globalThis`, so the bundle's copy of
 * lib/current-process.js agrees with the task module's own `import 'forkpool'`.
 *
 * Run by `npm run build`, after `tsc`, and by the tests' global setup.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const entry = fileURLToPath(new URL('../dist/worker-entry/worker.js', import.meta.url));

await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Chained to tsc's own maps, so that it maps back to worker-entry/*.ts and lib/*.ts.
  sourcemap: 'linked',
  logLevel: 'warning',
});
