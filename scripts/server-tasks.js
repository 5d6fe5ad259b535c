/**
 * The task module of scripts/server.js: every pool worker imports it, and the server
 * calls its exports by name. Plain ESM JavaScript, so workers load it without a loader.
 */
import { connect } from 'node:net';
import { currentProcess } from '../dist/lib/index.js';

/**
 * The n-th Fibonacci number, computed naively on purpose: exponential CPU time, the kind
 * of work that would freeze the server's event loop if it ran there.
 */
export async function fib(n) {
  await passGate(`fib(${n})`);
  return fibonacci(n);
}

function fibonacci(n) {
  return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2);
}

/**
 * Parses a JSON document. It stands for a native parser with a crash bug: the input
 * `crash` ends its whole process, as a segmentation fault would. Only the worker that
 * ran it dies; the pool rejects this one task with `WorkerExitedError` and starts a
 * replacement.
 */
export function parse(text) {
  if (text === 'crash') {
    process.exit(70);
  }
  return JSON.parse(text);
}

/**
 * Initializer: the worker ignores SIGINT. Ctrl-C in a terminal signals the whole process
 * group, workers included; the server, not the signal, decides when they stop (`close()`
 * lets them finish their task, `terminate()` kills them). Python's recipe is the same:
 * `signal.signal(signal.SIGINT, signal.SIG_IGN)` in the initializer.
 */
export function ignoreInterrupts() {
  process.on('SIGINT', () => {});
}

/**
 * For the example's test only: when `SERVER_TASK_GATE` names a Unix socket, a task
 * connects to it, says which worker runs it (one JSON line), and goes on only once the
 * other end writes to the connection. So the test knows a request is running in a worker
 * and can signal the server at that moment, without sleeping. Unset: nothing happens.
 */
function passGate(tag) {
  const path = process.env.SERVER_TASK_GATE;
  if (path === undefined || path === '') {
    return undefined;
  }
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => socket.write(`${JSON.stringify({ tag, ...currentProcess() })}\n`));
    socket.once('data', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`The gate at ${path} closed before it opened`)));
  });
}
