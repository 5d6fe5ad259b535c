/**
 * scripts/process-directory.js, run as a user runs it on a directory of files with known
 * content: one line per file (SHA-256, lines, words, bytes, path relative to the
 * directory), in completion order, then a summary.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { expectNoLeakedWorkers } from './helpers/processes.js';

expectNoLeakedWorkers();

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
}

/** Runs `node scripts/process-directory.js <args>` to its end; never rejects. */
function runScript(args: string[]): Promise<Run> {
  // Jest's NODE_OPTIONS (--experimental-vm-modules …) are not the user's: leave them out.
  const { NODE_OPTIONS: _, ...env } = process.env;
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['scripts/process-directory.js', ...args],
      { cwd: repoRoot, env },
      (_error, stdout, stderr) => {
        resolve({ code: child.exitCode, signal: child.signalCode, lines: stdout.split('\n').slice(0, -1), stderr });
      },
    );
  });
}

/** Relative path → content; `lines` and `words` as `wc -l -w` counts them (UTF-8 locale). */
const files: Record<string, { content: string; lines: number; words: number }> = {
  'hello.txt': { content: 'hello world\n', lines: 1, words: 2 },
  'no-final-newline.txt': { content: 'first line\nsecond line', lines: 1, words: 4 },
  'empty.txt': { content: '', lines: 0, words: 0 },
  'sub/spaces.txt': { content: '  one\ttwo  \r\n\n three\f\vfour \n', lines: 3, words: 4 },
  'sub/unicode.txt': { content: 'héllo wörld ✓\n', lines: 1, words: 3 },
  'sub/deeper/big.txt': { content: 'lorem ipsum dolor\n'.repeat(20_000), lines: 20_000, words: 60_000 },
};

const sha256 = (content: string): string => createHash('sha256').update(content).digest('hex');
const fileLine = (name: string): string => {
  const { content, lines, words } = files[name]!;
  return `${sha256(content)}  ${lines} lines  ${words} words  ${Buffer.byteLength(content)} bytes  ${name}`;
};

let directory: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'forkpool-process-directory-'));
  for (const [name, { content }] of Object.entries(files)) {
    mkdirSync(join(directory, name, '..'), { recursive: true });
    writeFileSync(join(directory, name), content);
  }
  mkdirSync(join(directory, 'empty-dir'));
  // Not followed: a link to a file is not a file of the tree, a link to a directory could loop.
  symlinkSync(join(directory, 'hello.txt'), join(directory, 'link-to-hello'));
  symlinkSync(directory, join(directory, 'sub', 'link-to-root'));
});

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe('scripts/process-directory.js', () => {
  test('hashes and counts every regular file of the tree, one line each, then the totals', async () => {
    const run = await runScript([directory, '--processes', '2']);
    expect(run.stderr).toBe('');
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });

    const names = Object.keys(files);
    // Completion order is the workers' to decide: compare as sets.
    expect(run.lines.slice(0, -1).toSorted()).toEqual(names.map(fileLine).toSorted());
    const sum = (of: (name: string) => number): number => names.reduce((total, name) => total + of(name), 0);
    const lines = sum((name) => files[name]!.lines);
    const words = sum((name) => files[name]!.words);
    const bytes = sum((name) => Buffer.byteLength(files[name]!.content));
    expect(run.lines.at(-1)).toBe(
      `${names.length} files, ${lines} lines, ${words} words, ${bytes} bytes (2 processes)`,
    );
  });

  test("the empty file's hash is the well-known SHA-256 of nothing", async () => {
    const run = await runScript([directory, '--processes', '1']);
    expect(run.lines).toContain(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  0 lines  0 words  0 bytes  empty.txt',
    );
    expect(run.lines.at(-1)).toMatch(/ \(1 process\)$/);
  });

  test('without a directory: the repository docs/, one line per file there', async () => {
    const run = await runScript([]);
    expect(run.stderr).toBe('');
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
    const perFile = run.lines.slice(0, -1);
    expect(perFile.length).toBeGreaterThan(0);
    for (const line of perFile) {
      expect(line).toMatch(/^[0-9a-f]{64} {2}\d+ lines {2}\d+ words {2}\d+ bytes {2}\S+$/);
    }
    // The docs may change while this runs (files added or edited): check the summary
    // against the lines printed, and the names against what is there afterwards.
    expect(run.lines.at(-1)).toMatch(
      new RegExp(`^${perFile.length} files, \\d+ lines, \\d+ words, \\d+ bytes \\(\\d+ process(es)?\\)$`),
    );
    const docs = readdirSync(join(repoRoot, 'docs'), { recursive: true, encoding: 'utf8' });
    for (const line of perFile) {
      expect(docs).toContain(line.slice(line.lastIndexOf('  ') + 2));
    }
  });

  test('bad arguments: a message and exit code 2', async () => {
    const zero = await runScript([directory, '--processes', '0']);
    expect(zero.stderr).toBe('process-directory: Expected `processes` to be an integer >= 1, got `0` (number)\n');
    expect({ code: zero.code, lines: zero.lines }).toEqual({ code: 2, lines: [] });

    const unknown = await runScript(['--bogus']);
    expect(unknown.stderr).toMatch(/^process-directory: Unknown option '--bogus'/);
    expect(unknown.stderr).toContain('Usage: node scripts/process-directory.js [directory] [--processes N]');
    expect(unknown.code).toBe(2);
  });

  test('a directory that does not exist: the error, exit code 1', async () => {
    const missing = join(directory, 'no-such-directory');
    const run = await runScript([missing, '--processes', '1']);
    expect(run.stderr).toBe(`process-directory: ENOENT: no such file or directory, opendir '${missing}'\n`);
    expect({ code: run.code, signal: run.signal, lines: run.lines }).toEqual({ code: 1, signal: null, lines: [] });
  });
});
