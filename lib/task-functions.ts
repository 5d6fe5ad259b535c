/**
 * How a task function reaches a worker (the three forms of the contract):
 * 1. an export name of the task module is sent as is;
 * 2. a function that is an export of the task module is sent by name: a worker matches
 *    a function to the export with the same source; native or bound exports, which have
 *    no source, are recognised by identity against the module's namespace;
 * 3. any other function is sent by source and compiled once per worker.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compileSource, isNativeSource } from './compile-source.js';
import { describeValue } from './options.js';
import type { FnRef } from './messages.js';
import type { AnyFunction } from './types.js';

/** What the pool keeps per task function: the full reference and the one without source. */
export interface FnRecord {
  full: FnRef;
  /** Sent to a worker that has already compiled this function. */
  short: FnRef;
}

export class TaskFunctions {
  readonly #moduleUrl: string | null;
  readonly #byFunction = new WeakMap<object, FnRecord>();
  readonly #byName = new Map<string, FnRecord>();
  /** Functions sent by source, by name and source: as many as the program has distinct ones. */
  readonly #bySource = new Map<string, FnRecord>();
  #nextId = 1;
  #namespace: Promise<Record<string, unknown>> | undefined;

  constructor(moduleUrl: string | null) {
    this.#moduleUrl = moduleUrl;
  }

  /**
   * The reference to send for `fn`. Synchronous for names and functions with source, so
   * submissions keep their call order; a promise only for native or bound functions.
   * Throws (or rejects with) `TypeError` when `fn` cannot be sent.
   */
  resolve(fn: unknown, role = 'fn', byIdentity = true): FnRecord | Promise<FnRecord> {
    if (typeof fn === 'string') {
      if (fn === '') {
        throw new TypeError(`Expected \`${role}\` to be an export name or a function, got \`""\` (string)`);
      }
      return this.#exportRecord(fn);
    }
    if (typeof fn !== 'function') {
      throw new TypeError(`Expected \`${role}\` to be an export name or a function, got ${describeValue(fn)}`);
    }
    const known = this.#byFunction.get(fn);
    if (known !== undefined) {
      return known;
    }
    const source = Function.prototype.toString.call(fn);
    // A function sent by source is compiled from its source alone: two with the same
    // source (a new closure for each call) are the same function to a worker.
    const sourceKey = `${fn.name}\n${source}`;
    const sameSource = this.#bySource.get(sourceKey);
    if (sameSource !== undefined) {
      this.#byFunction.set(fn, sameSource);
      return sameSource;
    }
    if (isNativeSource(source)) {
      // The main script may still be evaluating (top-level await): importing it here
      // would wait for the very code that waits for us.
      if (!byIdentity || this.#moduleUrl === null || this.#moduleUrl === mainModuleUrl()) {
        const why = !byIdentity
          ? `and \`${role}\` cannot wait for it to be matched against the task module's exports`
          : this.#moduleUrl === null
            ? 'and the pool has no `module`'
            : 'and it cannot be matched against the main script';
        throw refuseNative(fn as AnyFunction, role, why);
      }
      const resolving = this.#resolveByIdentity(fn as AnyFunction, role, this.#moduleUrl);
      resolving.catch(() => {}); // the caller handles it, perhaps a tick later
      return resolving;
    }
    try {
      compileSource(source);
    } catch (error) {
      throw new TypeError(
        `\`${role}\` cannot be sent to a worker: its source does not compile on its own (${String(error)})`,
        {
          cause: error,
        },
      );
    }
    const id = this.#nextId++;
    const record: FnRecord = {
      full: { kind: 'source', id, name: fn.name, source },
      short: { kind: 'source', id, name: fn.name },
    };
    this.#byFunction.set(fn, record);
    this.#bySource.set(sourceKey, record);
    return record;
  }

  #exportRecord(name: string): FnRecord {
    let record = this.#byName.get(name);
    if (record === undefined) {
      const ref: FnRef = { kind: 'export', name };
      record = { full: ref, short: ref };
      this.#byName.set(name, record);
    }
    return record;
  }

  async #resolveByIdentity(fn: AnyFunction, role: string, moduleUrl: string): Promise<FnRecord> {
    this.#namespace ??= import(moduleUrl) as Promise<Record<string, unknown>>;
    const namespace = await this.#namespace;
    const name = Object.keys(namespace).find((key) => namespace[key] === fn);
    if (name === undefined) {
      throw refuseNative(fn, role, `and it is not an export of ${fileURLToPath(moduleUrl)}`);
    }
    const record = this.#exportRecord(name);
    this.#byFunction.set(fn, record);
    return record;
  }
}

function refuseNative(fn: AnyFunction, role: string, why: string): TypeError {
  return new TypeError(
    `\`${role}\` (${fn.name || 'anonymous'}) is a native or bound function, which has no source to send, ${why}. ` +
      'Export it from the task module and pass its export name, or wrap it: (x) => JSON.parse(x).',
  );
}

function mainModuleUrl(): string | undefined {
  const main = process.argv[1];
  return main === undefined ? undefined : pathToFileURL(main).href;
}
