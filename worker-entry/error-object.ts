/**
 * What a worker sends back for a thrown value: `serialize-error`'s plain object, made
 * safe to send whatever the task threw. A property whose getter throws, or whose value
 * structured clone refuses (a symbol, a function), is left out rather than losing the
 * error or killing the worker.
 */
import { serialize } from 'node:v8';
import { serializeError, type ErrorObject } from 'serialize-error';

export function isCloneable(value: unknown): boolean {
  try {
    serialize(value);
    return true;
  } catch {
    return false;
  }
}

export function toErrorObject(thrown: unknown): ErrorObject {
  try {
    const object = serializeError(thrown);
    if (isCloneable(object)) {
      return object;
    }
    return keepCloneable(object as Record<string, unknown>);
  } catch {
    return keepCloneable(thrown);
  }
}

/** Own properties one by one: those that can be read and cloned. */
function keepCloneable(source: unknown): ErrorObject {
  const kept: Record<string, unknown> = {};
  if (typeof source === 'object' && source !== null) {
    for (const key of new Set([...Object.getOwnPropertyNames(source), 'name', 'message', 'stack'])) {
      try {
        const value = (source as Record<string, unknown>)[key];
        if (value !== undefined && key !== '__proto__' && isCloneable(value)) {
          kept[key] = value;
        }
      } catch {
        // a getter that throws: leave it out
      }
    }
  }
  if (typeof kept.message !== 'string') {
    kept.message = 'The task threw a value that could not be sent back';
  }
  return kept as ErrorObject;
}
