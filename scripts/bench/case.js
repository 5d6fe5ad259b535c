/**
 * One benchmark case, measured in this fresh process and printed as one JSON line:
 *
 *   node scripts/bench/case.js <library> <workload> [--n N]
 *
 * `library` is `forkpool`, `raw-json` or `raw-advanced` (two forked echo children,
 * scripts/bench/raw-echo-child.js, with that IPC serialization). Every case uses two
 * workers, warms them until each has answered a task (measure.js `warmUp`; the raw children
 * get one message each) before the clock starts (except `startup` and `max-tasks-1`, whose
 * clocks cover the whole life of the pool or of the children), and checks its results, not
 * only its time. `node scripts/bench/case.js --list` prints the
 * workloads of each library. scripts/bench/run.js drives the cases; python_pool.py is
 * CPython's counterpart.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { defaultChunksize, toChunks } from '../../dist/lib/chunking.js';
import { Pool } from '../../dist/lib/index.js';
import { burn, burnIterations, double, echo, timedBurn, workerId } from './tasks.js';
import {
  counting,
  cpuSpeedup,
  idleRss,
  imapMillionChunksize,
  inputs,
  makePayload,
  payloadRoundTrips,
  peakRssGrowth,
  processes,
  roundTrip,
  startup,
  throughput,
  warmUp,
  workerGap,
} from './measure.js';

const tasksModule = new URL('./tasks.js', import.meta.url);
const echoChild = fileURLToPath(new URL('./raw-echo-child.js', import.meta.url));

/** Rounds of one task per worker before an idle RSS is read. */
const idleWarmUpRounds = 10;

/**
 * Default sizes: 20k tiny tasks, 2,000 round trips (after 2,000 warm-up calls), each
 * throughput workload at least 5 timed passes and 250 ms after an untimed one, 9 pool
 * lifetimes, 200 CPU tasks, 50 payload round trips (after 5 warm-up), 200 tasks of one
 * child each, a million `imap` items.
 */
const defaultN = {
  'tiny-apply': 2_000,
  'round-trip': 2_000,
  startup: 9,
  cpu: 200,
  'cpu-map': 200,
  'payload-buffer': 50,
  'payload-string': 50,
  'payload-objects': 50,
  'max-tasks-1': 200,
  'naive-2-lanes': 200,
  'worker-gap': 100,
  'cpu-gap': 200,
  'cpu-in-flight': 200,
  'naive-1-lane': 200,
  'idle-rss': 1,
  'imap-1m': 1_000_000,
};
const throughputN = 20_000;

// ── forkpool ────────────────────────────────────────────────────────────────────────────

async function withPool(body) {
  const pool = new Pool({ processes, module: tasksModule });
  try {
    await warmUp(() => pool.apply(workerId));
    return await body(pool);
  } finally {
    await pool.terminate();
  }
}

const payloadWorkloads = { 'payload-buffer': 'buffer', 'payload-string': 'string', 'payload-objects': 'objects' };

