/** Validation of per-call arguments: timeouts, chunk sizes, iterables, callbacks. */
import { describeValue, validateInteger } from './options.js';

export function validateTimeout(timeoutMs: unknown): void {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) {
    throw new TypeError(`Expected \`timeoutMs\` to be a number of milliseconds, got ${describeValue(timeoutMs)}`);
  }
  if (timeoutMs < 0) {
    throw new RangeError(`Expected \`timeoutMs\` to be >= 0, got ${describeValue(timeoutMs)}`);
  }
}

export function validateChunksize(chunksize: unknown): number | undefined {
  return chunksize === undefined ? undefined : validateInteger('chunksize', chunksize, 1);
}

export function validateCallback(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a function, got ${describeValue(value)}`);
  }
}

export function validateSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${describeValue(signal)}`);
  }
  return signal;
}

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as AsyncIterable<unknown> | null)?.[Symbol.asyncIterator] === 'function';
}

export function validateIterable(value: unknown): void {
  if (!isAsyncIterable(value) && typeof (value as Iterable<unknown> | null)?.[Symbol.iterator] !== 'function') {
    throw new TypeError(`Expected \`iterable\` to be an iterable or an async iterable, got ${describeValue(value)}`);
  }
}
