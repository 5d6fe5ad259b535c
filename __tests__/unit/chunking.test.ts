/**
 * Python's chunking rules and how a `map`'s chunk results come back together
 * (lib/chunking.ts).
 */
import { describe, expect, jest, test } from '@jest/globals';
import { defaultChunksize, gatherChunks, toChunks } from '../../lib/chunking.js';

describe('chunking', () => {
  test("the default chunksize is CPython's: ceil(items / (processes * 4))", () => {
    expect(defaultChunksize(20_000, 2)).toBe(2500);
    expect(defaultChunksize(10, 4)).toBe(1);
    expect(defaultChunksize(0, 2)).toBe(0);
  });

  test('toChunks cuts consecutive slices, the last one shorter', () => {
    expect(toChunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });

  test('gathered chunks come out in input order, whatever order they settle in', () => {
    const done = jest.fn<(values: unknown[], error?: Error) => void>();
    const gather = gatherChunks(3, 2, done);
    const settlers = [gather(0), gather(1), gather(2)];
    settlers[2]!([5]);
    settlers[0]!([1, [2]]);
    expect(done).not.toHaveBeenCalled();
    settlers[1]!([3, 4]);
    expect(done).toHaveBeenCalledTimes(1);
    expect(done).toHaveBeenCalledWith([1, [2], 3, 4, 5], undefined);
  });

  test('a chunk never gives more than chunksize values', () => {
    const done = jest.fn<(values: unknown[], error?: Error) => void>();
    const gather = gatherChunks(2, 2, done);
    gather(0)([1, 2, 'extra']);
    gather(1)([3]);
    expect(done).toHaveBeenCalledWith([1, 2, 3], undefined);
  });

  test('thousands of chunks (more than one concat takes) come together in order too', () => {
    const done = jest.fn<(values: unknown[], error?: Error) => void>();
    const count = 5000;
    const gather = gatherChunks(count, 1, done);
    for (let i = count - 1; i >= 0; i--) {
      gather(i)([i]);
    }
    expect(done).toHaveBeenCalledWith(
      Array.from({ length: count }, (_, i) => i),
      undefined,
    );
  });

  test('it settles only once every chunk has, with the first error to arrive', () => {
    const done = jest.fn<(values: unknown[], error?: Error) => void>();
    const gather = gatherChunks(3, 1, done);
    const first = new Error('first');
    gather(1)([], first);
    gather(2)([], new Error('second'));
    expect(done).not.toHaveBeenCalled();
    gather(0)([1]);
    expect(done).toHaveBeenCalledWith([], first);
  });
});