const forkpoolCases = {
  'tiny-apply-async': (n) =>
    withPool((pool) =>
      throughput(n, (count) => {
        const results = [];
        for (let i = 0; i < count; i++) {
          results.push(pool.applyAsync(double, [i]));
        }
        return Promise.all(results.map((result) => result.get()));
      }),
    ),
  'tiny-map': (n) => withPool((pool) => throughput(n, (count) => pool.map(double, inputs(count)))),
  'tiny-imap': (n) =>
    withPool((pool) =>
      throughput(n, async (count) => {
        const values = [];
        for await (const value of pool.imap(double, inputs(count), { chunksize: 1 })) {
          values.push(value);
        }
        return values;
      }),
    ),
  'tiny-apply': (n) => withPool((pool) => roundTrip(n, (i) => pool.apply(double, [i]))),
  startup: (n) =>
    startup(n, async () => {
      const pool = new Pool({ processes, module: tasksModule });
      try {
        return await pool.apply(double, [21]);
      } finally {
        await pool.terminate();
      }
    }),
  // n tasks of about 5 ms of CPU, one task per chunk, against the same tasks run serially here.
  cpu: (n) => withPool((pool) => cpuSpeedup(n, burn, (seeds) => pool.map(burn, seeds, { chunksize: 1 }))),
  // The same tasks as a script maps them: `map` with its default chunksize.
  'cpu-map': (n) => withPool((pool) => cpuSpeedup(n, burn, (seeds) => pool.map(burn, seeds))),
  // n tasks of about 5 ms on a pool of one worker, which it is sent ahead: the time between two.
  'worker-gap': async (n) => {
    const pool = new Pool({ processes: 1, module: tasksModule });
    try {
      await pool.apply(workerId);
      return await workerGap(n, burn, burnIterations, (tasks) => pool.starmap(timedBurn, tasks, { chunksize: 1 }));
    } finally {
      await pool.terminate();
    }
  },
  // The CPU workload's tasks on both workers, timed inside them: the time between two
  // tasks on one worker, while the other worker and this process share the 2 cores.
  'cpu-gap': (n) =>
    withPool((pool) => workerGap(n, burn, burnIterations, (tasks) => pool.starmap(timedBurn, tasks, { chunksize: 1 }))),
  ...Object.fromEntries(
    Object.entries(payloadWorkloads).map(([workload, kind]) => [
      workload,
      (n) => withPool((pool) => payloadRoundTrips(kind, n, (payload) => pool.apply(echo, [payload]))),
    ]),
  ),
  // The clock covers the pool's whole life up to the last result: every task needs a new worker.
  'max-tasks-1': async (n) => {
    let pool;
    try {
      const result = await throughput(n, (count) => {
        pool = new Pool({ processes, module: tasksModule, maxTasksPerChild: 1 });
        return pool.map(double, inputs(count), { chunksize: 1 });
      });
      const { spawned } = pool.stats();
      return { ...result, check: { ...result.check, ok: result.check.ok && spawned >= n, spawned } };
    } finally {
      await pool?.terminate();
    }
  },
  'idle-rss': async () => {
    const pids = [];
    const pool = new Pool({ processes, module: tasksModule });
    pool.on('workerStart', (event) => pids.push(event.pid));
    try {
      await warmUp(() => pool.apply(workerId));
      let ok = true;
      for (let round = 0; round < idleWarmUpRounds; round++) {
        const values = await Promise.all([pool.apply(double, [round]), pool.apply(double, [round + 1])]);
        ok &&= values[0] === 2 * round && values[1] === 2 * round + 2;
      }
      const result = await idleRss(pids);
      return { ...result, check: { ...result.check, ok: result.check.ok && ok } };
    } finally {
      await pool.terminate();
    }
  },
  'imap-1m': (n) =>
    peakRssGrowth(n, async (count, onValue) => {
      const pool = new Pool({ processes, module: tasksModule });
      try {
        for await (const value of pool.imap(double, counting(count), { chunksize: imapMillionChunksize })) {
          onValue(value);
        }
      } finally {
        await pool.terminate();
      }
    }),
};

// ── raw baseline: two forked echo children ──────────────────────────────────────────────

/** Forks the two echo children in `mode` (see raw-echo-child.js); each reply goes to `onReply(message, child)`. */
function forkEchoChildren(serialization, onReply, mode = 'double') {
  const children = [];
  for (let i = 0; i < processes; i++) {
    const child = fork(echoChild, [mode], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (message) => onReply(message, child));
    children.push(child);
  }
  return children;
}

async function killAll(children) {
  const exits = children.map((child) =>
    child.exitCode === null && child.signalCode === null ? once(child, 'exit') : null,
  );
  for (const child of children) {
    child.kill('SIGKILL');
  }
  await Promise.all(exits);
}

/**
 * Runs `body(children, setHandler)` on two warm echo children. `setHandler(fn)` routes every
 * later reply to `fn(message, child)`.
 */
async function withEchoChildren(serialization, body, mode = 'double') {
  let handler = () => {};
  const children = forkEchoChildren(serialization, (message, child) => handler(message, child), mode);
  try {
    await new Promise((resolve) => {
      let warm = 0;
      handler = () => ++warm === children.length && resolve();
      children.forEach((child, i) => child.send({ id: -1, value: i }));
    });
    return await body(children, (fn) => (handler = fn));
  } finally {
    await killAll(children);
  }
}

/**
 * All `count` messages sent at once, round robin, message i carrying `valueOf(i)`; resolves
 * with the replies in input order.
 */
