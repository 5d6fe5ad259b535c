/**
 * Which change moved which figure: the same forkpool workloads of case.js, run against
 * builds of the library at given commits, interleaved, and printed as a Markdown table of
 * medians (min–max).
 *
 *   node scripts/bench/levers.js [--reps N] [--workloads w1,w2,…] [--n N] [--check key] name=commit[:file:from:to] …
 *
 * Each `name=commit` is built in a git worktree under the system's temp directory (with
 * this checkout's node_modules, and this checkout's scripts/bench, so that every build is
 * measured by the same code). `:file:from:to` replaces the text `from` with `to` in `file`
 * before the build, to switch one lever off at that commit. Each (build, workload) runs in
 * a fresh process; the order of the builds rotates with the repetition. `--n N` passes the
 * size to case.js (the number of items or calls), for every workload. `--check key` adds a
 * row for a number a case reports beside its figure (`check.key`, such as the CPU
 * workload's `parentCpuMs`), for each workload that reports it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './measure.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const usage =
  'Usage: node scripts/bench/levers.js [--reps N] [--workloads w1,w2,…] [--n N] [--check key] name=commit[:file:from:to] …';

const args = process.argv.slice(2);
let reps = 3;
let workloads = ['tiny-apply-async', 'tiny-map', 'tiny-imap', 'tiny-apply', 'payload-objects', 'startup'];
let size;
let checkKey;
const builds = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--reps') {
    reps = Number(args[++i]);
  } else if (args[i] === '--workloads') {
    workloads = args[++i].split(',');
  } else if (args[i] === '--n') {
    size = args[++i];
  } else if (args[i] === '--check') {
    checkKey = args[++i];
  } else {
    const match = /^([\w-]+)=([^:]+)(?::([^:]+):([^:]+):(.*))?$/.exec(args[i]);
    if (!match) {
      throw new Error(`${usage}\nNot understood: ${args[i]}`);
    }
    const [, name, commit, file, from, to] = match;
    builds.push({ name, commit, patch: file === undefined ? undefined : { file, from, to } });
  }
}
if (builds.length === 0 || !(Number.isInteger(reps) && reps >= 1)) {
  throw new Error(usage);
}

const root = mkdtempSync(path.join(tmpdir(), 'forkpool-levers-'));
const git = (...gitArgs) => execFileSync('git', gitArgs, { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
try {
  for (const build of builds) {
    build.dir = path.join(root, build.name);
    git('worktree', 'add', '--detach', build.dir, build.commit);
    symlinkSync(path.join(repo, 'node_modules'), path.join(build.dir, 'node_modules'));
    rmSync(path.join(build.dir, 'scripts/bench'), { recursive: true, force: true });
    cpSync(path.join(repo, 'scripts/bench'), path.join(build.dir, 'scripts/bench'), { recursive: true });
    if (build.patch) {
      const file = path.join(build.dir, build.patch.file);
      const text = readFileSync(file, 'utf8');
      if (!text.includes(build.patch.from)) {
        throw new Error(`${build.name}: ${build.patch.file} has no ${JSON.stringify(build.patch.from)}`);
      }
      writeFileSync(file, text.replace(build.patch.from, build.patch.to));
    }
    const tsc = path.join(repo, 'node_modules/typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: build.dir, stdio: 'inherit' });
    if (existsSync(path.join(build.dir, 'scripts/bundle-worker.js'))) {
      execFileSync(process.execPath, ['scripts/bundle-worker.js'], { cwd: build.dir, stdio: 'inherit' });
    }
  }

  /** A figure as the tables print it: whole above 1000, else with 1 decimal, or 2 under 10. */
  const format = (x) => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(x >= 10 ? 1 : 2));
  const results = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const workload of workloads) {
      for (let k = 0; k < builds.length; k++) {
        const build = builds[(k + rep) % builds.length];
        const caseArgs = [path.join(build.dir, 'scripts/bench/case.js'), 'forkpool', workload];
        const run = spawnSync(process.execPath, size === undefined ? caseArgs : [...caseArgs, '--n', size], {
          encoding: 'utf8',
        });
        let line;
        try {
          line = JSON.parse(run.stdout.trim().split('\n').at(-1));
        } catch {
          throw new Error(`${build.name} ${workload} failed:\n${run.stderr}`);
        }
        if (!line.check.ok) {
          throw new Error(`${build.name} ${workload}: wrong results ${JSON.stringify(line.check)}`);
        }
        ((results[workload] ??= { unit: line.unit })[build.name] ??= []).push(line.value);
        if (checkKey !== undefined && typeof line.check[checkKey] === 'number') {
          ((results[`${workload} check.${checkKey}`] ??= { unit: /Ms$/.test(checkKey) ? 'ms' : '' })[build.name] ??=
            []).push(line.check[checkKey]);
        }
        process.stderr.write(
          `rep ${rep + 1}/${reps}  ${build.name} ${workload} … ${format(line.value)} ${line.unit}\n`,
        );
      }
    }
  }

  console.log(`| workload | unit | ${builds.map((b) => `${b.name} (${b.commit.slice(0, 7)})`).join(' | ')} |`);
  console.log(`|---|---|${builds.map(() => '---').join('|')}|`);
  for (const workload of Object.keys(results)) {
    const byBuild = results[workload];
    const cells = builds.map((b) => {
      const xs = byBuild[b.name];
      return `${format(median(xs))} (${format(Math.min(...xs))}–${format(Math.max(...xs))})`;
    });
    console.log(`| ${workload} | ${byBuild.unit} | ${cells.join(' | ')} |`);
  }
} finally {
  for (const build of builds) {
    if (build.dir && existsSync(build.dir)) {
      git('worktree', 'remove', '--force', build.dir);
    }
  }
  rmSync(root, { recursive: true, force: true });
}
