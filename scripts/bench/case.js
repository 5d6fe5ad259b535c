/**
 * One benchmark case, measured in this fresh process and printed as one JSON line:
 *
 *   node scripts/bench/case.js <library> <workload> [--n N]
 *
 * `library` is `forkpool`, `raw-json` or `raw-advanced` (two forked echo children,
 * scripts/bench/raw-echo-child.js, with that IPC serialization). Every case uses two
 * workers, warms them with one task each before the clock starts (except `startup`, whose
 * clock covers the whole life of the pool), and checks its results, not only its time.
 * scripts/bench/run.js drives the cases; python_pool.py is CPython's counterpart.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Pool } from '../../dist/lib/index.js';
import { double } from './tasks.js';
import { inputs, processes, roundTrip, startup, throughput } from './measure.js';

const tasksModule = new URL('./tasks.js', import.meta.url);
const echoChild = fileURLToPath(new URL('./raw-echo-child.js', import.meta.url));

/** Default sizes: 20k tiny tasks, 2,000 round trips (after 200 warm-up calls), 5 pool lifetimes. */
const defaultN = { throughput: 20_000, roundTrip: 2_000, startup: 5 };

// ── forkpool ────────────────────────────────────────────────────────────────────────────

async function withPool(body) {
  const pool = new Pool({ processes, module: tasksModule });
  try {
    await Promise.all([pool.apply(double, [0]), pool.apply(double, [1])]);
    return await body(pool);
  } finally {
    await pool.terminate();
  }
}

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
};

// ── raw baseline: two forked echo children ──────────────────────────────────────────────

/** Forks the two echo children; each reply goes to `onReply(message)`. */
function forkEchoChildren(serialization, onReply) {
  const children = [];
  for (let i = 0; i < processes; i++) {
    const child = fork(echoChild, [], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
async function withEchoChildren(serialization, body) {
  let handler = () => {};
  const children = forkEchoChildren(serialization, (message, child) => handler(message, child));
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

/** All `count` messages sent at once, round robin; resolves with the replies in input order. */
function rawPipelined(children, setHandler, count) {
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
      children[i % children.length].send({ id: i, value: i });
    }
  });
}

/** One message in flight per child: a child gets the next message when it answers the last. */
function rawOneInFlight(children, setHandler, count) {
  return new Promise((resolve) => {
    const values = new Array(count);
    let received = 0;
    let next = 0;
    const sendNext = (child) => {
      if (next < count) {
        child.send({ id: next, value: next });
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
    children.forEach(sendNext);
  });
}

function rawCases(serialization) {
  return {
    pipelined: (n) =>
      withEchoChildren(serialization, (children, setHandler) =>
        throughput(n, (count) => rawPipelined(children, setHandler, count)),
      ),
    'one-in-flight': (n) =>
      withEchoChildren(serialization, (children, setHandler) =>
        throughput(n, (count) => rawOneInFlight(children, setHandler, count)),
      ),
    // Sequential calls, alternating between the two children, as a pool's idle workers take turns.
    'round-trip': (n) =>
      withEchoChildren(serialization, (children, setHandler) => {
        let pending;
        setHandler((message) => pending(message.value));
        return roundTrip(
          n,
          (i) =>
            new Promise((resolve) => {
              pending = resolve;
              children[i % children.length].send({ id: i, value: i });
            }),
        );
      }),
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
  };
}

const libraries = {
  forkpool: forkpoolCases,
  'raw-json': rawCases('json'),
  'raw-advanced': rawCases('advanced'),
};

const sizeOf = { 'tiny-apply': 'roundTrip', 'round-trip': 'roundTrip', startup: 'startup' };

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
  return { library, workload, n: n ?? defaultN[sizeOf[workload] ?? 'throughput'], run: cases[workload] };
}

const { library, workload, n, run } = parseArgs(process.argv.slice(2));
const result = await run(n);
console.log(JSON.stringify({ library, workload, n, ...result }));
if (!result.check.ok) {
  process.exitCode = 1;
}