function rawPipelined(children, setHandler, count, valueOf = (i) => i) {
  return new Promise((resolve) => {
    const values = new Array(count);
    let received = 0;
    setHandler((message) => {
      values[message.id] = message.value;
      if (++received === count) {
        resolve(values);
      }
    });
    for (let i = 0; i < count; i++) {
      children[i % children.length].send({ id: i, value: valueOf(i) });
    }
  });
}

/**
 * `perChild` messages in flight per child: a child gets the next message when it answers
 * one. Message i carries `valueOf(i)`; resolves with the replies in input order.
 */
function rawInFlight(children, setHandler, count, perChild = 1, valueOf = (i) => i) {
  return new Promise((resolve) => {
    const values = new Array(count);
    let received = 0;
    let next = 0;
    const sendNext = (child) => {
      if (next < count) {
        child.send({ id: next, value: valueOf(next) });
        next++;
      }
    };
    setHandler((message, child) => {
      values[message.id] = message.value;
      if (++received === count) {
        resolve(values);
      } else {
        sendNext(child);
      }
    });
    for (let i = 0; i < perChild; i++) {
      children.forEach(sendNext);
    }
  });
}

/** Sequential calls, alternating between the two children, as a pool's idle workers take turns. */
function alternatingCalls(children, setHandler) {
  let pending;
  let turn = 0;
  setHandler((message) => pending(message.value));
  return (value) =>
    new Promise((resolve) => {
      pending = resolve;
      children[turn++ % children.length].send({ id: turn, value });
    });
}

/**
 * The naive way to run each task in a child of its own: `lanes` loops side by side, each
 * forking a child (raw-echo-child.js `once`), sending it one task, taking its answer, and
 * forking the next only after that child has exited. The clock stops at the last answer;
 * the last children's exits are awaited after it, as `max-tasks-1` terminates its pool
 * after its clock.
 */
