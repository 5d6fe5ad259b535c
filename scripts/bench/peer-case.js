/**
 * One benchmark case of a peer Node.js pool library, measured in this fresh process and
 * printed as one JSON line, as scripts/bench/case.js does for forkpool:
 *
 *   node scripts/bench/peer-case.js <peer> <workload> [--n N]
 *   node scripts/bench/peer-case.js --list
 *
 * `--list` prints one JSON line describing every peer: its label, installed version, kind
 * (`process` or `thread`), the workloads whose check it passes, and why it fails the others.
 *
 * Every peer runs with 2 workers, warmed until each has answered a task (measure.js
 * `warmUp`) before the clock starts (except `startup`, whose clock covers the whole life of
 * the pool), on the task functions of tasks.js (through its worker script in peer-workers/)
 * and the clocks and checks of measure.js, so that each library is measured the same way as
 * forkpool. A case also checks
 * that every child process the pool forked has exited once the pool is destroyed.
 */
import childProcess from 'node:child_process';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { fileURLToPath } from 'node:url';
import { burn } from './tasks.js';
import { cpuSpeedup, payloadRoundTrips, processes, roundTrip, startup, throughput, warmUp } from './measure.js';

const workerScript = (name) => fileURLToPath(new URL(`./peer-workers/${name}`, import.meta.url));

// ── the child processes the pools fork ──────────────────────────────────────────────────

/**
 * Every child process forked in this process: `child_process.fork` is wrapped (and the ES
 * module bindings of node:child_process refreshed, for libraries that import it), and cluster
 * workers are added as cluster forks them. The peers are imported after this, on demand.
 */
const children = new Set();
const realFork = childProcess.fork;
childProcess.fork = function fork(...args) {
  const child = realFork.apply(this, args);
  children.add(child);
  return child;
};
syncBuiltinESMExports();
cluster.on('fork', (worker) => children.add(worker.process));

const running = (child) => child.exitCode === null && child.signalCode === null;

/** Pools that reported killing a child that did not exit when asked to (jest-worker does). */
let forcedExits = 0;

/** How long a destroyed pool's children may take to exit before they count as left over. */
const exitGraceMs = 10_000;

/** Children that were still running `exitGraceMs` after their pool was destroyed. */
let leftoverWorkers = 0;

/**
 * Waits for every forked child to exit. Any still running after `exitGraceMs` is killed and
 * counted in `leftoverWorkers`, which fails the case's check.
 */
async function childrenExited() {
  const alive = [...children].filter(running);
  if (alive.length === 0) {
    return;
  }
  let timer;
  const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, exitGraceMs)));
  await Promise.race([Promise.all(alive.map((child) => once(child, 'exit'))), timedOut]);
  clearTimeout(timer);
  const leftover = alive.filter(running);
  leftoverWorkers += leftover.length;
  await Promise.all(
    leftover.map((child) => {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      return exited;
    }),
  );
}

// ── the peers ───────────────────────────────────────────────────────────────────────────

/**
 * Each peer: `load()` imports the library (before any clock starts), `create(library)` makes
 * a pool of 2 workers and returns `{ call(name, arg), destroy() }`: `call` resolves with the
 * result of the task function `name` of tasks.js on `arg`, `destroy` ends the pool.
 * `cannotPass` names the workloads whose check the library fails, and why; they still run.
 */
