/**
 * The raw baseline's child: the least a forked worker can do. Its mode, the first
 * argument, is chosen at fork time, so no message pays for a choice:
 *
 * - `double` (the default): answers every message `{ id, value }` with
 *   `{ id, value: value * 2 }` — the same arithmetic as the pool's tiny task, so its results
 *   are checked the same way;
 * - `echo`: sends every message back as it came (the payload workloads);
 * - `once`: answers one message as `double` does, then closes its IPC channel and so exits,
 *   as a pool worker with `maxTasksPerChild: 1` does (the naive max-tasks loops);
 * - `burn`: answers every message `{ id, value }` with `{ id, value: burn(value) }`, the
 *   CPU workload's task (tasks.js), except the warm-up message (id -1), which it answers
 *   as `double` does: the pools' workers are warmed with another function (tasks.js
 *   `workerId`), so that `burn` starts cold in both;
 * - `burn-chunk`: the same, for a chunk of tasks in one message: answers `{ id, value }`,
 *   `value` a list of seeds, with `{ id, value: value.map(burn) }` (the `cpu-map` workload),
 *   except the warm-up message, which it answers as `double` does;
 * - `timed-burn`: answers every message `{ id, value: [seed, iterations] }` with
 *   `{ id, value: timedBurn(seed, iterations) }` (the `worker-gap` and `cpu-gap`
 *   workloads), except the warm-up message, which it answers as `double` does.
 */
const mode = process.argv[2] ?? 'double';
const { burn, timedBurn } = mode.includes('burn') ? await import('./tasks.js') : {};

if (mode === 'double') {
  process.on('message', (message) => {
    process.send({ id: message.id, value: message.value * 2 });
  });
} else if (mode === 'echo') {
  process.on('message', (message) => {
    process.send(message);
  });
} else if (mode === 'once') {
  process.once('message', (message) => {
    process.send({ id: message.id, value: message.value * 2 }, () => process.disconnect());
  });
} else if (mode === 'burn') {
  process.on('message', (message) => {
    process.send({ id: message.id, value: message.id === -1 ? message.value * 2 : burn(message.value) });
  });
} else if (mode === 'burn-chunk') {
  process.on('message', (message) => {
    process.send({
      id: message.id,
      value: message.id === -1 ? message.value * 2 : message.value.map((seed) => burn(seed)),
    });
  });
} else if (mode === 'timed-burn') {
  process.on('message', (message) => {
    process.send({ id: message.id, value: message.id === -1 ? message.value * 2 : timedBurn(...message.value) });
  });
} else {
  throw new Error(`Unknown mode ${mode}; expected double, echo, once, burn, burn-chunk or timed-burn`);
}
