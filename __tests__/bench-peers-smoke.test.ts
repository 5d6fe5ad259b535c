/**
 * The peer libraries' benchmark cases still run: `peer-case.js --list` describes every peer,
 * and one small case per peer (50 sequential round trips of `double`) prints one JSON line
 * whose check passed, which includes that every child process of the pool exited after it
 * was destroyed, and the script then exits by itself. No timing is asserted — a benchmark is
 * not a test.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@jest/globals';
import { expectNoLeakedWorkers, killLeftoversAfterEach } from './helpers/processes.js';

expectNoLeakedWorkers();
const { started } = killLeftoversAfterEach();

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const peers = ['workerpool', 'tinypool', 'jest-worker', 'worker-farm', 'poolifier', 'piscina'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runPeerCase(args: string[]): Promise<Run> {
  // Jest's NODE_OPTIONS (--experimental-vm-modules …) are not the user's: leave them out.
  const { NODE_OPTIONS: _, ...env } = process.env;
  return new Promise((resolve) => {
    const child: ChildProcess = execFile(
      process.execPath,
      ['scripts/bench/peer-case.js', ...args],
      { cwd: repoRoot, env },
      (_error, stdout, stderr) => {
        resolve({ code: child.exitCode, stdout, stderr });
      },
    );
    started.add(child);
  });
}

function onlyLine(run: Run): unknown {
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] ?? '');
}

test('peer-case.js --list describes every peer with its installed version and kind', async () => {
  const run = await runPeerCase(['--list']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const list = onlyLine(run) as Record<string, { label: string; version: string; kind: string; workloads: string[] }>;
  expect(Object.keys(list).sort()).toEqual([...peers].sort());
  for (const name of peers) {
    const peer = list[name];
    expect(peer).toBeDefined();
    expect(peer?.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(peer?.kind).toBe(name === 'piscina' ? 'thread' : 'process');
    expect(peer?.workloads).toEqual(expect.arrayContaining(['tiny-apply-async', 'tiny-apply', 'startup', 'cpu']));
  }
});

test.each(peers)('peer-case.js %s tiny-apply --n 50 prints one JSON line with a passed check', async (name) => {
  const run = await runPeerCase([name, 'tiny-apply', '--n', '50']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  const result = onlyLine(run) as { value: unknown };
  expect(result).toMatchObject({
    library: name,
    workload: 'tiny-apply',
    n: 50,
    unit: 'µs/call',
    check: { ok: true, count: 50, sum: 50 * 49, expectedSum: 50 * 49, leftoverWorkers: 0 },
  });
  expect(typeof result.value).toBe('number');
});