const peers = {
  workerpool: {
    label: 'workerpool (workerType: process)',
    kind: 'process',
    // Forks with Node's default 'json' IPC serialization: Buffer.toJSON() gives { type, data }.
    cannotPass: { 'payload-buffer': "default 'json' IPC serialization: a Buffer comes back as { type, data }" },
    load: () => import('workerpool'),
    create: ({ default: workerpool }) => {
      const pool = workerpool.pool(workerScript('workerpool.js'), {
        workerType: 'process',
        minWorkers: processes,
        maxWorkers: processes,
      });
      return { call: (name, arg) => pool.exec(name, [arg]), destroy: () => pool.terminate() };
    },
  },
  tinypool: {
    label: 'tinypool (runtime: child_process, env: process.env)',
    kind: 'process',
    // A task crosses a MessagePort in this process first (structured clone: a Buffer becomes a
    // plain Uint8Array), then the child's default 'json' IPC serialization, which turns a
    // Uint8Array into an object with one key per byte: slow, and not a Buffer.
    cannotPass: {
      'payload-buffer':
        "a Buffer crosses a MessagePort (becomes a Uint8Array), then 'json' IPC: comes back as an object with one key per byte",
    },
    load: () => import('tinypool'),
    create: ({ Tinypool }) => {
      const pool = new Tinypool({
        filename: workerScript('tinypool.js'),
        runtime: 'child_process',
        // Its children get only the variables passed here (TINYPOOL_WORKER_ID without it),
        // where every other pool's inherit this process's environment.
        env: process.env,
        minThreads: processes,
        maxThreads: processes,
      });
      return { call: (name, arg) => pool.run(arg, { name }), destroy: () => pool.destroy() };
    },
  },
  'jest-worker': {
    label: 'jest-worker (child processes, its default)',
    kind: 'process',
    cannotPass: {},
    load: () => import('jest-worker'),
    create: ({ Worker }) => {
      const worker = new Worker(workerScript('jest-worker.cjs'), {
        numWorkers: processes,
        exposedMethods: ['double', 'echo', 'burn', 'workerId'],
      });
      return {
        call: (name, arg) => worker[name](arg),
        // end() kills a child that has not exited 500 ms after being asked to, and says so.
        destroy: async () => {
          const { forceExited } = await worker.end();
          forcedExits += forceExited ? 1 : 0;
        },
      };
    },
  },
  'worker-farm': {
    label: 'worker-farm (child processes, callback API)',
    kind: 'process',
    // Forks with Node's default 'json' IPC serialization: Buffer.toJSON() gives { type, data }.
    cannotPass: { 'payload-buffer': "default 'json' IPC serialization: a Buffer comes back as { type, data }" },
    load: () => import('worker-farm'),
    create: ({ default: workerFarm }) => {
      // autoStart forks both children now, as the other pools do, instead of on the first calls.
      const farm = workerFarm({ maxConcurrentWorkers: processes, autoStart: true }, workerScript('worker-farm.cjs'), [
        'double',
        'echo',
        'burn',
        'workerId',
      ]);
      return {
        // worker-farm's API takes a Node-style callback instead of returning a promise.
        call: (name, arg) =>
          new Promise((resolve, reject) => farm[name](arg, (error, value) => (error ? reject(error) : resolve(value)))),
        // end() calls back once it has told the children to exit, not when they have exited.
        destroy: () => new Promise((resolve) => workerFarm.end(farm, resolve)),
      };
    },
  },
  poolifier: {
    label: 'poolifier FixedClusterPool (cluster processes)',
    kind: 'process',
    // Cluster workers use Node's default 'json' IPC serialization: Buffer.toJSON() gives { type, data }.
    cannotPass: {
      'payload-buffer': "cluster's default 'json' IPC serialization: a Buffer comes back as { type, data }",
    },
    load: () => import('poolifier'),
    create: ({ FixedClusterPool }) => {
      const pool = new FixedClusterPool(processes, workerScript('poolifier.cjs'));
      return { call: (name, arg) => pool.execute(arg, name), destroy: () => pool.destroy() };
    },
  },
  piscina: {
    label: 'piscina (worker threads, reference)',
    kind: 'thread',
    // postMessage's structured clone does not keep Buffer's prototype.
    cannotPass: { 'payload-buffer': 'structured clone between threads: a Buffer comes back as a plain Uint8Array' },
    load: () => import('piscina'),
    create: ({ Piscina }) => {
      const pool = new Piscina({ filename: workerScript('piscina.js'), minThreads: processes, maxThreads: processes });
      return { call: (name, arg) => pool.run(arg, { name }), destroy: () => pool.destroy() };
    },
  },
};

