/**
 * docs/api.md and the TSDoc comments agree with the code: scripts/check-api-docs.js (also
 * `npm run docs:check`) finds no problem. And the check does catch drift: a copy of the
 * docs with a wrong default, a missing method and a stale row fails it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the check to its end; never rejects, so the exit code can be asserted. */
function checkApiDocs(...args: string[]): Promise<Run> {
  // Jest's NODE_OPTIONS (--experimental-vm-modules …) are not the script's.
  const { NODE_OPTIONS: _, ...env } = process.env;
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['scripts/check-api-docs.js', ...args],
      { cwd: repoRoot, env },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

/** `text` with `from` replaced by `to`, failing loudly if the docs no longer hold `from`. */
function replaceOnce(text: string, from: string, to: string): string {
  expect(text).toContain(from);
  return text.replace(from, to);
}

describe('scripts/check-api-docs.js', () => {
  test('docs/api.md and the TSDoc comments agree with lib/', async () => {
    const run = await checkApiDocs();
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  test('a drifted copy of the docs fails, with one line per problem', async () => {
    let docs = await readFile(join(repoRoot, 'docs', 'api.md'), 'utf8');
    docs = replaceOnce(docs, '| `killTimeout` | — | `1000` |', '| `killTimeout` | — | `5000` |');
    docs = replaceOnce(docs, '| `maxQueue` | — | `Infinity`:', '| `maxQueue` | — | none:');
    docs = replaceOnce(docs, '### `imapUnordered(fn, iterable, options?)`', '### In completion order');
    docs = replaceOnce(docs, '| `ready()` |', '| `isReady()` |');
    docs = replaceOnce(docs, '| `PoolState` |', '| `PoolStatus` |');
    const dir = await mkdtemp(join(tmpdir(), 'forkpool-docs-'));
    try {
      const drifted = join(dir, 'api.md');
      await writeFile(drifted, docs);
      const run = await checkApiDocs(drifted);
      expect(run.code).toBe(1);
      const problems = run.stderr.split('\n').filter((line) => line.startsWith('- '));
      expect(problems).toEqual([
        // The table row was the docs' only mention of `PoolState`.
        expect.stringMatching(
          /^- PoolState: exported from lib\/index\.ts but not in .*api\.md \(as code: `PoolState`\)$/,
        ),
        expect.stringMatching(/^- PoolOptions\.killTimeout: .* gives the default "`5000`", its @default is "1000"/),
        expect.stringMatching(/^- PoolOptions\.maxQueue: .* its @default is "Infinity/),
        '- Pool.imapUnordered: public method in no heading or table of ' + drifted + ' (expected `imapUnordered(…)`)',
        '- AsyncResult.ready: public method in no heading or table of ' + drifted + ' (expected `ready(…)`)',
        expect.stringMatching(/: table row for `isReady\(\)`, which AsyncResult does not have$/),
        expect.stringMatching(/^- PoolState: exported type with no row in the table of "## Exported types"/),
        expect.stringMatching(/: the exported types table lists `PoolStatus`, which lib\/index\.ts does not export$/),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
