/**
 * The benchmark driver: `npm run bench [-- --reps N | --quick]` (the npm script builds dist/ first).
 *
 * Every (library, workload) runs in a fresh process — scripts/bench/case.js for forkpool and
 * the raw forked echo baseline, scripts/bench/python_pool.py for CPython's
 * multiprocessing.Pool — libraries interleaved, for N repetitions (default 5, `--quick` 2).
 * Each figure is reported as its median and min–max, and as ratios to the raw baseline and to
 * CPython measured in the same repetition. The tables go to stdout and to docs/benchmarks.md,
 * with a Status section computed from the measured ratios against the performance targets.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const caseScript = fileURLToPath(new URL('./case.js', import.meta.url));
const pythonScript = fileURLToPath(new URL('./python_pool.py', import.meta.url));
const docPath = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

// ── arguments ───────────────────────────────────────────────────────────────────────────

function parseArgs(argv) {
  let reps = 5;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') {
      reps = 2;
    } else if (argv[i] === '--reps') {
      reps = Number(argv[++i]);
      if (!(Number.isInteger(reps) && reps >= 1)) {
        throw new Error(`Expected --reps to be an integer >= 1, got ${argv[i]}`);
      }
    } else {
      throw new Error(`Unknown argument ${argv[i]}; expected --reps N or --quick`);
    }
  }
  return { reps };
}

const args = process.argv.slice(2);
const { reps } = parseArgs(args);
const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;

// ── machine ─────────────────────────────────────────────────────────────────────────────

function tryRun(file, argv) {
  try {
    return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
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
};

// ── the cases ───────────────────────────────────────────────────────────────────────────

const workloads = [
  { id: 'tiny-apply-async', title: '`applyAsync`: 20k tiny tasks `x => x * 2`, submitted one by one, all awaited' },
  { id: 'tiny-map', title: '`map`: 20k tiny tasks, default chunksize' },
  { id: 'tiny-imap', title: '`imap`: 20k tiny tasks, chunksize 1' },
  { id: 'tiny-apply', title: '`apply` round trip: 2,000 sequential calls after 200 warm-up calls' },
  { id: 'startup', title: 'Create pool → first result → terminate (median of 5 lifetimes per process)' },
];
const rawWorkloads = [
  { id: 'one-in-flight', title: 'one message in flight per child, 20k messages' },
  { id: 'pipelined', title: 'fully pipelined, 20k messages' },
  { id: 'round-trip', title: 'sequential round trip, 2,000 calls' },
  { id: 'startup', title: 'fork 2 → first answer → kill both and see them exit' },
];
/** The raw figure each pool workload is compared with. */
const rawBaselineOf = {
  'tiny-apply-async': 'pipelined',
  'tiny-map': 'pipelined',
  'tiny-imap': 'pipelined',
  'tiny-apply': 'round-trip',
  startup: 'startup',
};
const rawLibraries = ['raw-json', 'raw-advanced'];
const poolLibraries = pythonVersion ? ['forkpool', 'cpython'] : ['forkpool'];
const libraryName = {
  forkpool: 'forkpool',
  cpython: 'CPython',
  'raw-json': 'raw (json)',
  'raw-advanced': 'raw (advanced)',
};

/** One repetition's cases, libraries interleaved within each workload; the order rotates with the repetition. */
function casesOfRepetition(rep) {
  const cases = [];
  for (let w = 0; w < Math.max(workloads.length, rawWorkloads.length); w++) {
    const group = [
      ...(workloads[w] ? poolLibraries.map((library) => ({ library, workload: workloads[w].id })) : []),
      ...(rawWorkloads[w] ? rawLibraries.map((library) => ({ library, workload: rawWorkloads[w].id })) : []),
    ];
    const shift = rep % group.length;
    cases.push(...group.slice(shift), ...group.slice(0, shift));
  }
  return cases;
}

