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
  // Each chunk's values, by index: chunks settle in any order.
  const chunks: unknown[][] = new Array<unknown[]>(chunkCount);
  let left = chunkCount;
  let firstError: Error | undefined;
  return (index) => (values, error) => {
    if (error !== undefined) {
      firstError ??= error;
    } else {
      chunks[index] = values;
    }
    if (--left === 0) {
      done(firstError === undefined ? flatten(chunks, chunksize) : [], firstError);
    }
  };
}

/**
 * Chunks up to which `flatten` hands them all to one `concat` (the default chunksize makes
 * four per worker), whose copying is native and fast from the first call, as a loop of our
 * own is not until the JIT has compiled it; more would make too long an argument list.
 */
const maxConcatChunks = 1024;

/** The chunks' values, one after the other (at most `chunksize` of each). */
function flatten(chunks: unknown[][], chunksize: number): unknown[] {
  if (chunks.length === 1) {
    return chunks[0]!;
  }
  let length = 0;
  let whole = true;
  for (const chunk of chunks) {
    length += Math.min(chunk.length, chunksize);
    whole &&= chunk.length <= chunksize;
  }
  if (whole && chunks.length <= maxConcatChunks) {
    return ([] as unknown[]).concat(...chunks);
  }
  const values = new Array<unknown>(length);
  let at = 0;
  for (const chunk of chunks) {
    const end = Math.min(chunk.length, chunksize);
    for (let i = 0; i < end; i++) {
      values[at++] = chunk[i];
    }
  }
  return values;
}
