/**
 * The packed tarball, as a new user gets it: `npm pack`, then `npm install <tarball>` into
 * an empty ESM project and an empty CommonJS project, which run a pool from a task module
 * of their own and type-check the typed API with tsc.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { expectNoLeakedWorkers } from './helpers/processes.js';

expectNoLeakedWorkers();

/** npm installs from the registry and tsc runs cold: generous, and never an assertion. */
const timeout = 180_000;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const typecheckDir = fileURLToPath(new URL('typecheck/', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/**
 * The environment of every command: ours without what `npm test` and jest add. npm's
 * `npm_config_local_prefix` would send `npm install` to the repository instead of the
 * consumer project, and NODE_OPTIONS would hide warnings a user would see.
 */
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => !key.startsWith('npm_') && key !== 'NODE_OPTIONS' && key !== 'INIT_CWD',
  ),
);

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never rejects for a non-zero exit, so tests can show its output. */
function run(file: string, args: string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env: cleanEnv, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : error.code;
      if (typeof code === 'string') {
        reject(error); // could not start (ENOENT …)
        return;
      }
      resolve({ code: code ?? null, signal: error?.signal ?? null, stdout, stderr });
    });
  });
}

async function runOrThrow(file: string, args: string[], cwd: string): Promise<string> {
  const result = await run(file, args, cwd);
  if (result.code !== 0) {
    throw new Error(
      `${file} ${args.join(' ')} failed (${result.code ?? result.signal}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** Processes whose command line mentions `dir`: pool workers of a consumer script run from it. */
async function processesUnder(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) {
      continue;
    }
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(dir)) {
        pids.push(Number(name));
      }
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

const writeJson = (file: string, value: unknown) => writeFile(file, `${JSON.stringify(value, null, 2)}\n`);

/** A type-check file of __tests__/typecheck/, without the `@ts-nocheck` that keeps the repository's tsc off it. */
async function typecheckSource(name: string): Promise<string> {
  const source = await readFile(path.join(typecheckDir, name), 'utf8');
  return source.replace(/^\/\/ @ts-nocheck.*\n/, '');
}

/** The consumer's tsconfig: strict, with @types/node taken from the repository, not installed again. */
const consumerTsconfig = (file: string) => ({
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    typeRoots: [path.join(repoRoot, 'node_modules/@types')],
    types: ['node'],
  },
  files: [file],
});

// The task module both consumers' scripts use; `whoami` runs inside a worker.
const taskFunctions = `
function double(x) {
  return x * 2;
}

function add(a, b) {
  return a + b;
}

function whoami() {
  return currentProcess().name;
}
`;

const exportedNames = [
  'Pool',
  'currentProcess',
  'cpuCount',
  'AsyncResult',
  'TimeoutError',
  'PoolError',
  'PoolNotRunningError',
  'WorkerExitedError',
  'SerializationError',
];

// What each consumer script does once it has `forkpool` and its task module (`tasks`,
// `moduleLocation`); it prints one JSON line.
const scriptBody = `
const missing = Object.entries({ ${exportedNames.join(', ')} })
  .filter(([, value]) => typeof value !== 'function')
  .map(([name]) => name);
const pool = new Pool({ processes: 2, module: moduleLocation });
const report = {
  missing,
  byName: await pool.map('double', [1, 2, 3]),
  bySource: await pool.apply((a, b) => a * b, [6, 7]),
  byReference: await pool.map(tasks.double, [4, 5]),
  starmap: await pool.starmap('add', [[1, 2], [3, 4]]),
  worker: await pool.apply(tasks.whoami),
  main: currentProcess().name,
  cpus: cpuCount() >= 1,
};
pool.close();
report.afterClose = await pool.apply('double', [1]).then(
  () => 'resolved',
  (error) => error instanceof PoolNotRunningError && error instanceof PoolError && error.code,
);
await pool.join();
console.log(JSON.stringify(report));
`;

const expectedReport = {
  missing: [],
  byName: [2, 4, 6],
  bySource: 42,
  byReference: [8, 10],
  starmap: [3, 7],
  worker: expect.stringMatching(/^PoolWorker-[12]$/),
  main: 'MainProcess',
  cpus: true,
  afterClose: 'ERR_POOL_NOT_RUNNING',
};

const esmProject = {
  'package.json': { name: 'esm-consumer', private: true, type: 'module' },
  'tasks.js': `import { currentProcess } from 'forkpool';\n${taskFunctions}\nexport { double, add, whoami };\n`,
  'main.js': `import { ${exportedNames.join(', ')} } from 'forkpool';
import * as tasks from './tasks.js';

const moduleLocation = new URL('./tasks.js', import.meta.url);
${scriptBody}`,
};

const cjsProject = {
  'package.json': { name: 'cjs-consumer', private: true },
  // A CommonJS task module: the worker imports it, and its named exports are its export names.
  'tasks.cjs': `const { currentProcess } = require('forkpool');\n${taskFunctions}\nmodule.exports = { double, add, whoami };\n`,
  'tasks.mjs': `import { currentProcess } from 'forkpool';\n${taskFunctions}\nexport { double, add, whoami };\n`,
  // Run as `node main.cjs tasks.cjs` or `node main.cjs tasks.mjs`.
  'main.cjs': `const path = require('node:path');
const { ${exportedNames.join(', ')} } = require('forkpool');

const tasks = require(\`./\${process.argv[2]}\`);
const moduleLocation = path.join(__dirname, process.argv[2]);

(async () => {
${scriptBody}})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`,
};

async function writeProject(dir: string, files: Record<string, unknown>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await (typeof content === 'string'
      ? writeFile(path.join(dir, name), content)
      : writeJson(path.join(dir, name), content));
  }
}

describe('the packed tarball', () => {
  let root: string;
  let tarball: string;
  let packedFiles: string[];
  let esmDir: string;
  let cjsDir: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'forkpool-package-'));
    // jest's globalSetup has just built dist/, which is what `files` ships.
    const [packed] = JSON.parse(await runOrThrow('npm', ['pack', '--json', '--pack-destination', root], repoRoot)) as [
      { filename: string; files: { path: string }[] },
    ];
    tarball = path.join(root, packed.filename);
    packedFiles = packed.files.map((file) => file.path);

    esmDir = path.join(root, 'esm');
    cjsDir = path.join(root, 'cjs');
    await writeProject(esmDir, esmProject);
    await writeProject(cjsDir, cjsProject);
    for (const dir of [esmDir, cjsDir]) {
      await runOrThrow('npm', ['install', tarball, '--no-audit', '--no-fund'], dir);
    }
  }, timeout);

  afterAll(async () => {
    if (root !== undefined) {
      await rm(root, { recursive: true, force: true });
    }
  });

  afterEach(async () => {
    // Consumer scripts close and join their pools: no worker of theirs may outlive them.
    const leaked = await processesUnder(root);
    for (const pid of leaked) {
      process.kill(pid, 'SIGKILL');
    }
    expect(leaked).toEqual([]);
  });

  test('ships the compiled library, its types, the worker entry and their sources (for source maps), and nothing else', async () => {
    const manifest = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as {
      main: string;
      types: string;
      exports: { '.': { types: string; default: string } };
    };
    const entryPoints = [manifest.main, manifest.types, manifest.exports['.'].types, manifest.exports['.'].default];
    for (const entryPoint of entryPoints) {
      expect(packedFiles).toContain(path.posix.normalize(entryPoint));
    }
    expect(packedFiles).toContain('dist/worker-entry/worker.cjs');
    expect(
      packedFiles.filter((file) => !/^(dist\/)?(lib|worker-entry)\/|^package\.json$|^README|^LICENSE/i.test(file)),
    ).toEqual([]);
    expect(packedFiles.filter((file) => file.endsWith('.tsbuildinfo'))).toEqual([]);
  });

  test(
    'an ESM project imports it and runs a pool on its own task module',
    async () => {
      const result = await run(process.execPath, ['main.js'], esmDir);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(result.stdout)).toEqual(expectedReport);
    },
    timeout,
  );

  test.each(['tasks.cjs', 'tasks.mjs'])(
    'a CommonJS project requires it and runs a pool on %s',
    async (taskModule) => {
      // stderr stays empty: require() of the ES module prints no warning on Node >= 20.19.
      const result = await run(process.execPath, ['main.cjs', taskModule], cjsDir);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(result.stdout)).toEqual(expectedReport);
    },
    timeout,
  );

  test(
    'its types check task names, arguments and results for an ESM project',
    async () => {
      const typedDir = path.join(esmDir, 'typed');
      await mkdir(typedDir);
      await writeFile(path.join(typedDir, 'tasks.ts'), await typecheckSource('tasks.ts'));
      await writeFile(path.join(typedDir, 'consumer.ts'), await typecheckSource('consumer.ts'));
      await writeJson(path.join(esmDir, 'tsconfig.json'), consumerTsconfig('typed/consumer.ts'));

      const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], esmDir);
      expect(result).toEqual({ code: 0, signal: null, stdout: '', stderr: '' });
    },
    timeout,
  );

  test(
    'its types resolve for a CommonJS project with "module": "nodenext"',
    async () => {
      const typedDir = path.join(cjsDir, 'typed');
      await mkdir(typedDir);
      await writeFile(path.join(typedDir, 'tasks.ts'), await typecheckSource('tasks.ts'));
      await writeFile(path.join(typedDir, 'consumer.cts'), await typecheckSource('consumer.cts'));
      await writeJson(path.join(cjsDir, 'tsconfig.json'), consumerTsconfig('typed/consumer.cts'));

      const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], cjsDir);
      expect(result).toEqual({ code: 0, signal: null, stdout: '', stderr: '' });
    },
    timeout,
  );
});
