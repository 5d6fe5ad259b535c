/** The command line each worker starts with. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const inspectFlag = /^(--inspect(?:-brk|-wait)?|--inspect-port|--debug-port)(?:=(.*))?$/;

/**
 * With `--inspect` (or `--inspect-brk`, `--inspect-wait`, `--inspect-port`) every worker
 * would try to listen on the parent's inspector port and fail. Each worker gets its own,
 * the given port (or the parent's) plus its worker number, as Node's `cluster` does, on
 * the same host; port 0 (any free port) is kept.
 */
export function withOwnInspectorPort(execArgv: readonly string[], workerNumber: number): string[] {
  return execArgv.map((arg) => {
    const match = inspectFlag.exec(arg);
    if (match === null) {
      return arg;
    }
    const [, flag, value = ''] = match;
    const host = value.includes(':') ? `${value.slice(0, value.lastIndexOf(':'))}:` : '';
    const port = value.includes(':') ? value.slice(value.lastIndexOf(':') + 1) : /^\d+$/.test(value) ? value : '';
    if (port === '0') {
      return arg; // a random port: no clash
    }
    return `${flag}=${host}${(port === '' ? process.debugPort : Number(port)) + workerNumber}`;
  });
}

/** How a worker is started: the program to exec and the arguments before Node's own. */
export interface Launcher {
  execPath: string;
  prefix: string[];
}

let launcher: Launcher | undefined;

/**
 * A worker must die with its parent even when it is busy in synchronous code, where the
 * IPC channel's 'disconnect' never gets a turn. On Linux the kernel can do it: util-linux's
 * `setpriv --pdeathsig KILL` sets the child's parent-death signal, then execs Node in the
 * same process. Elsewhere (or without setpriv, or where it fails) Node starts directly and
 * the worker leaves on 'disconnect' alone. Probed once per process.
 */
export function workerLauncher(): Launcher {
  launcher ??= probeParentDeathSignal() ?? { execPath: process.execPath, prefix: [] };
  return launcher;
}

function probeParentDeathSignal(): Launcher | undefined {
  if (process.platform !== 'linux') {
    return undefined;
  }
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));
  if (setpriv === undefined) {
    return undefined;
  }
  const probe = spawnSync(setpriv, ['--pdeathsig', 'KILL', '--', process.execPath, '--version'], { stdio: 'ignore' });
  return probe.status === 0 ? { execPath: setpriv, prefix: ['--pdeathsig', 'KILL', '--', process.execPath] } : undefined;
}
