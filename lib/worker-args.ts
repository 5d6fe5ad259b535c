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
  const result: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const match = inspectFlag.exec(arg);
    if (match === null) {
      result.push(arg);
      continue;
    }
    const [, flag = '', inline] = match;
    let value = inline ?? '';
    // `--inspect-port 9400`: only these two take their value as the next argument.
    if (
      inline === undefined &&
      (flag === '--inspect-port' || flag === '--debug-port') &&
      /^[\w.:[\]-]+$/.test(execArgv[i + 1] ?? '')
    ) {
      value = execArgv[++i]!;
    }
    // [host:]port, or a host alone (`--inspect=localhost`).
    const colon = value.lastIndexOf(':');
    const isPort = (text: string) => /^\d+$/.test(text);
    const host = colon !== -1 ? value.slice(0, colon) : isPort(value) ? '' : value;
    const port = colon !== -1 ? value.slice(colon + 1) : isPort(value) ? value : '';
    if (port === '0') {
      result.push(`${flag}=${value}`); // any free port: no clash
      continue;
    }
    const ownPort = (port === '' ? process.debugPort : Number(port)) + workerNumber;
    result.push(`${flag}=${host === '' ? '' : `${host}:`}${ownPort}`);
  }
  return result;
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
  return probe.status === 0
    ? { execPath: setpriv, prefix: ['--pdeathsig', 'KILL', '--', process.execPath] }
    : undefined;
}
