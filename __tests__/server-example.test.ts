/**
 * scripts/server.js, the HTTP server example, run as a user runs it: it answers from its
 * workers, survives a worker that crashes, refuses a request past its queue's bound with
 * 503, answers 504 for a task past its time limit, stops the worker of a client that
 * hung up, and on SIGTERM or SIGINT drains the requests in progress, joins its pool and
 * exits 0, leaving no worker behind. A second signal, or the drain's deadline, terminates
 * the pool and exits 1.
 *
 * A request is held in its worker by the tasks' test gate (SERVER_TASK_GATE, see
 * scripts/server-tasks.js): the test learns that it is running there from the rendezvous
 * socket, signals the server, and only then lets the task finish.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { get, type IncomingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import pDefer from 'p-defer';
import { cpuCount } from '../lib/index.js';
import { expectNoLeakedWorkers, isAlive, killLeftoversAfterEach, liveWorkers } from './helpers/processes.js';
import { Rendezvous, type Report } from './helpers/rendezvous.js';

expectNoLeakedWorkers();

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** How long the server may take for a step before the test gives up and says which. */
const boundMs = 20_000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Server {
  child: ChildProcess;
  port: number;
  /** Lines the server (and its workers) printed so far. */
  lines: string[];
  /** Resolves when a line equal to `text` has been printed. */
  printed(text: string): Promise<void>;
  exited: Promise<Exit>;
}

interface Response {
  status: number;
  body: Record<string, unknown>;
}

interface FullResponse extends Response {
  headers: IncomingHttpHeaders;
}

/** Servers started, and the worker pids seen (not our children): killed if a test fails. */
const { started, strays } = killLeftoversAfterEach();

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

