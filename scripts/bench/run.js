/**
 * The benchmark driver: `npm run bench [-- options]` (the npm script builds dist/ first).
 *
 *   --reps N                  repetitions (default 5)
 *   --quick                   2 repetitions
 *   --only w1,w2,…            only these workloads (ids as in the tables below)
 *   --libraries a,b,…         only these libraries: forkpool, cpython, raw-json, raw-advanced,
 *                             raw (both raw), peers (every peer), or a peer's name
 *   --write                   write docs/benchmarks.md and docs/benchmarks.svg after a partial run
 *   --out DIR                 write benchmarks.md and benchmarks.svg to DIR instead of docs/
 *
 * Every (library, workload) runs in a fresh process — scripts/bench/case.js for forkpool and
 * the raw forked baseline, scripts/bench/python_pool.py for CPython's multiprocessing.Pool,
 * scripts/bench/peer-case.js (when it exists) for the peer Node.js pool libraries. Within
 * each workload the libraries are interleaved, in an order that rotates with the repetition.
 * Each figure is reported as its median and min–max, and as ratios to the workload's
 * references measured in the same repetition; a Status section judges every performance
 * target on the median of its per-repetition ratios. A full run (no --only, no --libraries)
 * writes the page and the chart; a partial run only prints the page, unless --write or --out.
 * The text between `<!-- levers:start -->` and `<!-- levers:end -->` in the existing page is
 * written by hand and kept as it is.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuTimedPasses, imapMillionChunksize } from './measure.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const caseScript = fileURLToPath(new URL('./case.js', import.meta.url));
const peerScript = fileURLToPath(new URL('./peer-case.js', import.meta.url));
const pythonScript = fileURLToPath(new URL('./python_pool.py', import.meta.url));
const docsDir = fileURLToPath(new URL('../../docs', import.meta.url));

// ── arguments ───────────────────────────────────────────────────────────────────────────

const usage = 'Usage: npm run bench -- [--reps N | --quick] [--only w1,w2,…] [--libraries a,b,…] [--write] [--out DIR]';

function parseArgs(argv) {
  const options = { reps: 5, only: undefined, libraries: undefined, write: false, out: undefined };
  const list = (i) => {
    if (argv[i] === undefined || argv[i].startsWith('--')) {
      throw new Error(`Expected a comma-separated list after ${argv[i - 1]}. ${usage}`);
    }
    return argv[i].split(',').filter(Boolean);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') {
      options.reps = 2;
    } else if (arg === '--reps') {
      options.reps = Number(argv[++i]);
      if (!(Number.isInteger(options.reps) && options.reps >= 1)) {
        throw new Error(`Expected --reps to be an integer >= 1, got ${argv[i]}`);
      }
    } else if (arg === '--only') {
      options.only = list(++i);
    } else if (arg === '--libraries') {
      options.libraries = list(++i);
    } else if (arg === '--write') {
      options.write = true;
    } else if (arg === '--out') {
      options.out = argv[++i];
      if (!options.out) {
        throw new Error(`Expected a directory after --out. ${usage}`);
      }
    } else {
      throw new Error(`Unknown argument ${arg}. ${usage}`);
    }
  }
  return options;
}

const args = process.argv.slice(2);
const options = parseArgs(args);
const { reps } = options;
const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
const partial = options.only !== undefined || options.libraries !== undefined;
const outDir = options.out ? path.resolve(options.out) : docsDir;
const shouldWrite = !partial || options.write || options.out !== undefined;

// ── machine ─────────────────────────────────────────────────────────────────────────────

function tryRun(file, argv, timeout = 60_000) {
  try {
    return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout }).trim();
  } catch {
    return undefined;
  }
}

function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line ? line.split(':')[1].trim() : os.cpus()[0]?.model;
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

const pythonVersion = tryRun('python3', ['--version']);
const machine = {
  cpu: cpuModel(),
  cores: os.cpus().length,
  os: `${os.type()} ${os.release()} (${os.arch()})`,
  node: process.version,
  python: pythonVersion ?? 'python3 not on PATH: CPython not measured',
  forkpool: JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version,
  commit: tryRun('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']) ?? 'unknown',
  dirty: (tryRun('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no']) ?? '') !== '',
};

// ── the peers: whatever scripts/bench/peer-case.js --list describes ─────────────────────

/** `{ name: { label, version, kind, workloads, cannotPass? } }`, or `{}` when there is no peer-case.js. */
let peers = {};
let peersNote;
if (!existsSync(peerScript)) {
  peersNote = 'scripts/bench/peer-case.js does not exist: no peer library was measured.';
} else {
  const listed = tryRun(process.execPath, [peerScript, '--list']);
  try {
    peers = JSON.parse(listed?.split('\n').at(-1) ?? '');
    if (typeof peers !== 'object' || peers === null || Array.isArray(peers)) {
      throw new Error('not an object');
    }
  } catch {
    peers = {};
    peersNote = '`node scripts/bench/peer-case.js --list` failed or printed no JSON object: no peer was measured.';
  }
}
const peerNames = Object.keys(peers);
const processPeers = peerNames.filter((name) => peers[name].kind === 'process');

// ── libraries ───────────────────────────────────────────────────────────────────────────

const FORKPOOL = 'forkpool';
const CPYTHON = 'cpython';
const RAW_JSON = 'raw-json';
const RAW_ADVANCED = 'raw-advanced';
const rawLibraries = [RAW_JSON, RAW_ADVANCED];