function runCase({ library, workload }) {
  const [file, argv] =
    library === 'cpython' ? ['python3', [pythonScript, workload]] : [process.execPath, [caseScript, library, workload]];
  return new Promise((resolve) => {
    execFile(file, argv, { cwd: repoRoot, timeout: 300_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        const result = JSON.parse(line);
        resolve(result.check?.ok && !error ? result : { failed: `check failed: ${JSON.stringify(result.check)}` });
      } catch {
        resolve({ failed: `${error?.message ?? 'no JSON line'} ${stderr.trim().split('\n').at(-1) ?? ''}`.trim() });
      }
    });
  });
}

const key = (library, workload) => `${library}/${workload}`;
/** `figures[key][rep]`: the measured value, or undefined when the case failed. */
const figures = {};
const failures = [];

for (let rep = 0; rep < reps; rep++) {
  for (const c of casesOfRepetition(rep)) {
    process.stderr.write(`rep ${rep + 1}/${reps}  ${c.library} ${c.workload} … `);
    const result = await runCase(c);
    (figures[key(c.library, c.workload)] ??= [])[rep] = result.failed ? undefined : result.value;
    if (result.failed) {
      failures.push(`rep ${rep + 1}: ${c.library} ${c.workload}: ${result.failed}`);
    }
    process.stderr.write(result.failed ? `FAILED\n` : `${format(result.value, result.unit)} ${result.unit}\n`);
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

const higherIsBetter = (workload) => !['tiny-apply', 'round-trip', 'startup'].includes(workload);
const unitOf = (workload) =>
  ({ 'tiny-apply': 'µs/call', 'round-trip': 'µs/call', startup: 'ms' })[workload] ?? 'tasks/s';

/**
 * The raw baseline of one repetition: the better of json and advanced serialization,
 * so that a ratio is never flattered by the slower raw channel.
 */
function rawFigure(rawWorkload, rep) {
  const values = rawLibraries
    .map((library) => figures[key(library, rawWorkload)]?.[rep])
    .filter((x) => x !== undefined);
  if (values.length < rawLibraries.length) {
    return undefined;
  }
  return higherIsBetter(rawWorkload) ? Math.max(...values) : Math.min(...values);
}

/** Per-repetition ratios `library figure / reference figure`, summarised. */
function ratios(library, workload, reference) {
  return summary(
    Array.from({ length: reps }, (_, rep) => {
      const mine = figures[key(library, workload)]?.[rep];
      const theirs = reference(rep);
      return mine === undefined || theirs === undefined ? undefined : mine / theirs;
    }),
  );
}
const toRaw = (library, workload) => ratios(library, workload, (rep) => rawFigure(rawBaselineOf[workload], rep));
const toCpython = (library, workload) => ratios(library, workload, (rep) => figures[key('cpython', workload)]?.[rep]);

// ── formatting ──────────────────────────────────────────────────────────────────────────

function format(value, unit) {
  if (value === undefined) {
    return '—';
  }
  if (unit === 'tasks/s') {
    return Math.round(value).toLocaleString('en-US');
  }
  return value.toFixed(1);
}

const formatRatio = (s) => (s ? `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : '—');
const formatFigure = (s, unit) => (s ? format(s.median, unit) : 'failed');
const formatRange = (s, unit) => (s ? `${format(s.min, unit)} – ${format(s.max, unit)}` : '—');

function table(header, rows) {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

const lines = [];
lines.push('# Benchmarks', '');
lines.push(
  'Written by `scripts/bench/run.js`; every figure on this page is one it measured. Each',
  '(library, workload) ran in a fresh process, libraries interleaved, with 2 workers, and its',
  'results were checked (every output equal to `2 * input`, and their sum), not only timed.',
  'Figures are the median over the repetitions, with min–max. Ratios are taken within each',
  'repetition (a figure over the reference measured in the same repetition) and then summarised',
  'the same way. For tasks/s a higher ratio is better; for µs and ms a lower one is.',
  '',
  'The raw baseline is two children forked with `child_process.fork` that answer each',
  '`{ id, value }` with `{ id, value: value * 2 }` (scripts/bench/raw-echo-child.js), measured with',
  "`serialization: 'json'` and `'advanced'`. The ratio to raw uses the better of the two in that",
  'repetition. forkpool itself uses `advanced`, which carries structured clones.',
  '',
);
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
      ['forkpool', `${machine.forkpool} (commit ${machine.commit})`],
      ['repetitions', String(reps)],
      ['date', new Date().toISOString().slice(0, 10)],
    ],
  ),
  '',
);
lines.push('Command:', '', '```sh', command, '```', '');

lines.push('## Raw baseline', '');
lines.push(
  ...table(
    ['workload', 'serialization', 'median', 'min – max'],
    rawWorkloads.flatMap((w) =>
      rawLibraries.map((library) => {
        const s = summary(figures[key(library, w.id)] ?? []);
        const unit = unitOf(w.id);
        return [`${w.title} (${unit})`, library.slice(4), formatFigure(s, unit), formatRange(s, unit)];
      }),
    ),
  ),
  '',
);

for (const w of workloads) {
  const unit = unitOf(w.id);
  lines.push(`## ${w.title}`, '');
  lines.push(
    `${unit}, ${higherIsBetter(w.id) ? 'higher' : 'lower'} is better. Raw reference: ${rawBaselineOf[w.id]}.`,
    '',
  );
  const header = ['library', `median (${unit})`, 'min – max', '× raw'];
  if (pythonVersion) {
    header.push('× CPython');
  }
  lines.push(
    ...table(
      header,
      poolLibraries.map((library) => {
        const s = summary(figures[key(library, w.id)] ?? []);
        const row = [
          libraryName[library],
          formatFigure(s, unit),
          formatRange(s, unit),
          formatRatio(toRaw(library, w.id)),
        ];
        if (pythonVersion) {
          row.push(library === 'cpython' ? '1' : formatRatio(toCpython(library, w.id)));
        }
        return row;
      }),
    ),
    '',
  );
}

// ── status: the targets of the performance issue, judged on the median ratios ────────

const targets = [
  {
    text: '`applyAsync` 20k ≥ 1× raw pipelined (one message per task)',
    ratio: toRaw('forkpool', 'tiny-apply-async'),
    ok: (r) => r >= 1,
  },
  { text: '`map` ≥ 1× CPython `map`', ratio: pythonVersion && toCpython('forkpool', 'tiny-map'), ok: (r) => r >= 1 },
  {
    text: '`imap` chunksize 1 ≥ 2× CPython `imap`',
    ratio: pythonVersion && toCpython('forkpool', 'tiny-imap'),
    ok: (r) => r >= 2,
  },
  {
    text: '`apply` round trip ≤ 1.25× raw fork round trip',
    ratio: toRaw('forkpool', 'tiny-apply'),
    ok: (r) => r <= 1.25,
  },
  {
    text: '`apply` round trip ≤ 0.5× CPython `apply`',
    ratio: pythonVersion && toCpython('forkpool', 'tiny-apply'),
    ok: (r) => r <= 0.5,
  },
  {
    text: 'create → first result → terminate ≤ 1.2× raw fork doing the same',
    ratio: toRaw('forkpool', 'startup'),
    ok: (r) => r <= 1.2,
  },
];
const verdict = (t) => (!t.ratio ? 'not measured' : t.ok(t.ratio.median) ? 'met' : 'not met');
const met = targets.filter((t) => verdict(t) === 'met').length;

lines.push('## Status', '');
lines.push(
  `On this run, ${met} of ${targets.length} targets met, judged on the median of the per-repetition ratios.`,
  '',
);
lines.push(
  ...table(
    ['target', 'measured (median, min–max)', 'status'],
    targets.map((t) => [t.text, formatRatio(t.ratio), verdict(t)]),
  ),
  '',
);
if (failures.length > 0) {
  lines.push('### Failed cases', '', ...failures.map((f) => `- ${f}`), '');
}

const markdown = lines.join('\n');
writeFileSync(docPath, markdown);
console.log(markdown);
process.stderr.write(`\nWrote ${docPath}\n`);
if (failures.length > 0) {
  process.exitCode = 1;
}
