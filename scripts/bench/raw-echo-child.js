/**
 * The raw baseline's child: the least a forked worker can do. It answers every message
 * `{ id, value }` with `{ id, value: value * 2 }` — the echo does the same arithmetic as
 * the pool's tiny task, so its results are checked the same way.
 */
process.on('message', (message) => {
  process.send({ id: message.id, value: message.value * 2 });
});
