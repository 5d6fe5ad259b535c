// Integration tests fork the compiled worker entry (a child runs plain Node, which
// cannot load .ts): compile lib/ and worker-entry/ and bundle the worker entry (as
// `npm run build` does) before any test runs, every time, so a test never runs against
// a stale build.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export default function globalSetup() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/bundle-worker.js', import.meta.url))], {
    stdio: 'inherit',
  });
}
