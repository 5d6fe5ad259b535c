/**
 * The raw baseline's child: the least a forked worker can do. Its mode, the first
 * argument, is chosen at fork time, so no message pays for a choice:
 *
 * - `double` (the default): answers every message `{ id, value }` with
 *   `{ id, value: value * 2 }` — the same arithmetic as the pool's tiny task, so its results
 *   are checked the same way;
 * - `echo`: sends every message back as it came (the payload workloads);
 * - `once`: answers one message as `double` does, then closes its IPC channel and so exits,
 *   as a pool worker with `maxTasksPerChild: 1` does (the naive max-tasks loops).
 */
const mode = process.argv[2] ?? 'double';

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
} else {
  throw new Error(`Unknown mode ${mode}; expected double, echo or once`);
}
