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
/** Values (objects, arrays and primitives) checked before a list is sent by V8's serializer instead. */
const maxJsonValues = 100_000;

/**
 * Whether `JSON.parse(JSON.stringify(list))` gives what structured clone would: a tree
 * of plain objects (prototype `Object.prototype` or `null`) and dense arrays without
 * other own properties, holding strings (none long), booleans, `null` and finite numbers
 * other than `-0`, with no object reached twice (below the first `ownedLevels` levels, which
 * the caller vouches for). The check gives up, and V8's serializer
 * is used, past `maxJsonValues` values.
 */
export function isJsonExact(list: readonly unknown[], ownedLevels = 1): boolean {
  // A getter read by the check may itself pack a value (submit a task): keep the outer
  // check's state and give it back after.
  const outerBudget = budget;
  const outerOwned = owned;
  const outerSeen = seen;
  budget = maxJsonValues;
  owned = ownedLevels;
  seen = undefined;
  try {
    return exact(list, 0);
  } finally {
    budget = outerBudget;
    owned = outerOwned;
    seen = outerSeen;
  }
}

// The state of the check under way (see isJsonExact).
let budget = 0;
let owned = 0;
let seen: Set<object> | undefined;

function exact(value: unknown, level: number): boolean {
  if (--budget < 0) {
    return false;
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
  if (list.length >= minNumbers && typeof list[0] === 'number') {
    const numbers = float64s(list);
    if (numbers !== undefined) {
      return { numbers };
    }
  }
  if (isJsonExact(list, ownedLevels)) {
    return { plain: list as unknown[] };
  }
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