async function naiveLoop(serialization, lanes, n) {
  const lastExits = [];
  const result = await throughput(n, async (count) => {
    const values = new Array(count);
    let next = 0;
    const lane = async () => {
      while (next < count) {
        const i = next++;
        const child = fork(echoChild, ['once'], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        const exited = once(child, 'exit');
        const answered = once(child, 'message');
        child.send({ id: i, value: i });
        const [reply] = await Promise.race([
          answered,
          exited.then(([code, signal]) => {
            throw new Error(`echo child exited (${code ?? signal}) before it answered`);
          }),
        ]);
        values[i] = reply.value;
        if (next < count) {
          await exited;
        } else {
          lastExits.push(exited);
        }
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));
    return values;
  });
  await Promise.all(lastExits);
  return result;
}

/** A payload through JSON: what a JSON channel delivers when it delivers the payload as it should. */
const throughJson = (payload) => JSON.parse(JSON.stringify(payload));

function rawCases(serialization) {
  return {
    pipelined: (n) =>
      withEchoChildren(serialization, (children, setHandler) =>
        throughput(n, (count) => rawPipelined(children, setHandler, count)),
      ),
    'one-in-flight': (n) =>
      withEchoChildren(serialization, (children, setHandler) =>
        throughput(n, (count) => rawInFlight(children, setHandler, count)),
      ),
    'round-trip': (n) =>
      withEchoChildren(serialization, (children, setHandler) => roundTrip(n, alternatingCalls(children, setHandler))),
    // The CPU workload with nothing between the tasks but the channel: every task its own
    // message, all sent at once, half to each child (raw-echo-child.js `burn`).
    cpu: (n) =>
      withEchoChildren(
        serialization,
        (children, setHandler) =>
          cpuSpeedup(n, burn, (seeds) => rawPipelined(children, setHandler, seeds.length, (i) => seeds[i])),
        'burn',
      ),
    // The CPU workload in the chunks `map` makes by default, each chunk one message, all sent
    // at once, half to each child (raw-echo-child.js `burn-chunk`).
    'cpu-map': (n) =>
      withEchoChildren(
        serialization,
        (children, setHandler) =>
          cpuSpeedup(n, burn, async (seeds) => {
            const chunks = toChunks(seeds, defaultChunksize(seeds.length, processes));
            const answers = await rawPipelined(children, setHandler, chunks.length, (i) => chunks[i]);
            return answers.flat();
          }),
        'burn-chunk',
      ),
    // The same on the first child alone, kept two messages ahead (raw-echo-child.js `timed-burn`).
    'worker-gap': (n) =>
      withEchoChildren(
        serialization,
        (children, setHandler) =>
          workerGap(n, burn, burnIterations, (tasks) =>
            rawInFlight([children[0]], setHandler, tasks.length, 2, (i) => tasks[i]),
          ),
        'timed-burn',
      ),
    // The CPU workload's tasks timed inside the children: all sent at once, half to each.
    'cpu-gap': (n) =>
      withEchoChildren(
        serialization,
        (children, setHandler) =>
          workerGap(n, burn, burnIterations, (tasks) =>
            rawPipelined(children, setHandler, tasks.length, (i) => tasks[i]),
          ),
        'timed-burn',
      ),
    // The CPU workload's tasks handed out as a pool hands them out: two messages in flight
    // per child, the next one sent to a child as it answers (not part of the full run).
    'cpu-in-flight': (n) =>
      withEchoChildren(
        serialization,
        (children, setHandler) =>
          cpuSpeedup(n, burn, (seeds) => rawInFlight(children, setHandler, seeds.length, 2, (i) => seeds[i])),
        'burn',
      ),
    // Fork both children, one message to the first and its answer, kill both and see them exit.
    startup: (n) =>
      startup(n, async () => {
        let answer;
        const answered = new Promise((resolve) => (answer = resolve));
        const children = forkEchoChildren(serialization, (message) => answer(message.value));
        try {
          children[0].send({ id: 0, value: 21 });
          return await answered;
        } finally {
          await killAll(children);
        }
      }),
    // The payload sent to an echo child and back. JSON delivers a Buffer as `{ type, data }`:
    // accepted as a correct trip through JSON, reported as not intact.
    ...Object.fromEntries(
      Object.entries(payloadWorkloads).map(([workload, kind]) => [
        workload,
        (n) =>
          withEchoChildren(
            serialization,
            (children, setHandler) => {
              const expected = serialization === 'json' ? throughJson(makePayload(kind)) : undefined;
              return payloadRoundTrips(
                kind,
                n,
                alternatingCalls(children, setHandler),
                expected === undefined ? {} : { accept: (value) => isDeepStrictEqual(value, expected) },
              );
            },
            'echo',
          ),
      ]),
    ),
    'naive-2-lanes': (n) => naiveLoop(serialization, 2, n),
    'naive-1-lane': (n) => naiveLoop(serialization, 1, n),
    // Two bare children (an empty message handler, the IPC channel open), warmed as the pool's workers are.
    'idle-rss': () =>
      withEchoChildren(serialization, async (children, setHandler) => {
        const call = alternatingCalls(children, setHandler);
        let ok = true;
        for (let i = 0; i < idleWarmUpRounds * children.length; i++) {
          ok &&= (await call(i)) === 2 * i;
        }
        const result = await idleRss(children.map((child) => child.pid));
        return { ...result, check: { ...result.check, ok: result.check.ok && ok } };
      }),
  };
}

const libraries = {
  forkpool: forkpoolCases,
  'raw-json': rawCases('json'),
  'raw-advanced': rawCases('advanced'),
};

function parseArgs(argv) {
  const [library, workload, ...rest] = argv;
  let n;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--n') {
      n = Number(rest[++i]);
    } else {
      throw new Error(`Unknown argument ${rest[i]}`);
    }
  }
  const cases = libraries[library];
  if (!cases || !cases[workload]) {
    const known = Object.entries(libraries).map(([name, c]) => `${name}: ${Object.keys(c).join(', ')}`);
    throw new Error(`Expected <library> <workload> [--n N], got ${argv.join(' ')}. Known:\n  ${known.join('\n  ')}`);
  }
  if (n !== undefined && !(Number.isInteger(n) && n >= 1)) {
    throw new Error(`Expected --n to be an integer >= 1, got ${rest.join(' ')}`);
  }
  return { library, workload, n: n ?? defaultN[workload] ?? throughputN, run: cases[workload] };
}

if (process.argv[2] === '--list') {
  console.log(JSON.stringify(Object.fromEntries(Object.entries(libraries).map(([name, c]) => [name, Object.keys(c)]))));
} else {
  const { library, workload, n, run } = parseArgs(process.argv.slice(2));
  const result = await run(n);
  console.log(JSON.stringify({ library, workload, n, ...result }));
  if (!result.check.ok) {
    process.exitCode = 1;
  }
}
