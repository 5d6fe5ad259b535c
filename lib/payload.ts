/**
 * How arguments and results travel: structured clone, whatever the route.
 *
 * A list of `minNumbers` numbers or more, and nothing else (a `map` over numbers, its
 * results), travels as float64s, which carry every number exactly (`-0`, `NaN` and the
 * infinities too) and cost neither formatting nor parsing. A list whose values JSON
 * carries exactly (see `isJsonExact`) goes inline in the message's JSON, which is the
 * cheapest route for the small values of most tasks. Anything else (`undefined`, `NaN`,
 * `-0`, BigInt, Date, Map, typed arrays, class instances, shared references, long
 * strings …) is serialized by V8's serializer, the structured clone
 * algorithm itself, and travels as bytes. On the way back each typed array or Buffer is
 * copied into a buffer of its own, instead of being a view into the whole received message.
 */
import { DefaultDeserializer, DefaultSerializer } from 'node:v8';

export type Packed = { plain: unknown[] } | { numbers: Uint8Array } | { encoded: Uint8Array };

/** The shortest list of numbers sent as float64s rather than as JSON. */
const minNumbers = 16;

type View = ArrayBufferView & { constructor: new (source: ArrayBufferView) => ArrayBufferView };

/** `DefaultDeserializer`'s hook for typed arrays and Buffers, which @types/node leaves out. */
declare module 'node:v8' {
  interface DefaultDeserializer {
    _readHostObject(): ArrayBufferView;
  }
}

