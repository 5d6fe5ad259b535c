/**
 * scripts/server.js, the HTTP server example, run as a user runs it: it answers from its
 * workers, survives a worker that crashes, and on SIGTERM or SIGINT drains the requests in
 * progress, joins its pool and exits 0, leaving no worker behind. A second signal
 * terminates the pool and exits 1.
 *
 * A request is held in its worker by the tasks' test gate (SERVER_TASK_GATE, see
 * scripts/server-tasks.js): the test learns that it is running there from the rendezvous
 * socket, signals the server, and only then lets the task finish.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from '@jest/globals';
import pDefer from 'p-defer';
import { cpuCount } from '../lib/index.js';
import { expectNoLeakedWorkers, isAlive, liveWorkers } from './helpers/processes.js';
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

const started = new Set<ChildProcess>();
/** Worker pids seen; they are not our children, so a failing test must kill them itself. */
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
async function startServer(extraEnv: Record<string, string> = {}, options: { detached?: boolean } = {}): Promise<Server> {
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
  void exited.then((exit) => listening.reject(new Error(`The server exited before listening: ${JSON.stringify(exit)}. stderr: ${stderr}`)));
  const port = await within(listening.promise, 'the server printing its port');
  child.stdout!.off('data', onLine);
  return { child, port, lines, printed, exited };
}

/** `GET http://127.0.0.1:<port><path>` on a connection of its own; resolves with the status and JSON body. */
function request(port: number, path: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (data: string) => (text += data));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> });
        } catch (error) {
          reject(error as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
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
    expect(crash.body).toEqual({ code: 'ERR_WORKER_EXITED', error: expect.stringMatching(/PoolWorker-\d+.* exit code 70/) });
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
        await expect(within(response, 'the drained request')).resolves.toEqual({ status: 200, body: { n: 25, value: 75_025 } });

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
});
