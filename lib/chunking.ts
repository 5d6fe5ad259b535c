/** Python's chunking rules for `map`/`starmap` and how chunk results come back together. */

/**
 * CPython's default for `map`: `ceil(len / (processes * 4))`, so that each worker gets
 * about four chunks; `0` for empty input.
 */
export function defaultChunksize(length: number, processes: number): number {
  return Math.ceil(length / (processes * 4));
}

/** Splits `items` into consecutive slices of `size` (the last may be shorter). */
export function toChunks<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    chunks.push(items.slice(start, start + size));
  }
  return chunks;
}

/**
 * Gathers the outcomes of a call's chunks into one, Python's `MapResult`: it settles only
 * once every chunk has settled (no fail-fast), with the values in input order, or with
 * the first error to arrive.
 */
export function gatherChunks(
  chunkCount: number,
  chunksize: number,
  done: (values: unknown[], error?: Error) => void,
): (index: number) => (values: unknown[], error?: Error) => void {
  const results: unknown[] = [];
  let left = chunkCount;
  let firstError: Error | undefined;
  return (index) => (values, error) => {
    if (error !== undefined) {
      firstError ??= error;
    } else if (firstError === undefined) {
      for (let i = 0; i < values.length; i++) {
        results[index * chunksize + i] = values[i];
      }
    }
    if (--left === 0) {
      done(firstError === undefined ? results : [], firstError);
    }
  };
}