const knownLibraries = [FORKPOOL, CPYTHON, ...rawLibraries, ...peerNames];
function selectedLibraries() {
  if (!options.libraries) {
    return new Set(knownLibraries);
  }
  const selected = new Set();
  for (const name of options.libraries) {
    const expanded = name === 'raw' ? rawLibraries : name === 'peers' ? peerNames : [name];
    for (const library of expanded) {
      if (!knownLibraries.includes(library)) {
        throw new Error(`Unknown library ${library} in --libraries; known: ${knownLibraries.join(', ')}, raw, peers`);
      }
      selected.add(library);
    }
  }
  return selected;
}
const libraries = selectedLibraries();
if (!pythonVersion) {
  libraries.delete(CPYTHON);
}

const libraryName = (library) =>
  ({ [FORKPOOL]: 'forkpool', [CPYTHON]: 'CPython', [RAW_JSON]: 'raw (json)', [RAW_ADVANCED]: 'raw (advanced)' })[
    library
  ] ??
  peers[library]?.label ??
  library;

// ── the workloads, their rows and their references ──────────────────────────────────────

/** One measured case: a library running one of its workloads, in a process of its own. */
const kase = (library, workload, label) => ({ library, workload, label: label ?? libraryName(library) });
const caseKey = (c) => `${c.library}/${c.workload}`;

/** `results[caseKey][rep]`: the case's JSON result, or `{ failed }`. */
const results = {};
const failures = [];
const resultOf = (c, rep) => results[caseKey(c)]?.[rep];
const figureOf = (c, rep) => {
  const result = resultOf(c, rep);
  return result && !result.failed ? result.value : undefined;
};

/** The peers that list `workload`, as cases. */
const peerCases = (workload, names = peerNames) =>
  names.filter((name) => peers[name].workloads?.includes(workload)).map((name) => kase(name, workload));
const rawCases = (workload, describe) =>
  rawLibraries.map((library) => kase(library, workload, `${libraryName(library)}, ${describe}`));

/**
 * The best figure among `cases` in repetition `rep` (the highest when higher is better),
 * over those that were measured and, for payloads, brought the payload back intact.
 */
function best(cases, higherIsBetter, rep) {
  const values = cases
    .filter((c) => libraries.has(c.library))
    .map((c) => resultOf(c, rep))
    .filter((r) => r && !r.failed && r.check?.intact !== false)
    .map((r) => r.value);
  if (values.length === 0) {
    return undefined;
  }
  return higherIsBetter ? Math.max(...values) : Math.min(...values);
}

/** A reference that is the best of some cases in the same repetition. */
function bestOf(label, description, cases, higherIsBetter) {
  return { label, description, cases, figure: (rep) => best(cases, higherIsBetter, rep) };
}
/** A reference that is one case. */
function caseRef(label, description, c) {
  return { label, description, cases: [c], figure: (rep) => figureOf(c, rep) };
}
/** A fixed reference (a budget, or 1 for a figure that is already a ratio). */
function constantRef(label, description, value) {
  return { label, description, cases: [], figure: () => value };
}

const cpythonRef = (workload) => caseRef('× CPython', "CPython's `multiprocessing.Pool(2)`", kase(CPYTHON, workload));
const rawRef = (label, workload, higherIsBetter, what) =>
  bestOf(
    label,
    `${what}: the better of the raw baseline's json and advanced serialization in the same repetition`,
    rawCases(workload, ''),
    higherIsBetter,
  );
const payloadRef = (workload) =>
  bestOf(
    '× raw (best intact)',
    'the raw baseline echoing the payload: the better of json and advanced in the same repetition, among those that bring the payload back intact (json turns a Buffer into `{ type, data }`, so only advanced counts for the Buffer)',
    rawCases(workload, ''),
    false,
  );

/** The CPU workloads' first reference: their figure is already a speed-up over serial. */
const serialRef = constantRef(
  '× serial',
  'the same tasks run one after the other in the measuring process, just before (the figure is already that ratio)',
  1,
);

const mib = 'MiB';
const imapBudgetMiB = 64;

const payloadTitles = {
  'payload-buffer': 'a 1 MiB `Buffer`',
  'payload-string': 'a 1 MiB string',
  'payload-objects': 'an array of 10,000 small objects',
};

/**
 * Every workload: its rows (the cases shown in its table and chart) and its references, the
 * first of which is the one the chart shows ratios to.
 */
