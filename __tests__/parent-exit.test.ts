/**
 * The pool and its parent process: an idle pool does not keep the parent alive, workers
 * exit with their parent however it exits (even SIGKILL), and what workers print reaches
 * the parent's stdout and stderr. Each case runs a script from fixtures/ as its own process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { fixture } from './helpers/fixtures.js';
import { expectNoLeakedWorkers, isAlive, killLeftoversAfterEach } from './helpers/processes.js';
import { Rendezvous } from './helpers/rendezvous.js';

expectNoLeakedWorkers();

/** How long a script or its workers may take before the test gives up and says so. */
const boundMs = 10_000;

interface Script {
  child: ChildProcess;
  /** The script's own exit. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every holder of its stdout and stderr (the script and its workers) has exited. */
  closed: Promise<{ stdout: string; stderr: string }>;
}

/** Scripts started, and their workers' pids (outside this process tree): killed if a test fails. */
const { started, strays } = killLeftoversAfterEach();

function runScript(name: string, args: string[] = []): Script {
  // Without Jest's NODE_OPTIONS: the script runs as a user would run it.
  const env = { ...process.env, NODE_OPTIONS: '' };
  const child = spawn(process.execPath, [fileURLToPath(fixture(name)), ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (data: string) => (stdout += data));
  child.stderr!.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const closed = new Promise<{ stdout: string; stderr: string }>((resolve) =>
    child.once('close', () => resolve({ stdout, stderr })),
  );
  return { child, exited, closed };
}

/** `promise`, or a clear failure if it is not settled within `boundMs`: a hang must not look like a Jest timeout. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${boundMs} ms`)), boundMs);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until none of `pids` is alive. They are not our children, so no event tells of
 * their death: read /proc again and again, within `boundMs`.
 */
async function allGone(pids: number[]): Promise<number[]> {
  const deadline = Date.now() + boundMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    alive = alive.filter(isAlive);
  }
  return alive;
}

describe('parent exit', () => {
  test('a pool that is used and never closed does not keep its process alive', async () => {
    const script = runScript('unclosed-pool.js');
    const exit = await within(script.exited, 'the script with an unclosed pool exiting by itself');
    // Its workers hold its stdout and stderr: these close when they too have exited.
    const { stdout, stderr } = await within(script.closed, 'the workers of the exited script exiting');
    expect(stderr).toBe('');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(JSON.parse(stdout)).toEqual([2, 4, 6, 8, 10]);
  });

  test('when the parent is killed with SIGKILL, its workers exit too', async () => {
    const workers = await Rendezvous.open();
    try {
      const script = runScript('hanging-pool.js', [workers.path]);
      const reports = await within(workers.take(2), 'both workers reporting their running task');
      for (const report of reports) {
        strays.add(report.pid);
      }
      expect(reports.map((report) => report.tag).sort()).toEqual(['first', 'second']);
      expect(reports.every((report) => isAlive(report.pid))).toBe(true);

      script.child.kill('SIGKILL');
      await expect(script.exited).resolves.toEqual({ code: null, signal: 'SIGKILL' });
      // Each worker's connection closes when its process ends …
      await within(
        Promise.all(reports.map((report) => report.closed)),
        'the orphaned workers closing their connections',
      );
      // … and the process is gone for good, not just silent.
      const alive = await allGone(reports.map((report) => report.pid));
      expect(alive).toEqual([]);
      await within(script.closed, 'the orphaned workers releasing the script stdout');
    } finally {
      await workers.close();
    }
  });

  test('workers busy in synchronous code when the parent is killed exit too', async () => {
    // They never handle the channel's 'disconnect': the kernel's parent-death signal
    // (set through setpriv on Linux) is what ends them.
    const workers = await Rendezvous.open();
    try {
      const script = runScript('hanging-pool.js', [workers.path, 'spin']);
      const reports = await within(workers.take(2), 'both workers reporting their running task');
      for (const report of reports) {
        strays.add(report.pid);
      }
      const spinning = reports.map(
        (report) => new Promise<void>((resolve) => report.socket.once('data', () => resolve())),
      );
      for (const report of reports) {
        report.socket.write('go\n');
      }
      await within(Promise.all(spinning), 'both workers spinning');
      script.child.kill('SIGKILL');
      await expect(script.exited).resolves.toEqual({ code: null, signal: 'SIGKILL' });
      const alive = await allGone(reports.map((report) => report.pid));
      expect(alive).toEqual([]);
    } finally {
      await workers.close();
    }
  });

  test('when the parent is killed with SIGKILL while all four workers are busy, awaiting or computing, they all exit', async () => {
    const workers = await Rendezvous.open();
    try {
      const script = runScript('busy-pool.js', [workers.path]);
      const reports = await within(workers.take(4), 'all four workers reporting their running task');
      for (const report of reports) {
        strays.add(report.pid);
      }
      expect(reports.map((report) => report.tag).sort()).toEqual(['async-1', 'async-2', 'cpu-1', 'cpu-2']);
      expect(new Set(reports.map((report) => report.pid)).size).toBe(4);

      script.child.kill('SIGKILL');
      await expect(script.exited).resolves.toEqual({ code: null, signal: 'SIGKILL' });
      // Where the kernel's parent-death signal is set (Linux with setpriv) all four die at
      // once; elsewhere an awaiting worker leaves when its channel closes, a computing one
      // once its 200 ms task returns.
      const alive = await allGone(reports.map((report) => report.pid));
      expect(alive).toEqual([]);
      await within(script.closed, 'the orphaned workers releasing the script stdout');
    } finally {
      await workers.close();
    }
  });

  test("a worker's console.log reaches the parent's stdout, console.error its stderr", async () => {
    const script = runScript('worker-output.js');
    const exit = await within(script.exited, 'the script exiting');
    const { stdout, stderr } = await within(script.closed, 'the script output closing');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(stdout.split('\n')).toEqual([
      'Starting PoolWorker-1',
      'hello from a worker',
      'parent got: hello from a worker',
      '',
    ]);
    expect(stderr).toBe('warning from a worker\n');
  });
});