class OwnBuffersDeserializer extends DefaultDeserializer {
  override _readHostObject(): ArrayBufferView {
    const view = super._readHostObject() as View;
    if (view.byteOffset === 0 && view.buffer.byteLength === view.byteLength) {
      return view;
    }
    if (Buffer.isBuffer(view)) {
      return Buffer.from(view);
    }
    if (view instanceof DataView) {
      return new DataView(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
    }
    return new view.constructor(view); // a typed array constructor copies its source
  }
}

/**
 * Strings longer than this go by V8's serializer, which copies them as they are, where
 * JSON would scan them for characters to escape on both sides.
 */
const maxJsonString = 4096;
/**
 * A limit on values (objects, arrays and primitives) to check that no list reaches: a
 * list JSON carries exactly goes as JSON whatever its size, which costs less than V8's
 * serializer on both sides, and from `checkFirst` values on it is checked while it travels.
 */
const anySize = 2 ** 30;

/**
 * Whether `JSON.parse(JSON.stringify(list))` gives what structured clone would: a tree
 * of plain objects (prototype `Object.prototype` or `null`) and dense arrays without
 * other own properties, holding strings (none long), booleans, `null` and finite numbers
 * other than `-0`, with no object reached twice (below the first `ownedLevels` levels, which
 * the caller vouches for).
 */
export function isJsonExact(list: readonly unknown[], ownedLevels = 1): boolean {
  return check(list, ownedLevels, anySize) === true;
}

/**
 * `isJsonExact`, looking at no more than `limit` values: `undefined` when the list has
 * more and the first `limit` pass. `onProgress` is called after every `progressEvery` values.
 */
function check(
  list: readonly unknown[],
  ownedLevels: number,
  limit: number,
  onProgress?: () => void,
): boolean | undefined {
  // A getter read by the check may itself pack a value (submit a task): keep the outer
  // check's state and give it back after.
  const outerBudget = budget;
  const outerOwned = owned;
  const outerSeen = seen;
  const outerProgress = progress;
  budget = limit;
  owned = ownedLevels;
  seen = undefined;
  progress = onProgress;
  try {
    const exactList = exact(list, 0);
    return exactList || budget >= 0 ? exactList : undefined;
  } finally {
    budget = outerBudget;
    owned = outerOwned;
    seen = outerSeen;
    progress = outerProgress;
  }
}

// The state of the check under way (see check).
let budget = 0;
let owned = 0;
let seen: Set<object> | undefined;
let progress: (() => void) | undefined;
/** How often, in values, the check calls its `onProgress`: a power of 2. */
const progressEvery = 4096;

function exact(value: unknown, level: number): boolean {
  if (--budget < 0) {
    return false;
  }
  if ((budget & (progressEvery - 1)) === 0 && progress !== undefined) {
    progress();
  }
  switch (typeof value) {
    case 'string':
      return value.length <= maxJsonString;
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object':
      return value === null || exactObject(value, level);
    default:
      return false; // undefined, bigint, symbol, function
  }
}

function exactObject(value: object, level: number): boolean {
  if (level >= owned) {
    seen ??= new Set();
    const size = seen.size;
    if (seen.add(value).size === size) {
      return false; // reached twice: structured clone keeps the sharing (and cycles); JSON would not
    }
  }
  if (Array.isArray(value)) {
    if (
      level >= owned &&
      (Object.getPrototypeOf(value) !== Array.prototype || Object.keys(value).length !== value.length)
    ) {
      return false; // a subclass, or extra properties (a RegExp match's `index` …), or holes
    }
    for (let i = 0; i < value.length; i++) {
      if (!exact(value[i], level + 1)) {
        return false;
      }
    }
    return true;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    return false;
  }
  // `for…in` rather than Object.keys(): no array of keys to make for each object. It also
  // visits enumerable properties inherited from Object.prototype, if any were added there,
  // which only makes the check stricter.
  for (const key in value) {
    if (!exact((value as Record<string, unknown>)[key], level + 1)) {
      return false;
    }
  }
  return true;
}

/**
 * Packs a list (of values, or of argument lists) for a message. Throws what structured
 * clone throws. `ownedLevels`: how many levels of arrays, from the list down, the pool
 * made itself and nothing else refers to (the list of a chunk's results: 1; a chunk's
 * list of argument lists, spread into each call: 2), which need no check for sharing.
 */
export function pack(list: readonly unknown[], ownedLevels = 1): Packed {
  return packNumbers(list) ?? (isJsonExact(list, ownedLevels) ? { plain: list as unknown[] } : encode(list));
}

/**
 * A list whose first `checkFirst` values JSON carries exactly, and which has more:
 * `packEarly` leaves the rest of the check until it has been sent (see `settle`).
 */
export interface Unchecked {
  readonly unchecked: unknown[];
  readonly ownedLevels: number;
}

/**
 * How many values `packEarly` checks before a list leaves. A longer list whose first
 * values pass goes as JSON before the check has seen the rest: the receiver parses it
 * while the sender finishes the check, a few milliseconds for a list of thousands of
 * objects, which would otherwise come before any of it left.
 */
export const checkFirst = 4096;

/**
 * `pack`, except for a list of more than `checkFirst` values whose first values JSON
 * carries exactly: that one comes back `Unchecked`, for the caller to send as JSON in a
 * tentative frame (lib/channel.ts) and then to `settle`.
 */
export function packEarly(list: readonly unknown[], ownedLevels = 1): Packed | Unchecked {
  const numbers = packNumbers(list);
  if (numbers !== undefined) {
    return numbers;
  }
  const exactList = check(list, ownedLevels, checkFirst);
  if (exactList === undefined) {
    return { unchecked: list as unknown[], ownedLevels };
  }
  return exactList ? { plain: list as unknown[] } : encode(list);
}

/**
 * What an `Unchecked` list packs to, checked whole: `{ plain }` when JSON carried it
 * exactly (the tentative frame stands), else V8's bytes (the frame must be replaced).
 * Throws what structured clone throws. `onProgress` is called every few thousand values,
 * for the caller to write more of the frame meanwhile.
 */
export function settle({ unchecked, ownedLevels }: Unchecked, onProgress?: () => void): Packed {
  return check(unchecked, ownedLevels, anySize, onProgress) === true ? { plain: unchecked } : encode(unchecked);
}

function packNumbers(list: readonly unknown[]): Packed | undefined {
  if (list.length >= minNumbers && typeof list[0] === 'number') {
    const numbers = float64s(list);
    if (numbers !== undefined) {
      return { numbers };
    }
  }
  return undefined;
}

function encode(list: readonly unknown[]): Packed {
  const serializer = new DefaultSerializer();
  serializer.writeHeader();
  serializer.writeValue(list);
  return { encoded: serializer.releaseBuffer() };
}

export function unpack(packed: Packed): unknown[] {
  if ('plain' in packed) {
    return packed.plain;
  }
  if ('numbers' in packed) {
    return fromFloat64s(packed.numbers);
  }
  const { encoded } = packed;
  const deserializer = new OwnBuffersDeserializer(Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength));
  deserializer.readHeader();
  return deserializer.readValue() as unknown[];
}

/** The list's values as float64 bytes, if they are all numbers (holes are not). */
function float64s(list: readonly unknown[]): Uint8Array | undefined {
  const numbers = new Float64Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const value = list[i];
    if (typeof value !== 'number') {
      return undefined;
    }
    numbers[i] = value;
  }
  return new Uint8Array(numbers.buffer);
}

/** The numbers of `float64s`' bytes (whose length the frame reader has checked). */
function fromFloat64s(bytes: Uint8Array): number[] {
  // A Float64Array needs an 8-byte-aligned offset; bytes received may sit anywhere in their buffer.
  const aligned = bytes.byteOffset % Float64Array.BYTES_PER_ELEMENT === 0 ? bytes : new Uint8Array(bytes);
  const numbers = new Float64Array(
    aligned.buffer,
    aligned.byteOffset,
    aligned.byteLength / Float64Array.BYTES_PER_ELEMENT,
  );
  const list = new Array<number>(numbers.length);
  for (let i = 0; i < numbers.length; i++) {
    list[i] = numbers[i]!;
  }
  return list;
}
