/**
 * Child-process bookkeeping for integration tests: which pool workers of this process
 * are alive, read from /proc, so a test can assert that none outlive it.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { afterEach, expect } from '@jest/globals';

const workerEntryMark = 'worker-entry/worker.cjs';

interface ProcessEntry {
  pid: number;
  ppid: number;
  state: string;
  cmdline: string;
}

function readProcess(pid: number): ProcessEntry | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (2nd field) is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return { pid, state: fields[0]!, ppid: Number(fields[1]), cmdline };
  } catch {
    return undefined; // exited while we looked
  }
}

function allProcesses(): ProcessEntry[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProcess(Number(name)))
    .filter((entry): entry is ProcessEntry => entry !== undefined);
}

/** Pool workers that are children of `parentPid` and still running (zombies count as gone). */
export function liveWorkers(parentPid = process.pid): number[] {
  return allProcesses()
    .filter((entry) => entry.ppid === parentPid && entry.state !== 'Z' && entry.cmdline.includes(workerEntryMark))
    .map((entry) => entry.pid);
}

/** Whether a process with this pid is running (not a zombie). */
export function isAlive(pid: number): boolean {
  const entry = readProcess(pid);
  return entry !== undefined && entry.state !== 'Z';
}

/**
 * After each test of the file: no worker of this process may be alive. Any that are get
 * killed (so one leak does not spill into the next test) and the test fails.
 */
export function expectNoLeakedWorkers(): void {
  afterEach(() => {
    const leaked = liveWorkers();
    for (const pid of leaked) {
      process.kill(pid, 'SIGKILL');
    }
    expect(leaked).toEqual([]);
  });
}

/**
 * For tests that run scripts as processes of their own: the scripts they started, and
 * worker pids they saw (not this process's children once their parent is gone). After
 * each test, whatever of them still runs is killed, so a failing test leaves nothing.
 */
export function killLeftoversAfterEach(): { started: Set<ChildProcess>; strays: Set<number> } {
  const started = new Set<ChildProcess>();
  const strays = new Set<number>();
  afterEach(() => {
    for (const child of started) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
    }
    started.clear();
    for (const pid of strays) {
      if (isAlive(pid)) {
        process.kill(pid, 'SIGKILL');
      }
    }
    strays.clear();
  });
  return { started, strays };
}

/** Terminates, after each test, pass or fail, the pools put in the returned set. */
export function terminateAfterEach<P extends { terminate(): Promise<void> }>(): Set<P> {
  const pools = new Set<P>();
  afterEach(async () => {
    await Promise.all([...pools].map((pool) => pool.terminate()));
    pools.clear();
  });
  return pools;
}
