/**
 * What a PoolWorker writes to its worker's data channel (lib/pool-worker.ts): tasks sent
 * together go in one frame, and those of one function whose chunks are JSON in one
 * `tasks` message. A fake child records the frames; no process is started.
 */
import { describe, expect, test } from '@jest/globals';
import type { FnRef, TaskMessage, ToWorker } from '../../lib/messages.js';
import { checkFirst, unpack } from '../../lib/payload.js';
import { PoolWorker, newTask, type Task, type WorkerListener } from '../../lib/pool-worker.js';
import type { FnRecord } from '../../lib/task-functions.js';
import { FakeChild } from '../helpers/fake-fork.js';

const listener: WorkerListener = { onMessage: () => {}, onFrameEnd: () => {}, onExit: () => {}, onUnsent: () => {} };
const init = {
  moduleUrl: null,
  initializer: null,
  initargs: { plain: [] },
  maxTasks: null,
  reportMemory: false,
  cwd: '/',
};

const exported = (name: string): FnRecord => {
  const ref: FnRef = { kind: 'export', name };
  return { full: ref, short: ref };
};
const f = exported('f');
const g = exported('g');
const bySource: FnRecord = {
  full: { kind: 'source', id: 7, name: 'h', source: '(x) => x' },
  short: { kind: 'source', id: 7, name: 'h' },
};

let nextId = 1;
const task = (fn: FnRecord, chunk: unknown[], single = true): Task =>
  newTask(nextId++, fn, chunk, single, undefined, () => {});

function start(): { worker: PoolWorker; child: FakeChild } {
  const child = new FakeChild();
  const worker = new PoolWorker('PoolWorker-1', child, init, listener);
  child.frames.length = 0; // the init frame
  child.sent.length = 0;
  return { worker, child };
}

/** Runs `tasks` corked, as the manager sends what it hands a worker at once. */
function sendTogether(worker: PoolWorker, tasks: Task[]): void {
  worker.cork();
  for (const one of tasks) {
    worker.run(one);
  }
  worker.uncork();
}

/** A frame's messages as `type:function(ids)`, to see how it was cut. */
const shape = (frame: ToWorker[]): string[] =>
  frame.map((message) => {
    switch (message.type) {
      case 'tasks':
        return `tasks:${message.fn.name}(${message.ids.join(',')})`;
      case 'task':
        return `task:${message.fn.name}(${message.id})`;
      default:
        return message.type;
    }
  });

