/**
 * Bundles the compiled worker entry (dist/worker-entry/worker.js, which `tsc` writes)
 * with everything it imports, serialize-error included, into one CommonJS file,
 * dist/worker-entry/worker.cjs, the program every worker runs; tsc's own output of the
 * entry is removed.
 *
 * Why: a worker starts by loading its entry, at pool start and at each
 * `maxTasksPerChild` replacement. As ten ES modules (the entry, six of lib/,
 * serialize-error and its two) it loads more slowly than as one file: each module is a
 * file to find, read and link. As CommonJS, Node.js runs it as soon as it has read it,
 * without first setting up its ES module loader for the entry; the task module, imported
 * with `import()`, may still be either kind. The library's state that the worker shares
 * with task code (`currentProcess()`) lives on `globalThis`, so the bundle's copy of
 * lib/current-process.js agrees with the task module's own `import 'forkpool'`.
 *
 * Run by `npm run build`, after `tsc`, and by the tests' global setup.
 */
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const entry = fileURLToPath(new URL('../dist/worker-entry/worker.js', import.meta.url));
const bundle = fileURLToPath(new URL('../dist/worker-entry/worker.cjs', import.meta.url));

await build({
  entryPoints: [entry],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Chained to tsc's own maps, so that it maps back to worker-entry/*.ts and lib/*.ts.
  sourcemap: 'linked',
  logLevel: 'warning',
});
await Promise.all([rm(entry), rm(`${entry}.map`, { force: true })]);