const workloads = [
  {
    id: 'tiny-apply-async',
    title:
      '`applyAsync`: 20k tiny tasks `x => x * 2`, submitted one by one, all awaited (median of at least 5 timed passes and 250 ms, after an untimed one)',
    unit: 'tasks/s',
    rows: [
      kase(FORKPOOL, 'tiny-apply-async'),
      kase(CPYTHON, 'tiny-apply-async'),
      ...peerCases('tiny-apply-async'),
      ...rawCases('pipelined', 'fully pipelined'),
      ...rawCases('one-in-flight', 'one message in flight per child'),
    ],
    references: [
      rawRef('× raw pipelined', 'pipelined', true, 'all 20k messages sent at once, round robin'),
      bestOf(
        '× fastest process peer',
        'the fastest of the process-based peer libraries in the same repetition',
        peerCases('tiny-apply-async', processPeers),
        true,
      ),
      cpythonRef('tiny-apply-async'),
    ],
  },
  {
    id: 'tiny-map',
    title:
      '`map`: 20k tiny tasks, default chunksize (median of at least 5 timed passes and 250 ms, after an untimed one)',
    unit: 'tasks/s',
    rows: [kase(FORKPOOL, 'tiny-map'), kase(CPYTHON, 'tiny-map'), ...peerCases('tiny-map')],
    references: [cpythonRef('tiny-map'), rawRef('× raw pipelined', 'pipelined', true, 'fully pipelined raw messages')],
  },
  {
    id: 'tiny-imap',
    title: '`imap`: 20k tiny tasks, chunksize 1 (median of at least 5 timed passes and 250 ms, after an untimed one)',
    unit: 'tasks/s',
    rows: [kase(FORKPOOL, 'tiny-imap'), kase(CPYTHON, 'tiny-imap'), ...peerCases('tiny-imap')],
    references: [cpythonRef('tiny-imap'), rawRef('× raw pipelined', 'pipelined', true, 'fully pipelined raw messages')],
  },
  {
    id: 'tiny-apply',
    title: '`apply` round trip: 2,000 sequential calls after 2,000 warm-up calls',
    unit: 'µs/call',
    rows: [
      kase(FORKPOOL, 'tiny-apply'),
      kase(CPYTHON, 'tiny-apply'),
      ...peerCases('tiny-apply'),
      ...rawCases('round-trip', 'sequential round trip'),
    ],
    references: [
      rawRef('× raw round trip', 'round-trip', false, 'sequential round trips alternating between the two children'),
      cpythonRef('tiny-apply'),
    ],
  },
  {
    id: 'cpu-map',
    title: `CPU, \`map\` as a script calls it: 200 tasks of about 5 ms of CPU each (\`burn\`), default chunksize (median of ${cpuTimedPasses} passes after a first one)`,
    unit: '× serial',
    firstPass: true,
    // The peers have no chunked map: their one-call-per-task figures are in the next table.
    rows: [
      kase(FORKPOOL, 'cpu-map'),
      kase(CPYTHON, 'cpu-map'),
      ...rawCases('cpu-map', "map's default chunks, each chunk one message, all sent at once"),
    ],
    references: [
      serialRef,
      rawRef(
        '× raw chunked',
        'cpu-map',
        true,
        "the raw baseline's speed-up, the tasks in `map`'s default chunks, each chunk one message, all sent at once",
      ),
    ],
  },
  {
    id: 'cpu',
    title: `CPU: 200 tasks of about 5 ms of CPU each (\`burn\`), one task per chunk (median of ${cpuTimedPasses} passes after a first one)`,
    unit: '× serial',
    // The first pass's speed-up (check.firstPass), in a column of its own.
    firstPass: true,
    rows: [
      kase(FORKPOOL, 'cpu'),
      kase(CPYTHON, 'cpu'),
      ...peerCases('cpu'),
      ...rawCases('cpu', 'every task its own message, all sent at once'),
    ],
    references: [
      serialRef,
      rawRef(
        '× raw pipelined',
        'cpu',
        true,
        "the raw baseline's speed-up, every task its own message, all sent at once",
      ),
    ],
  },
  ...Object.entries(payloadTitles).map(([id, payload]) => ({
    id,
    title: `Payload round trip: ${payload} to \`echo\` and back, 50 sequential calls after 5 warm-up`,
    unit: 'ms/round trip',
    rows: [kase(FORKPOOL, id), kase(CPYTHON, id), ...peerCases(id), ...rawCases(id, 'echo')],
    references: [payloadRef(id), cpythonRef(id)],
  })),
  {
    id: 'startup',
    title: 'Create pool → first result → terminate (median of 9 lifetimes per process)',
    unit: 'ms',
    rows: [
      kase(FORKPOOL, 'startup'),
      kase(CPYTHON, 'startup'),
      ...peerCases('startup'),
      ...rawCases('startup', 'fork 2 → first answer → kill both, exited'),
    ],
    references: [
      rawRef('× raw fork', 'startup', false, 'fork 2 children → first answer → kill both and see them exit'),
      cpythonRef('startup'),
    ],
  },
  {
    id: 'max-tasks-1',
    title: '`maxTasksPerChild: 1`: 200 tiny tasks, each in a new worker (clock from pool creation to the last result)',
    unit: 'tasks/s',
    rows: [
      kase(FORKPOOL, 'max-tasks-1'),
      kase(CPYTHON, 'max-tasks-1'),
      ...peerCases('max-tasks-1'),
      kase(RAW_JSON, 'naive-2-lanes', 'naive fork loop, 2 lanes'),
      kase(RAW_JSON, 'naive-1-lane', 'naive fork loop, 1 lane'),
    ],
    references: [
      caseRef(
        '× naive loop',
        'the naive loop, forking a child for one task and forking the next only after it exited, one child at a time',
        kase(RAW_JSON, 'naive-1-lane', 'naive fork loop, 1 lane'),
      ),
      caseRef(
        '× naive, 2 lanes',
        'two such loops side by side, as many children at a time as the pool has workers',
        kase(RAW_JSON, 'naive-2-lanes', 'naive fork loop, 2 lanes'),
      ),
      cpythonRef('max-tasks-1'),
    ],
  },
  {
    id: 'idle-rss',
    title: 'Idle worker memory: RSS of each of the 2 workers after warm-up, averaged',
    unit: mib,
    rows: [
      kase(FORKPOOL, 'idle-rss'),
      kase(CPYTHON, 'idle-rss'),
      ...peerCases('idle-rss'),
      ...rawCases('idle-rss', 'bare forked child'),
    ],
    references: [
      rawRef(
        '× bare child',
        'idle-rss',
        false,
        'a bare forked `node` child (the raw echo child: one message handler, its IPC channel open), warmed the same way',
      ),
      cpythonRef('idle-rss'),
    ],
  },
  {
    id: 'imap-1m',
    title: `\`imap\` over a 1,000,000-item generator (chunksize ${imapMillionChunksize}): parent peak RSS growth`,
    unit: mib,
    rows: [kase(FORKPOOL, 'imap-1m'), kase(CPYTHON, 'imap-1m'), ...peerCases('imap-1m')],
    references: [constantRef(`× ${imapBudgetMiB} MiB`, `the budget of ${imapBudgetMiB} MiB`, imapBudgetMiB)],
  },
];