describe('tasks sent together', () => {
  test('tasks of one function with JSON chunks travel as one `tasks` message, which stands for their `task` messages', () => {
    const { worker, child } = start();
    const tasks = [task(f, [1, 2]), task(f, [[3], { a: 4 }]), task(f, [[5, 6]], false)];
    sendTogether(worker, tasks);
    const [first] = tasks;
    expect(child.frames.map(shape)).toEqual([[`tasks:f(${first!.id},${first!.id + 1})`, `tasks:f(${first!.id + 2})`]]);
    // As the worker takes them: the same tasks, in order, each with its own chunk.
    const taken = child.sentOf('task').map((message: TaskMessage) => ({
      id: message.id,
      fn: message.fn,
      single: message.single === true,
      chunk: unpack(message.chunk),
    }));
    expect(taken).toEqual([
      { id: first!.id, fn: f.full, single: true, chunk: [1, 2] },
      { id: first!.id + 1, fn: f.full, single: true, chunk: [[3], { a: 4 }] },
      { id: first!.id + 2, fn: f.full, single: false, chunk: [[5, 6]] },
    ]);
    expect(worker.inFlight).toEqual(tasks);
  });

  test('a chunk sent as bytes, or of another function, ends the run; order is kept', () => {
    const { worker, child } = start();
    const tasks = [
      task(f, [1]),
      task(f, [2]),
      task(f, [Buffer.from('x')]),
      task(f, [undefined]),
      task(f, [3]),
      task(g, [4]),
      task(f, [5]),
    ];
    sendTogether(worker, tasks);
    const id = (i: number): number => tasks[i]!.id;
    expect(child.frames.map(shape)).toEqual([
      [
        `tasks:f(${id(0)},${id(1)})`,
        `task:f(${id(2)})`,
        `task:f(${id(3)})`,
        `tasks:f(${id(4)})`,
        `tasks:g(${id(5)})`,
        `tasks:f(${id(6)})`,
      ],
    ]);
    expect(child.sentOf('task').map((message) => message.id)).toEqual(tasks.map((one) => one.id));
    expect(Buffer.from(unpack(child.sentOf('task')[2]!.chunk)[0] as Uint8Array).toString()).toBe('x');
  });

  test('a function sent by source: its first run carries the source, later runs only its id', () => {
    const { worker, child } = start();
    sendTogether(worker, [task(bySource, [1]), task(bySource, [2])]);
    sendTogether(worker, [task(bySource, [3])]);
    const batches = child.frames.flat();
    expect(batches.map((message) => (message as { fn: FnRef }).fn)).toEqual([bySource.full, bySource.short]);
  });

  test('a task sent alone is a `task` message; a chunk of 64 items or more goes in a frame of its own', () => {
    const { worker, child } = start();
    worker.run(task(f, [1]));
    const big = Array.from({ length: 64 }, (_, i) => i);
    sendTogether(worker, [task(f, [2]), task(f, big), task(f, [3])]);
    expect(child.frames.map((frame) => frame.map((message) => message.type))).toEqual([
      ['task'],
      ['tasks'],
      ['task'],
      ['tasks'],
    ]);
    expect(unpack(child.sentOf('task')[2]!.chunk)).toEqual(big);
  });
});

describe('a task whose chunk is a long list, sent before its check is over', () => {
  const long = (): unknown[] => Array.from({ length: checkFirst }, (_, i) => ({ i }));

  test('goes in a frame of its own, after those held back; the worker takes each task once, in order', () => {
    const { worker, child } = start();
    const tasks = [task(f, [1]), task(f, [long()]), task(f, [2])];
    sendTogether(worker, tasks);
    expect(child.sentOf('task').map((message: TaskMessage) => message.id)).toEqual(tasks.map((one) => one.id));
    expect(worker.inFlight).toEqual(tasks);
    expect(unpack(child.sentOf('task')[1]!.chunk)).toEqual([long()]);
  });

  test('tasks a getter of the list sends to the same worker meanwhile go after it, in flight and on the channel alike', () => {
    const { worker, child } = start();
    const nested: Task[] = [];
    const list = long();
    list.push({
      get value(): number {
        // As the manager would: hand the worker more, corked, while the list is checked.
        const more = task(f, [nested.length]);
        nested.push(more);
        sendTogether(worker, [more]);
        return 1;
      },
    });
    const outer = task(f, [list]);
    sendTogether(worker, [outer]);
    expect(nested.length).toBeGreaterThanOrEqual(2); // read by JSON.stringify and by the check
    const order = [outer, ...nested].map((one) => one.id);
    expect(child.sentOf('task').map((message: TaskMessage) => message.id)).toEqual(order);
    expect(worker.inFlight.map((one) => one.id)).toEqual(order);
    expect(worker.tasksSent).toBe(order.length);
  });

  test('one that cannot be cloned is withdrawn: never taken, not in flight, not counted', () => {
    const { worker, child } = start();
    const bad = task(f, [[...long(), () => 1]]);
    worker.cork();
    worker.run(task(f, [1]));
    expect(() => worker.run(bad)).toThrow(/could not be cloned/);
    worker.run(task(f, [2]));
    worker.uncork();
    expect(child.sentOf('task').map((message: TaskMessage) => unpack(message.chunk))).toEqual([[1], [2]]);
    expect(worker.inFlight).not.toContain(bad);
    expect(worker.tasksSent).toBe(2);
  });
});
