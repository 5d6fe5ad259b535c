/**
 * An HTTP server that hands CPU-heavy work to a forkpool pool, the way a production
 * server should: one pool for the process, created at start-up; handlers await results;
 * pool errors become HTTP statuses; a worker that crashes fails one request, not the
 * server; SIGTERM and SIGINT drain the work in progress before the process exits.
 *
 *   GET /fib?n=30   → 200 {"n":30,"value":832040}, computed in a worker
 *   GET /crash      → 500: the worker running the request dies; the server goes on
 *   GET /health     → 200 {"status":"ok"}, 503 once shutting down
 *
 * Run: `npm run build && node scripts/server.js` (listens on 127.0.0.1; `PORT` chooses
 * the port, by default any free one; `SHUTDOWN_TIMEOUT_MS` bounds the drain, default 10000).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { Pool, PoolError, PoolNotRunningError } from '../dist/lib/index.js';

const port = Number(process.env.PORT ?? 0);
const shutdownTimeoutMs = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 10_000);
/** fib(42) already takes seconds: larger `n` are refused rather than let them hog a worker. */
const maxFib = 42;
/** Set by the first SIGTERM or SIGINT. */
let stopping = false;

// One pool for the whole process, created before the server listens: its workers start
// once and serve every request. `processes` defaults to cpuCount().
const pool = new Pool({
  module: new URL('./server-tasks.js', import.meta.url),
  initializer: 'ignoreInterrupts',
  // TODO(maxQueue): bound the queue here once forkpool has `maxQueue`, so a burst is
  // refused with 503 (QueueFullError, see statusOf) instead of queueing without limit.
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
]);

async function fibRoute(url) {
  const text = url.searchParams.get('n') ?? '';
  const n = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n <= maxFib)) {
    throw new HttpError(400, `Expected n to be an integer from 0 to ${maxFib}, got ${JSON.stringify(text)}`);
  }
  // TODO(signal): pass { signal } here once forkpool takes an AbortSignal per call, aborted
  // when the client disconnects (req 'close' before the response), so an abandoned
  // request stops taking a worker.
  return { n, value: await pool.apply('fib', [n]) };
}

/** A request whose input hits the parser's crash bug: its worker dies, the server does not. */
async function crashRoute() {
  return { value: await pool.apply('parse', ['crash']) };
}

async function healthRoute() {
  if (stopping) {
    throw new HttpError(503, 'Shutting down');
  }
  return { status: 'ok' };
}

/** The HTTP status for an error thrown while answering a request. */
function statusOf(error) {
  if (error instanceof HttpError) {
    return error.status;
  }
  // Closed or terminated: the server is shutting down and a client sent one more request
  // on a connection it had open. Its retry will reach another instance.
  if (error instanceof PoolNotRunningError) {
    return 503;
  }
  // TODO(maxQueue): QueueFullError → 503 (with Retry-After).
  // WorkerExitedError (the worker died running this request), and errors thrown by a task.
  return 500;
}

function send(res, status, body) {
  res.writeHead(status, {
    'content-type': 'application/json',
    // While shutting down, a kept-alive connection is closed after its response.
    ...(stopping && { connection: 'close' }),
  });
  res.end(`${JSON.stringify(body)}\n`);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  try {
    const route = routes.get(url.pathname);
    if (route === undefined) {
      throw new HttpError(404, `No route ${url.pathname}`);
    }
    if (req.method !== 'GET') {
      throw new HttpError(405, `Expected GET, got ${req.method}`);
    }
    send(res, 200, await route(url));
  } catch (error) {
    const status = statusOf(error);
    if (error instanceof HttpError || error instanceof PoolError) {
      send(res, status, { error: error.message, code: error.code });
    } else {
      console.error(`${req.method} ${req.url} failed:`, error);
      send(res, status, { error: 'Internal server error' });
    }
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

/**
 * The first SIGTERM or SIGINT: stop accepting connections and tasks, let the requests in
 * progress finish, wait for the workers to exit, then exit 0. A second signal, or the
 * drain outlasting `shutdownTimeoutMs`, stops the workers at once and exits 1.
 */
async function shutdown() {
  if (stopping) {
    await stopNow('terminating: second signal');
    return;
  }
  stopping = true;
  server.close(); // no new connections; idle kept-alive ones are closed now
  pool.close(); // no new tasks; queued and running ones still run
  console.log('shutting down');
  setTimeout(() => void stopNow(`terminating: still busy after ${shutdownTimeoutMs} ms`), shutdownTimeoutMs).unref();
  // The server closes once the last response has gone out; join() once the workers exited.
  await Promise.all([once(server, 'close'), pool.join()]);
  console.log('stopped');
  process.exit(0);
}

/** Kills the workers: every unsettled task rejects with PoolTerminatedError (→ 503). */
async function stopNow(reason) {
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