/** Starts `node scripts/server.js` on a free port and resolves once it listens. */
async function startServer(
  extraEnv: Record<string, string> = {},
  options: { detached?: boolean } = {},
): Promise<Server> {
  // Without Jest's NODE_OPTIONS: the server runs as a user would run it.
  const env = { ...process.env, NODE_OPTIONS: '', PORT: '0', ...extraEnv };
  const child = spawn(process.execPath, ['scripts/server.js'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  started.add(child);
  const lines: string[] = [];
  const waiters: { text: string; resolve: () => void }[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (data: string) => {
    const parts = (partial + data).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const waiter of waiters.filter((w) => w.text === line)) {
        waiter.resolve();
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const printed = (text: string): Promise<void> => {
    if (lines.includes(text)) {
      return Promise.resolve();
    }
    const waiter = pDefer<void>();
    waiters.push({ text, resolve: waiter.resolve });
    // The server exiting without printing it fails the wait rather than hang it.
    void exited.then(() => waiter.reject(new Error(`The server exited without printing "${text}". stderr: ${stderr}`)));
    return waiter.promise;
  };

  const listening = pDefer<number>();
  const onLine = (): void => {
    const match = lines.map((line) => /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line)).find((m) => m !== null);
    if (match) {
      listening.resolve(Number(match[1]));
    }
  };
  child.stdout!.on('data', onLine);
  void exited.then((exit) =>
    listening.reject(new Error(`The server exited before listening: ${JSON.stringify(exit)}. stderr: ${stderr}`)),
  );
  const port = await within(listening.promise, 'the server printing its port');
  child.stdout!.off('data', onLine);
  return { child, port, lines, printed, exited };
}

/** `GET http://127.0.0.1:<port><path>` on a connection of its own; resolves with the status and JSON body. */
async function request(port: number, path: string): Promise<Response> {
  const { status, body } = await requestWithHeaders(port, path);
  return { status, body };
}

/** `request()` with the response headers; aborting `signal` hangs up, as a client that gives up does. */
function requestWithHeaders(port: number, path: string, signal?: AbortSignal): Promise<FullResponse> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, signal }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (data: string) => (text += data));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> });
        } catch (error) {
          reject(error as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The server's `GET /stats`: `pool.stats()`. */
async function statsOf(server: Server): Promise<Record<string, unknown>> {
  const { status, body } = await request(server.port, '/stats');
  expect(status).toBe(200);
  return body;
}

/** SIGTERM, and the server exits 0 once its pool has drained. */
async function stop(server: Server): Promise<void> {
  server.child.kill('SIGTERM');
  await expect(within(server.exited, 'the server exiting after SIGTERM')).resolves.toEqual({ code: 0, signal: null });
  expect(server.lines.at(-1)).toBe('stopped');
}

function fibonacci(n: number): number {
  return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2);
}

/** The server's workers now, remembered as strays so a failing test cannot leave them behind. */
function workersOf(server: Server): number[] {
  const pids = liveWorkers(server.child.pid);
  for (const pid of pids) {
    strays.add(pid);
  }
  return pids;
}

describe('scripts/server.js', () => {
  test('answers from its workers, survives a crashing one, and on SIGTERM exits 0 with every worker gone', async () => {
    const server = await startServer();

    await expect(request(server.port, '/fib?n=30')).resolves.toEqual({ status: 200, body: { n: 30, value: 832_040 } });
    await expect(request(server.port, '/health')).resolves.toEqual({ status: 200, body: { status: 'ok' } });
    await expect(request(server.port, '/fib?n=forty')).resolves.toMatchObject({ status: 400 });

    const crash = await request(server.port, '/crash');
    expect(crash.status).toBe(500);
    expect(crash.body).toEqual({
      code: 'ERR_WORKER_EXITED',
      error: expect.stringMatching(/PoolWorker-\d+.* exit code 70/),
    });
    // The server still serves, from the surviving worker or the crashed one's replacement.
    await expect(request(server.port, '/fib?n=20')).resolves.toEqual({ status: 200, body: { n: 20, value: 6765 } });
    await expect(request(server.port, '/health')).resolves.toEqual({ status: 200, body: { status: 'ok' } });

    // The replacement was forked before the 500 went out: these are all the workers there are.
    const workers = workersOf(server);
    expect(workers).toHaveLength(cpuCount());

    server.child.kill('SIGTERM');
    await expect(within(server.exited, 'the server exiting after SIGTERM')).resolves.toEqual({ code: 0, signal: null });
    expect(server.lines).toContain('shutting down');
    expect(server.lines.at(-1)).toBe('stopped');
    // join() resolved before the server exited, so its workers had exited already.
    expect(workers.filter(isAlive)).toEqual([]);
  });

  describe.each([
    ['SIGTERM to the server', (server: Server) => server.child.kill('SIGTERM')],
    // Ctrl-C in a terminal: every process of the group gets it, workers included.
    ['SIGINT to its process group (Ctrl-C)', (server: Server) => process.kill(-server.child.pid!, 'SIGINT')],
  ])('%s', (_, signal) => {
    test('lets the request in progress finish before the server exits 0', async () => {
      const gate = await Rendezvous.open();
      try {
        const server = await startServer({ SERVER_TASK_GATE: gate.path }, { detached: true });
        const workers = workersOf(server);
        const response = request(server.port, '/fib?n=25');
        const running: Report = await within(gate.next(), 'the request reaching a worker');
        expect(running.tag).toBe('fib(25)');
        expect(workers).toContain(running.pid);

        signal(server);
        await within(server.printed('shutting down'), 'the server starting to shut down');
        // No new connections …
        await expect(request(server.port, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
        // … but the request in progress completes.
        running.socket.write('go\n');
        await expect(within(response, 'the drained request')).resolves.toEqual({
          status: 200,
          body: { n: 25, value: 75_025 },
        });

        await expect(within(server.exited, 'the server exiting')).resolves.toEqual({ code: 0, signal: null });
        expect(server.lines.at(-1)).toBe('stopped');
        expect(workers.filter(isAlive)).toEqual([]);
      } finally {
        await gate.close();
      }
    });
  });

  test('a second SIGTERM while draining terminates the pool and exits 1', async () => {
    const gate = await Rendezvous.open();
    try {
      const server = await startServer({ SERVER_TASK_GATE: gate.path });
      const workers = workersOf(server);
      const response = request(server.port, '/fib?n=25').then(
        (answer) => answer.status,
        (error: NodeJS.ErrnoException) => error.code,
      );
      const running = await within(gate.next(), 'the request reaching a worker');

      server.child.kill('SIGTERM');
      await within(server.printed('shutting down'), 'the server starting to shut down');
      server.child.kill('SIGTERM');

      await expect(within(server.exited, 'the server exiting')).resolves.toEqual({ code: 1, signal: null });
      expect(server.lines).toContain('terminating: second signal');
      expect(server.lines).not.toContain('stopped');
      await within(running.closed, 'the killed worker closing its gate connection');
      // terminate() resolved before the server exited, so its workers had exited already.
      expect(workers.filter(isAlive)).toEqual([]);
      // The held request was answered 503 (PoolTerminatedError), or its connection went with the server.
      expect([503, 'ECONNRESET']).toContain(await within(response, 'the terminated request settling'));
    } finally {
      await gate.close();
    }
  });

  test('a request past MAX_QUEUE is refused with 503 and Retry-After; the queued ones are answered', async () => {
    const gate = await Rendezvous.open();
    try {
      const processes = cpuCount();
      // As many as there are workers: the first requests fit in the queue even if they
      // arrive while the workers are still starting.
      const maxQueue = processes;
      const server = await startServer({ SERVER_TASK_GATE: gate.path, MAX_QUEUE: String(maxQueue) });
      workersOf(server);
      const fib = (n: number) => requestWithHeaders(server.port, `/fib?n=${n}`);

      // Every worker holds a request: nothing leaves the queue until the test opens a gate.
      const held = Array.from({ length: processes }, (_, i) => fib(i));
      const running = await within(gate.take(processes), 'a request reaching each worker');
      // One request more than the queue holds, in whatever order they arrive: exactly one
      // is refused, and it is the first answer, since no other can be answered yet.
      const queued = Array.from({ length: maxQueue + 1 }, (_, i) => fib(10 + i));
      const refused = await within(Promise.race(queued), 'the request past the queue being refused');
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body).toEqual({ code: 'ERR_QUEUE_FULL', error: expect.stringContaining(`maxQueue: ${maxQueue}`) });
      await expect(statsOf(server)).resolves.toMatchObject({ queued: maxQueue, running: processes });

      for (const report of running) {
        report.socket.write('go\n');
      }
      for (const report of await within(gate.take(maxQueue), 'the queued requests reaching workers')) {
        report.socket.write('go\n');
      }
      const answers = await within(Promise.all([...held, ...queued]), 'every request being answered');
      expect(answers.filter((answer) => answer.status === 503)).toEqual([refused]);
      for (const { status, body } of answers.filter((answer) => answer !== refused)) {
        expect(status).toBe(200);
        expect(body.value).toBe(fibonacci(body.n as number));
      }
      await expect(statsOf(server)).resolves.toMatchObject({
        queued: 0,
        running: 0,
        completed: processes + maxQueue,
        failed: 1,
      });

      await stop(server);
    } finally {
      await gate.close();
    }
  });

  test('a client that disconnects while its request runs gets its worker stopped and replaced', async () => {
    const gate = await Rendezvous.open();
    try {
      const server = await startServer({ SERVER_TASK_GATE: gate.path });
      workersOf(server);
      const client = new AbortController();
      const abandoned = requestWithHeaders(server.port, '/fib?n=25', client.signal).catch((error: Error) => error.name);
      const running = await within(gate.next(), 'the request reaching a worker');

      client.abort();
      await expect(abandoned).resolves.toBe('AbortError');
      // The server logs each worker the pool replaced, once the process has exited.
      await within(
        server.printed(`${running.name} (pid ${running.pid}) exited: abort`),
        'the server stopping the worker',
      );
      await within(running.closed, 'the stopped worker closing its gate connection');
      expect(isAlive(running.pid)).toBe(false);
      const stats = await statsOf(server);
      expect(stats).toMatchObject({
        queued: 0,
        running: 0,
        completed: 0,
        failed: 1,
        spawned: cpuCount() + 1,
        replacements: { 'max-tasks': 0, memory: 0, timeout: 0, abort: 1, crash: 0 },
      });
      // The replacement was forked when the worker was stopped.
      const workers = workersOf(server);
      expect(workers).toHaveLength(cpuCount());
      expect(workers).not.toContain(running.pid);

      // And the server goes on serving.
      const response = request(server.port, '/fib?n=20');
      (await within(gate.next(), 'the next request reaching a worker')).socket.write('go\n');
      await expect(within(response, 'the next request')).resolves.toEqual({
        status: 200,
        body: { n: 20, value: 6765 },
      });

      await stop(server);
    } finally {
      await gate.close();
    }
  });

  test('a task past TASK_TIMEOUT_MS gets 504, and its worker is stopped and replaced', async () => {
    const gate = await Rendezvous.open();
    try {
      // The gate never opens: the request can only end by its time limit.
      const server = await startServer({ SERVER_TASK_GATE: gate.path, TASK_TIMEOUT_MS: '50' });
      workersOf(server);
      const { status, body } = await within(request(server.port, '/fib?n=25'), 'the held request timing out');
      expect(status).toBe(504);
      expect(body).toEqual({ code: 'ERR_TASK_TIMEOUT', error: expect.stringContaining('timeout of 50 ms') });

      const [, name, pid] = /on (PoolWorker-\d+) \(pid (\d+)\)/.exec(body.error as string)!;
      await within(server.printed(`${name} (pid ${pid}) exited: timeout`), 'the server stopping the worker');
      expect(isAlive(Number(pid))).toBe(false);
      await expect(statsOf(server)).resolves.toMatchObject({
        failed: 1,
        replacements: { 'max-tasks': 0, memory: 0, timeout: 1, abort: 0, crash: 0 },
      });

      await stop(server);
    } finally {
      await gate.close();
    }
  });

  test('a drain past SHUTDOWN_TIMEOUT_MS terminates the pool: the request gets 503 and the server exits 1', async () => {
    const gate = await Rendezvous.open();
    try {
      const server = await startServer({ SERVER_TASK_GATE: gate.path, SHUTDOWN_TIMEOUT_MS: '50' });
      const workers = workersOf(server);
      const response = request(server.port, '/fib?n=25');
      const running = await within(gate.next(), 'the request reaching a worker');

      // The gate never opens: the drain can only end by its deadline.
      server.child.kill('SIGTERM');
      await expect(within(response, 'the terminated request')).resolves.toMatchObject({
        status: 503,
        body: { code: 'ERR_POOL_TERMINATED' },
      });
      await expect(within(server.exited, 'the server exiting')).resolves.toEqual({ code: 1, signal: null });
      expect(server.lines).toContain('shutting down');
      expect(server.lines.at(-1)).toBe('terminated: still busy after 50 ms');
      await within(running.closed, 'the killed worker closing its gate connection');
      expect(workers.filter(isAlive)).toEqual([]);
    } finally {
      await gate.close();
    }
  });
});
