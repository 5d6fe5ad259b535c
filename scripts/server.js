/**
 * An HTTP server that hands CPU-heavy work to a forkpool pool, the way a production
 * server should: one pool for the process, created at start-up; handlers await results;
 * pool errors become HTTP statuses; a worker that crashes fails one request, not the
 * server; a burst past the queue's bound is refused, a request past its time limit is cut
 * short, and a client that hangs up cancels its task; SIGTERM and SIGINT drain the work
 * in progress before the process exits.
 *
 *   GET /fib?n=30   → 200 {"n":30,"value":832040}, computed in a worker
 *                     503 + Retry-After when the queue is full, 504 past the time limit
 *   GET /crash      → 500: the worker running the request dies; the server goes on
 *   GET /health     → 200 {"status":"ok"}, 503 once shutting down
 *   GET /stats      → 200 pool.stats(): workers, queue, counters, for metrics
 *
 * Run: `npm run build && node scripts/server.js` (listens on 127.0.0.1). Environment:
 * `PORT` (default: any free port), `MAX_QUEUE` (requests that may wait for a worker,
 * default 4 per worker), `TASK_TIMEOUT_MS` (time limit of one task, default 10000),
 * `SHUTDOWN_TIMEOUT_MS` (how long the drain may take, default 10000).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import {
  AbortError,
  cpuCount,
  Pool,
  PoolError,
  PoolNotRunningError,
  QueueFullError,
  TaskTimeoutError,
} from '../dist/lib/index.js';

const port = Number(process.env.PORT ?? 0);
const maxQueue = Number(process.env.MAX_QUEUE ?? cpuCount() * 4);
const taskTimeoutMs = Number(process.env.TASK_TIMEOUT_MS ?? 10_000);
const shutdownTimeoutMs = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 10_000);
/** fib(42) already takes seconds: larger `n` are refused rather than let them hog a worker. */
const maxFib = 42;
/** Set by the first SIGTERM or SIGINT. */
let stopping = false;
/** Set by the second: the drain's outcome no longer decides the exit code. */
let terminating = false;

// One pool for the whole process, created before the server listens: its workers start
// once and serve every request. `processes` defaults to cpuCount().
const pool = new Pool({
  module: new URL('./server-tasks.js', import.meta.url),
  initializer: 'ignoreInterrupts',
  // A burst beyond what the workers can catch up with is refused at once (503, see
  // statusOf) rather than queued without limit, growing memory and every client's wait.
  maxQueue,
  // A task still running after this is ended (504) and its worker replaced.
  timeout: taskTimeoutMs,
});

// Workers the pool replaced, and why: a crash, a timeout, an abort. (A worker also exits
// with reason 'close' or 'terminate' when the server stops; that is no news.)
pool.on('workerExit', ({ workerName, pid, reason }) => {
  if (reason !== 'close' && reason !== 'terminate') {
    console.log(`${workerName} (pid ${pid}) exited: ${reason}`);
  }
});

/** An error whose status and message the client may see. */
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const routes = new Map([
  ['/fib', fibRoute],
  ['/crash', crashRoute],
  ['/health', healthRoute],
  ['/stats', statsRoute],
]);

/** `signal` aborts when the client disconnects before its answer. */
async function fibRoute(url, signal) {
  const text = url.searchParams.get('n') ?? '';
  const n = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n <= maxFib)) {
    throw new HttpError(400, `Expected n to be an integer from 0 to ${maxFib}, got ${JSON.stringify(text)}`);
  }
  // Aborted, a queued task is dropped and a running one has its worker stopped and
  // replaced: an abandoned request stops taking a worker.
  return { n, value: await pool.apply('fib', [n], { signal }) };
}

/** A request whose input hits the parser's crash bug: its worker dies, the server does not. */
async function crashRoute(url, signal) {
  return { value: await pool.apply('parse', ['crash'], { signal }) };
}

async function healthRoute() {
  if (stopping) {
    throw new HttpError(503, 'Shutting down');
  }
  return { status: 'ok' };
}

/** For a metrics scraper: workers by state, queue length, tasks done and failed, replacements by reason. */
async function statsRoute() {
  return pool.stats();
}

/** The HTTP status for an error thrown while answering a request. */
function statusOf(error) {
  if (error instanceof HttpError) {
    return error.status;
  }
  // The queue is full: the server is busy now, and a retry in a moment may get through.
  if (error instanceof QueueFullError) {
    return 503;
  }
  // Closed or terminated: the server is shutting down and a client sent one more request
  // on a connection it had open. Its retry will reach another instance.
  if (error instanceof PoolNotRunningError) {
    return 503;
  }
  // The task ran past TASK_TIMEOUT_MS; its worker was stopped and replaced.
  if (error instanceof TaskTimeoutError) {
    return 504;
  }
  // WorkerExitedError (the worker died running this request), and errors thrown by a task.
  return 500;
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, {
    'content-type': 'application/json',
    // While shutting down, a kept-alive connection is closed after its response.
    ...(stopping && { connection: 'close' }),
    ...headers,
  });
  res.end(`${JSON.stringify(body)}\n`);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  // The connection closing before the response has gone out means the client is gone.
  const disconnected = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) {
      disconnected.abort(new Error('The client disconnected'));
    }
  });
  try {
    const route = routes.get(url.pathname);
    if (route === undefined) {
      throw new HttpError(404, `No route ${url.pathname}`);
    }
    if (req.method !== 'GET') {
      throw new HttpError(405, `Expected GET, got ${req.method}`);
    }
    send(res, 200, await route(url, disconnected.signal));
  } catch (error) {
    if (error instanceof AbortError) {
      return; // aborted because the client disconnected: nobody to answer
    }
    const status = statusOf(error);
    const headers = error instanceof QueueFullError ? { 'retry-after': '1' } : {};
    if (error instanceof HttpError || error instanceof PoolError) {
      send(res, status, { error: error.message, code: error.code }, headers);
    } else {
      console.error(`${req.method} ${req.url} failed:`, error);
      send(res, status, { error: 'Internal server error' }, headers);
    }
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

/**
 * The first SIGTERM or SIGINT: stop accepting connections and tasks, let the requests in
 * progress finish, wait for the workers to exit, then exit 0. The drain outlasting
 * `shutdownTimeoutMs`, or a second signal, stops the workers at once and exits 1.
 */
async function shutdown() {
  if (stopping) {
    await stopNow('terminating: second signal');
    return;
  }
  stopping = true;
  server.close(); // no new connections; idle kept-alive ones are closed now
  console.log('shutting down');
  // pool.shutdown(): close() (no new tasks; queued and running ones still run), join(),
  // and terminate() if they are not done by the deadline. The server closes once the
  // last response has gone out, including the 503s of tasks cut short.
  const [outcome] = await Promise.all([pool.shutdown(shutdownTimeoutMs), once(server, 'close')]);
  if (terminating) {
    return; // stopNow() exits
  }
  if (outcome === 'terminated') {
    console.log(`terminated: still busy after ${shutdownTimeoutMs} ms`);
    process.exit(1);
  }
  console.log('stopped');
  process.exit(0);
}

/** Kills the workers: every unsettled task rejects with PoolTerminatedError (→ 503). */
async function stopNow(reason) {
  terminating = true;
  console.log(reason);
  await pool.terminate();
  process.exit(1);
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    shutdown().catch((error) => {
      console.error('shutdown failed:', error);
      process.exit(1);
    });
  });
}