const higherIsBetterUnits = new Set(['tasks/s', '× serial']);
for (const w of workloads) {
  w.higherIsBetter = higherIsBetterUnits.has(w.unit);
}
const workloadIds = workloads.map((w) => w.id);
if (options.only) {
  for (const id of options.only) {
    if (!workloadIds.includes(id)) {
      throw new Error(`Unknown workload ${id} in --only; known: ${workloadIds.join(', ')}`);
    }
  }
}
const selectedWorkloads = workloads.filter((w) => !options.only || options.only.includes(w.id));

// ── running the cases ───────────────────────────────────────────────────────────────────

/**
 * One repetition's cases: workload after workload; within one, the cases of its rows and of
 * its references (each case once per repetition), in an order that rotates with `rep`.
 */
function casesOfRepetition(rep) {
  const seen = new Set();
  const cases = [];
  for (const w of selectedWorkloads) {
    const group = [...w.rows, ...w.references.flatMap((r) => r.cases)].filter((c) => {
      const key = caseKey(c);
      if (seen.has(key) || !libraries.has(c.library)) {
        return false;
      }
      seen.add(key);
      return true;
    });
    if (group.length > 0) {
      const shift = rep % group.length;
      cases.push(...group.slice(shift), ...group.slice(0, shift));
    }
  }
  return cases;
}

function commandOf({ library, workload }) {
  if (library === CPYTHON) {
    return ['python3', [pythonScript, workload]];
  }
  if (peers[library]) {
    return [process.execPath, [peerScript, library, workload]];
  }
  return [process.execPath, [caseScript, library, workload]];
}

/** How long the processes a case leaves behind may take to exit before they are killed. */
const leftoverGraceMs = 10_000;
/** The process group of the case running now, if any (each case leads one of its own). */
let runningGroup;

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killGroup(runningGroup);
    process.exit(130);
  });
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false; // ESRCH: no process is left in the group
  }
}

function killGroup(pgid) {
  try {
    if (pgid !== undefined) {
      process.kill(-pgid, 'SIGKILL');
    }
  } catch {
    // already empty
  }
}

/**
 * Waits until every process of a finished case's group has exited (a library whose
 * terminate does not wait for its workers leaves them exiting), so that no case runs
 * beside the last one's leftovers; kills what is still there after `leftoverGraceMs`.
 */
