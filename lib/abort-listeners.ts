/**
 * One 'abort' listener per signal, however many calls share it. A server often passes
 * one signal (its shutdown, a request's) to many calls; a listener each would trip
 * Node's MaxListenersExceededWarning past ten, and cost more on every abort.
 */

interface Entry {
  readonly handler: () => void;
  readonly callbacks: Set<() => void>;
}

const entries = new WeakMap<AbortSignal, Entry>();

/** Calls `callback` once when `signal` aborts. Returns the function that stops listening. */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let entry = entries.get(signal);
  if (entry === undefined) {
    const callbacks = new Set<() => void>();
    const handler = () => {
      entries.delete(signal);
      for (const call of callbacks) {
        call();
      }
    };
    entry = { handler, callbacks };
    entries.set(signal, entry);
    signal.addEventListener('abort', handler, { once: true });
  }
  const { callbacks, handler } = entry;
  callbacks.add(callback);
  return () => {
    if (callbacks.delete(callback) && callbacks.size === 0 && entries.get(signal) === entry) {
      entries.delete(signal);
      signal.removeEventListener('abort', handler);
    }
  };
}