function installedVersion(name) {
  const url = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).version;
}

// ── the workloads: same ids and meaning as in case.js ───────────────────────────────────

/** Runs `body(pool)` on a pool whose 2 workers each answered one task first. */
async function withPool(peer, library, body) {
  const pool = await peer.create(library);
  try {
    await warmUp(() => pool.call('workerId'));
    return await body(pool);
  } finally {
    await pool.destroy();
  }
}

const payloadCase = (kind) => (peer, library, n) =>
  withPool(peer, library, (pool) => payloadRoundTrips(kind, n, (payload) => pool.call('echo', payload)));

const workloads = {
  'tiny-apply-async': (peer, library, n) =>
    withPool(peer, library, (pool) =>
      throughput(n, (count) => {
        const results = [];
        for (let i = 0; i < count; i++) {
          results.push(pool.call('double', i));
        }
        return Promise.all(results);
      }),
    ),
  'tiny-apply': (peer, library, n) => withPool(peer, library, (pool) => roundTrip(n, (i) => pool.call('double', i))),
  // Create the pool, first result, destroy it and see its child processes exit.
  startup: (peer, library, n) =>
    startup(n, async () => {
      const pool = await peer.create(library);
      try {
        return await pool.call('double', 21);
      } finally {
        await pool.destroy();
        await childrenExited();
      }
    }),
  cpu: (peer, library, n) =>
    withPool(peer, library, (pool) =>
      cpuSpeedup(n, burn, (seeds) => Promise.all(seeds.map((seed) => pool.call('burn', seed)))),
    ),
  'payload-buffer': payloadCase('buffer'),
  'payload-string': payloadCase('string'),
  'payload-objects': payloadCase('objects'),
};

const defaultN = { 'tiny-apply': 2_000, startup: 9, cpu: 200 };
const defaultNOf = (workload) => defaultN[workload] ?? (workload.startsWith('payload-') ? 50 : 20_000);

// ── command line ────────────────────────────────────────────────────────────────────────

function list() {
  const entries = Object.entries(peers).map(([name, peer]) => [
    name,
    {
      label: peer.label,
      version: installedVersion(name),
      kind: peer.kind,
      workloads: Object.keys(workloads).filter((workload) => !(workload in peer.cannotPass)),
      cannotPass: peer.cannotPass,
    },
  ]);
  return Object.fromEntries(entries);
}

function parseArgs(argv) {
  const [name, workload, ...rest] = argv;
  let n;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--n') {
      n = Number(rest[++i]);
    } else {
      throw new Error(`Unknown argument ${rest[i]}`);
    }
  }
  if (!peers[name] || !workloads[workload]) {
    throw new Error(
      `Expected <peer> <workload> [--n N] or --list, got ${argv.join(' ')}. ` +
        `Peers: ${Object.keys(peers).join(', ')}. Workloads: ${Object.keys(workloads).join(', ')}.`,
    );
  }
  if (n !== undefined && !(Number.isInteger(n) && n >= 1)) {
    throw new Error(`Expected --n to be an integer >= 1, got ${rest.join(' ')}`);
  }
  return { name, workload, n: n ?? defaultNOf(workload) };
}

const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === '--list') {
  console.log(JSON.stringify(list()));
} else {
  const { name, workload, n } = parseArgs(argv);
  const peer = peers[name];
  const library = await peer.load();
  const result = await workloads[workload](peer, library, n);
  await childrenExited();
  const check = {
    ...result.check,
    ok: result.check.ok && leftoverWorkers === 0,
    leftoverWorkers,
    ...(forcedExits ? { forcedExits } : {}),
  };
  console.log(JSON.stringify({ library: name, workload, n, ...result, check }));
  if (!check.ok) {
    process.exitCode = 1;
  }
}