async function quietAfter(pgid) {
  const deadline = performance.now() + leftoverGraceMs;
  while (groupAlive(pgid)) {
    if (performance.now() > deadline) {
      process.stderr.write(`(killing what case ${pgid} left running) `);
      killGroup(pgid);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function runCase(c) {
  const result = await runCaseProcess(c);
  await quietAfter(runningGroup);
  runningGroup = undefined;
  return result;
}

function runCaseProcess(c) {
  const [file, argv] = commandOf(c);
  return new Promise((resolve) => {
    const options = { cwd: repoRoot, timeout: 300_000, maxBuffer: 16 << 20, detached: true };
    const child = execFile(file, argv, options, (error, stdout, stderr) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      let result;
      try {
        result = JSON.parse(line);
      } catch {
        const last = stderr.trim().split('\n').at(-1) ?? '';
        resolve({ failed: `${error?.message.split('\n')[0] ?? 'no JSON line'} ${last}`.trim() });
        return;
      }
      if (!result.check?.ok || error || !Number.isFinite(result.value)) {
        resolve({ failed: `check failed: ${JSON.stringify(result.check)}` });
      } else {
        resolve(result);
      }
    });
    runningGroup = child.pid;
  });
}

function format(value, unit) {
  if (value === undefined || !Number.isFinite(value)) {
    return '—';
  }
  switch (unit) {
    case 'tasks/s':
      return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1);
    case 'ms/round trip':
    case '× serial':
      return value.toFixed(2);
    default:
      return value.toFixed(1);
  }
}

const unitOfCase = new Map(selectedWorkloads.flatMap((w) => [...w.rows].map((c) => [caseKey(c), w.unit])));

for (let rep = 0; rep < reps; rep++) {
  for (const c of casesOfRepetition(rep)) {
    process.stderr.write(`rep ${rep + 1}/${reps}  ${c.library} ${c.workload} … `);
    const result = await runCase(c);
    (results[caseKey(c)] ??= [])[rep] = result;
    if (result.failed) {
      failures.push(`rep ${rep + 1}: ${c.library} ${c.workload}: ${result.failed}`);
      process.stderr.write('FAILED\n');
    } else {
      const unit = result.unit ?? unitOfCase.get(caseKey(c));
      const intact = result.check?.intact === false ? ' (not intact)' : '';
      process.stderr.write(`${format(result.value, unit)} ${unit}${intact}\n`);
    }
  }
}

// ── statistics ──────────────────────────────────────────────────────────────────────────

function summary(values) {
  const xs = values.filter((x) => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) {
    return undefined;
  }
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  return { median, min: xs[0], max: xs.at(-1), count: xs.length };
}

const perRep = (f) => Array.from({ length: reps }, (_, rep) => f(rep));
const figures = (c) => summary(perRep((rep) => figureOf(c, rep)));
/** Per-repetition ratios of a case's figure to a reference's, summarised. */
const ratioTo = (c, reference) =>
  summary(
    perRep((rep) => {
      const mine = figureOf(c, rep);
      const theirs = reference.figure(rep);
      return mine === undefined || theirs === undefined ? undefined : mine / theirs;
    }),
  );
/** The first pass of a workload that reports one (check.firstPass), summarised. */
const firstPasses = (c) =>
  summary(
    perRep((rep) => {
      const result = resultOf(c, rep);
      return result && !result.failed ? result.check?.firstPass : undefined;
    }),
  );
const notIntact = (c) => (results[caseKey(c)] ?? []).some((r) => r && !r.failed && r.check?.intact === false);

// ── status: the targets of the performance issue, judged on the median ratios ────────

const workload = (id) => workloads.find((w) => w.id === id);
const selected = (id) => selectedWorkloads.some((w) => w.id === id);
const forkpoolOf = (id) => kase(FORKPOOL, id);

/** A target on forkpool's figure over reference `refIndex` of workload `id`: `op` is '≥' or '≤'. */
function ratioTarget(id, refIndex, text, op, threshold) {
  const reference = workload(id).references[refIndex];
  return {
    id,
    text,
    reference,
    op,
    threshold,
    measured: selected(id) ? ratioTo(forkpoolOf(id), reference) : undefined,
    ok: (r) => (op === '≥' ? r >= threshold : r <= threshold),
  };
}

/** The process peer that was fastest on `applyAsync` in the most repetitions, and in how many. */
function fastestPeer() {
  const counts = {};
  for (let rep = 0; rep < reps; rep++) {
    const [name] = processPeers
      .filter((p) => libraries.has(p))
      .map((p) => [p, figureOf(kase(p, 'tiny-apply-async'), rep)])
      .filter(([, v]) => v !== undefined)
      .sort((a, b) => b[1] - a[1])[0] ?? [undefined];
    if (name) {
      counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  const [name, count] = Object.entries(counts).sort((a, b) => b[1] - a[1])[0] ?? [];
  return name ? `fastest: ${name}, in ${count} of ${reps} repetition${reps === 1 ? '' : 's'}` : undefined;
}

const targets = [
  ratioTarget('tiny-apply-async', 1, '`applyAsync` 20k ≥ 2× the fastest process-based peer', '≥', 2),
  ratioTarget('tiny-apply-async', 0, '`applyAsync` 20k ≥ 1× raw pipelined (one message per task)', '≥', 1),
  ratioTarget('tiny-map', 0, '`map` 20k, default chunksize ≥ 1× CPython `Pool.map`', '≥', 1),
  ratioTarget('tiny-imap', 0, '`imap` 20k, chunksize 1 ≥ 2× CPython `imap`', '≥', 2),
  ratioTarget('tiny-apply', 0, '`apply` round trip ≤ 1.25× raw fork round trip', '≤', 1.25),
  ratioTarget('tiny-apply', 1, '`apply` round trip ≤ 0.5× CPython `apply`', '≤', 0.5),
  ratioTarget(
    'cpu-map',
    0,
    'CPU, 200 × ~5 ms, `map` with its default chunksize: speed-up over serial in-process ≥ 1.9× (timed passes)',
    '≥',
    1.9,
  ),
  ...Object.entries(payloadTitles).map(([id, payload]) =>
    ratioTarget(id, 0, `${payload} round trip ≤ 1.25× the raw baseline's best intact serialization`, '≤', 1.25),
  ),
  ratioTarget('startup', 0, 'create → first result → terminate ≤ 1.2× raw fork doing the same', '≤', 1.2),
  ratioTarget('max-tasks-1', 0, '`maxTasksPerChild: 1`, 200 tasks ≥ 1.5× the naive fork loop', '≥', 1.5),
  ratioTarget('idle-rss', 0, 'idle worker RSS ≤ 1.15× a bare forked `node` child', '≤', 1.15),
  {
    // Judged on the growth itself, in MiB; the chart shows it over the budget (target ≤ 1×).
    ...ratioTarget(
      'imap-1m',
      0,
      `\`imap\` over a 1M-item generator: parent peak RSS growth ≤ ${imapBudgetMiB} MiB`,
      '≤',
      1,
    ),
    measured: selected('imap-1m') ? figures(forkpoolOf('imap-1m')) : undefined,
    ok: (growth) => growth <= imapBudgetMiB,
    unit: mib,
    markLabel: `target ≤ ${imapBudgetMiB} MiB`,
  },
];
const verdict = (t) => (!t.measured ? 'not measured' : t.ok(t.measured.median) ? 'met' : 'not met');

// ── formatting ──────────────────────────────────────────────────────────────────────────

const fixedRatio = (r) => (r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2));
const formatRatio = (s) => (s ? `${fixedRatio(s.median)}× (${fixedRatio(s.min)}–${fixedRatio(s.max)})` : '—');
const formatFigure = (s, unit) => (s ? format(s.median, unit) : 'failed');
/** `median (min–max)`, each in `unit`'s format; `label` (the unit's name, if wanted) after the median. */
const formatSummary = (s, unit, label = '') =>
  s ? `${format(s.median, unit)}${label} (${format(s.min, unit)}–${format(s.max, unit)})` : '—';
const formatRange = (s, unit) => (s ? `${format(s.min, unit)} – ${format(s.max, unit)}` : '—');
const formatMeasured = (t) =>
  !t.measured ? '—' : t.unit ? formatSummary(t.measured, t.unit, ` ${t.unit}`) : formatRatio(t.measured);

function table(header, rows) {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map((cell) => String(cell).replaceAll('|', '\\|')).join(' | ')} |`),
  ];
}

// ── the chart ───────────────────────────────────────────────────────────────────────────

const escapeXml = (s) =>
  String(s).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
const plainText = (s) => String(s).replaceAll('`', '');

/**
 * For each workload, one horizontal bar per library: the median of its per-repetition ratios
 * to the workload's first reference, on a log scale centred on 1 (the reference), with a
 * whisker for min–max; the targets are red dashed lines (a target on another reference is a
 * red tick on forkpool's bar, placed with the median ratio between the two references).
 */
function chartSvg() {
  const panels = selectedWorkloads.map((w) => {
    const reference = w.references[0];
    const bars = w.rows
      .filter((c) => libraries.has(c.library))
      .map((c) => ({ c, ratio: ratioTo(c, reference), notIntact: notIntact(c) }));
    const marks = targets
      .filter((t) => t.id === w.id)
      .map((t) => {
        if (t.reference === reference) {
          return { at: t.threshold, label: t.markLabel ?? `target ${t.op} ${t.threshold}×`, line: true };
        }
        // The threshold on the other reference, expressed on this one.
        const between = summary(
          perRep((rep) => {
            const a = t.reference.figure(rep);
            const b = reference.figure(rep);
            return a === undefined || b === undefined ? undefined : a / b;
          }),
        );
        return between
          ? {
              at: t.threshold * between.median,
              label: `target ${t.op} ${t.threshold}${t.reference.label.replace(/^× ?/, '× ')}`,
              line: false,
            }
          : undefined;
      })
      .filter(Boolean);
    return { w, reference, bars, marks };
  });

  const values = panels.flatMap((p) => [
    1,
    ...p.bars.flatMap((b) => (b.ratio ? [b.ratio.min, b.ratio.max] : [])),
    ...p.marks.map((m) => m.at),
  ]);
  // The axis runs between ticks of the 1-2-5 series just outside the values.
  const series = [];
  for (let p = -3; p <= 4; p++) {
    series.push(10 ** p, 2 * 10 ** p, 5 * 10 ** p);
  }
  const lo = series.filter((v) => v <= Math.max(1e-3, Math.min(...values)) * 0.95).at(-1) ?? 1e-3;
  const hi = series.find((v) => v >= Math.min(5e4, Math.max(...values)) * 1.05) ?? 5e4;

  const width = 1000;
  const labelWidth = 330;
  const plotLeft = labelWidth + 10;
  const plotRight = width - 170;
  const x = (v) =>
    plotLeft +
    ((Math.log10(Math.min(hi, Math.max(lo, v))) - Math.log10(lo)) / Math.log10(hi / lo)) * (plotRight - plotLeft);
  const ticks = series.filter((v) => v >= lo * 0.999 && v <= hi * 1.001);
  const tickLabel = (v) => `${v >= 1 ? v.toFixed(0) : Number(v.toPrecision(1))}×`;

  const barHeight = 14;
  const barGap = 5;
  const out = [];
  let y = 0;
  const text = (tx, ty, s, attrs = '') => out.push(`<text x="${tx}" y="${ty}"${attrs}>${escapeXml(s)}</text>`);

  y += 24;
  text(12, y, 'forkpool benchmarks: median ratio to each workload’s reference (log scale)', ' class="h1"');
  y += 18;
  text(
    12,
    y,
    `2 workers, ${reps} repetition${reps === 1 ? '' : 's'}; ratios taken within each repetition; whiskers: min–max. ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, commit ${machine.commit}${machine.dirty ? ' + local changes' : ''}.`,
    ' class="small"',
  );
  y += 16;
  out.push(`<rect x="12" y="${y - 9}" width="12" height="10" class="forkpool"/>`);
  text(28, y, 'forkpool', ' class="small"');
  out.push(`<rect x="90" y="${y - 9}" width="12" height="10" class="cpython"/>`);
  text(106, y, 'CPython', ' class="small"');
  out.push(`<rect x="166" y="${y - 9}" width="12" height="10" class="peer"/>`);
  text(182, y, 'peer library', ' class="small"');
  out.push(`<rect x="264" y="${y - 9}" width="12" height="10" class="raw"/>`);
  text(280, y, 'raw baseline', ' class="small"');
  out.push(`<line x1="370" y1="${y - 9}" x2="370" y2="${y + 1}" class="target"/>`);
  text(378, y, 'target', ' class="small"');
  y += 14;

  const axis = (ay) => {
    for (const v of ticks) {
      text(x(v), ay, tickLabel(v), ' class="tick" text-anchor="middle"');
    }
  };
  y += 12;
  axis(y);
  y += 6;

  for (const p of panels) {
    y += 18;
    const direction = p.w.higherIsBetter ? 'higher is better' : 'lower is better';
    text(12, y, `${plainText(p.w.title)}`, ' class="h2"');
    y += 14;
    text(
      12,
      y,
      `${p.reference.label.replace(/^× /, '')} = 1× (${p.w.unit.startsWith('×') ? '' : `${p.w.unit}, `}${direction})`,
      ' class="small"',
    );
    y += 8;
    const top = y;
    const height = Math.max(1, p.bars.length) * (barHeight + barGap);
    for (const v of ticks) {
      out.push(`<line x1="${x(v)}" y1="${top}" x2="${x(v)}" y2="${top + height}" class="grid"/>`);
    }
    out.push(`<line x1="${x(1)}" y1="${top}" x2="${x(1)}" y2="${top + height}" class="one"/>`);
    p.bars.forEach((b, i) => {
      const by = top + i * (barHeight + barGap) + barGap / 2;
      const kind =
        b.c.library === FORKPOOL
          ? 'forkpool'
          : b.c.library === CPYTHON
            ? 'cpython'
            : peers[b.c.library]
              ? 'peer'
              : 'raw';
      const label = `${b.c.label}${b.notIntact ? ' (not intact)' : ''}`;
      text(labelWidth, by + barHeight - 3, label, ' class="label" text-anchor="end"');
      if (!b.ratio) {
        text(x(1) + 4, by + barHeight - 3, 'not measured', ' class="small"');
        return;
      }
      const x0 = Math.min(x(1), x(b.ratio.median));
      const x1 = Math.max(x(1), x(b.ratio.median));
      out.push(
        `<rect x="${x0.toFixed(1)}" y="${by}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${barHeight}" class="${kind}"/>`,
      );
      const wy = by + barHeight / 2;
      out.push(
        `<line x1="${x(b.ratio.min).toFixed(1)}" y1="${wy}" x2="${x(b.ratio.max).toFixed(1)}" y2="${wy}" class="whisker"/>`,
      );
      text(plotRight + 8, by + barHeight - 3, formatRatio(b.ratio), ' class="value"');
      if (b.c.library === FORKPOOL) {
        for (const m of p.marks.filter((mark) => !mark.line)) {
          out.push(
            `<line x1="${x(m.at).toFixed(1)}" y1="${by - 2}" x2="${x(m.at).toFixed(1)}" y2="${by + barHeight + 2}" class="target tick-mark"/>`,
          );
        }
      }
    });
    for (const m of p.marks.filter((mark) => mark.line)) {
      out.push(
        `<line x1="${x(m.at).toFixed(1)}" y1="${top - 4}" x2="${x(m.at).toFixed(1)}" y2="${top + height}" class="target"/>`,
      );
    }
    const markText = p.marks.map((m) => `${m.label}${m.line ? '' : ' (tick on forkpool’s bar)'}`).join('; ');
    if (markText) {
      text(plotRight, top - 8, markText, ' class="small target-text" text-anchor="end"');
    }
    y = top + height;
  }
  y += 16;
  axis(y);
  y += 12;

  const style = `
    text { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; fill: #1f2328; }
    .h1 { font-size: 16px; font-weight: 600; }
    .h2 { font-size: 13px; font-weight: 600; }
    .small { font-size: 11px; fill: #59636e; }
    .label { font-size: 11px; }
    .value { font-size: 11px; font-variant-numeric: tabular-nums; }
    .tick { font-size: 10px; fill: #59636e; }
    .grid { stroke: #d1d9e0; stroke-width: 1; }
    .one { stroke: #59636e; stroke-width: 1.5; }
    .forkpool { fill: #0969da; }
    .cpython { fill: #bf8700; }
    .peer { fill: #8c959f; }
    .raw { fill: #424a53; }
    .whisker { stroke: #1f2328; stroke-width: 1; }
    .target { stroke: #cf222e; stroke-width: 2; stroke-dasharray: 4 3; }
    .tick-mark { stroke-dasharray: none; stroke-width: 3; }
    .target-text { fill: #cf222e; }`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" role="img" aria-label="forkpool benchmark ratios">`,
    `<style>${style}\n</style>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

// ── the page ────────────────────────────────────────────────────────────────────────────

const leversStart = '<!-- levers:start -->';
const leversEnd = '<!-- levers:end -->';

/** The hand-written text between the levers markers of the existing page, kept as it is. */
function existingLevers() {
  for (const file of [path.join(outDir, 'benchmarks.md'), path.join(docsDir, 'benchmarks.md')]) {
    try {
      const page = readFileSync(file, 'utf8');
      const start = page.indexOf(leversStart);
      const end = page.indexOf(leversEnd, start);
      if (start !== -1 && end !== -1) {
        return page.slice(start + leversStart.length, end);
      }
    } catch {
      // no page yet
    }
  }
  return '\n_To be written by hand: what forkpool does on each workload, and why. `npm run bench` keeps the text between these markers when it rewrites this page._\n';
}

const lines = [];
lines.push('# Benchmarks', '');
lines.push(
  'Written by `scripts/bench/run.js`; every figure on this page is one it measured. Each',
  '(library, workload) ran in a fresh process, with 2 workers, libraries interleaved within each',
  'workload in an order that rotates with the repetition, and its results were checked (every',
  'output equal to `2 * input` and their sum; payloads equal to what was sent and of the same',
  'type; serial and parallel CPU results equal), not only timed. Figures are the median over the',
  'repetitions, with min–max. Ratios are taken within each repetition (a figure over the',
  'reference measured in the same repetition) and then summarised the same way. For tasks/s and',
  'speed-ups a higher ratio is better; for µs, ms and MiB a lower one is. Every library, CPython',
  'included, warms up the same way. Before any clock starts, calls go to the pool two at a time',
  'until each of its 2 workers has answered one, so that no clock counts a worker still starting',
  '(except in the start-up and `maxTasksPerChild: 1` workloads, which time the whole life of the',
  'workers). Each throughput workload runs once untimed, then timed passes whose median is its',
  'figure: at least 5, and more until they add up to 250 ms (a `map` pass takes a few ms, where',
  'five would measure the machine’s scheduling more than the pool). Round trips come after 2,000',
  'warm-up calls. The untimed pass and the warm-up calls make the figures the steady state of',
  'a long-running process rather than mostly its JIT warm-up. The CPU workloads, likewise,',
  `run a first pass, then ${cpuTimedPasses} timed passes whose median is their figure; the first pass, the first`,
  'call of a fresh process, its code and its workers’ still cold, is shown beside it.',
  'The list `map` and `imap` are given is made once, in the untimed pass, as CPython is handed a',
  '`range`: making it is the caller’s work, not the pool’s.',
  '',
  'The raw baseline is two children forked with `child_process.fork`',
  '(scripts/bench/raw-echo-child.js) that answer each `{ id, value }` with',
  '`{ id, value: value * 2 }` (or echo it back, for the payloads; or `burn(value)`, for the',
  'CPU workloads, one seed per message or a chunk of them as `map` makes by default), measured with',
  "`serialization: 'json'` and `'advanced'`. A ratio to raw uses the better of the two in that",
  'repetition, so that it is never flattered by the slower channel; for a payload, only a',
  'serialization that brings it back intact counts (json turns a Buffer into `{ type, data }`).',
  'The naive fork loops fork one raw child per task. CPython is `multiprocessing.Pool(2)`',
  '(scripts/bench/python_pool.py) on the same workloads; its `burn` does fewer iterations of the',
  'same work, so that a task takes about 5 ms there too. Peer libraries are measured by',
  'scripts/bench/peer-case.js on the same task functions and clocks (they have no chunked `map`:',
  'on the CPU workload they make one call per task); the thread-based ones are',
  'shown for reference and do not count as "process-based peers".',
  '',
  '![Median ratio of each library to each workload’s reference, log scale, with the targets](benchmarks.svg)',
  '',
);
if (partial) {
  lines.push(
    `**Partial run**: workloads ${selectedWorkloads.map((w) => `\`${w.id}\``).join(', ')}; libraries ${[...libraries].map((l) => `\`${l}\``).join(', ')}.`,
    '',
  );
}

const met = targets.filter((t) => verdict(t) === 'met').length;
const measuredCount = targets.filter((t) => t.measured).length;
lines.push('## Status', '');
lines.push(
  `On this run, ${met} of ${targets.length} targets met (${measuredCount} measured), judged on the median of the per-repetition ratios (2 workers on ${machine.cores} cores).`,
  '',
);
const fastest = fastestPeer();
lines.push(
  ...table(
    ['target', 'measured: median (min–max)', 'status'],
    targets.map((t) => [
      t.reference.label.includes('peer') && fastest ? `${t.text} (${fastest})` : t.text,
      formatMeasured(t),
      verdict(t),
    ]),
  ),
  '',
);

const cpuTarget = targets.find((t) => t.id === 'cpu-map').threshold;
/** `label X; raw (json) Y; raw (advanced) Z`: forkpool's and the raw baseline's `of` on CPU workload `id`. */
const cpuFigures = (id, of) =>
  [FORKPOOL, ...rawLibraries]
    .filter((l) => libraries.has(l))
    .map((l) => `${libraryName(l)} ${formatSummary(of(kase(l, id)), '× serial')}`)
    .join('; ');
if (selected('cpu-map') && libraries.has(FORKPOOL)) {
  lines.push(
    `The CPU target is judged on \`map\` as a script calls it, \`pool.map(burn, seeds)\`, whose default chunksize (CPython's) hands the 200 tasks out 25 at a time, and on the timed passes, as the other figures are on a warm process. The first pass, the first \`map\` of a fresh process: ${cpuFigures('cpu-map', firstPasses)} (× serial, median (min–max)).`,
    '',
  );
}
if (selected('cpu') && libraries.has(FORKPOOL)) {
  const oneByOne = figures(forkpoolOf('cpu'));
  const side = oneByOne
    ? ` forkpool's median there is ${oneByOne.median >= cpuTarget ? 'at or above' : 'below'} ${cpuTarget}×.`
    : '';
  lines.push(
    `With one task per message (\`map\` with chunksize 1, the second CPU table), each task costs a message each way and a wake of the parent on a core the workers need: timed passes ${cpuFigures('cpu', figures)}; first pass ${cpuFigures('cpu', firstPasses)} (× serial, median (min–max)).${side}`,
    '',
  );
}

lines.push('## What forkpool does on these workloads', '');
lines.push(leversStart + existingLevers() + leversEnd, '');

lines.push('## Machine', '');
lines.push(
  ...table(
    ['', ''],
    [
      ['CPU', machine.cpu],
      ['cores', String(machine.cores)],
      ['OS', machine.os],
      ['Node', machine.node],
      ['Python', machine.python],
      ['forkpool', `${machine.forkpool} (commit ${machine.commit}${machine.dirty ? ', with local changes' : ''})`],
      ['repetitions', String(reps)],
      ['date', new Date().toISOString().slice(0, 10)],
    ],
  ),
  '',
);
lines.push('Command:', '', '```sh', command, '```', '');

for (const w of selectedWorkloads) {
  lines.push(`## ${w.title}`, '');
  lines.push(
    `${w.unit}, ${w.higherIsBetter ? 'higher' : 'lower'} is better. References: ${w.references
      .map((r) => `${r.label} is ${r.description}`)
      .join('; ')}.`,
    '',
  );
  const header = [
    'library',
    `median (${w.unit})`,
    'min – max',
    ...(w.firstPass ? ['first pass: median (min–max)'] : []),
    ...w.references.map((r) => r.label),
  ];
  lines.push(
    ...table(
      header,
      w.rows
        .filter((c) => libraries.has(c.library))
        .map((c) => {
          const s = figures(c);
          return [
            `${c.label}${notIntact(c) ? ' (not intact: does not count as a reference)' : ''}`,
            formatFigure(s, w.unit),
            formatRange(s, w.unit),
            ...(w.firstPass ? [formatSummary(firstPasses(c), w.unit)] : []),
            ...w.references.map((r) =>
              r.cases.length === 1 && caseKey(r.cases[0]) === caseKey(c) ? '1 (reference)' : formatRatio(ratioTo(c, r)),
            ),
          ];
        }),
    ),
    '',
  );
}

lines.push('## Peer libraries', '');
if (peersNote) {
  lines.push(peersNote, '');
} else {
  lines.push(
    ...table(
      ['library', 'version', 'kind', 'workloads', 'cannot pass'],
      peerNames.map((name) => {
        const p = peers[name];
        const cannot = Object.entries(p.cannotPass ?? {}).map(([w, why]) => `\`${w}\`: ${why}`);
        return [
          p.label ?? name,
          p.version ?? '?',
          p.kind ?? '?',
          (p.workloads ?? []).map((w) => `\`${w}\``).join(', '),
          cannot.join('; ') || '—',
        ];
      }),
    ),
    '',
  );
}

if (failures.length > 0) {
  lines.push('## Failed cases', '', ...failures.map((f) => `- ${f}`), '');
}

const markdown = lines.join('\n');
console.log(markdown);
if (shouldWrite) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'benchmarks.md'), markdown);
  writeFileSync(path.join(outDir, 'benchmarks.svg'), chartSvg());
  process.stderr.write(`\nWrote ${path.join(outDir, 'benchmarks.md')} and benchmarks.svg\n`);
} else {
  process.stderr.write('\nPartial run: docs/benchmarks.md not written (pass --write or --out DIR to write it).\n');
}
if (failures.length > 0) {
  process.exitCode = 1;
}
