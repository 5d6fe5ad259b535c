/** The command line each worker starts with. */

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
