/**
 * How arguments and results travel. Node's `'advanced'` IPC serialization is structured
 * clone, except that a typed array or Buffer arrives as a view into the whole received
 * message (its `.buffer` holds the other values too, and keeps them in memory). Values
 * that may hold such views are therefore serialized here, by V8's serializer, and
 * deserialized with each view copied into a buffer of its own. Lists of primitives, the
 * common case for small tasks, hold none and go as they are.
 */
import { DefaultDeserializer, DefaultSerializer } from 'node:v8';

export type Packed = { plain: unknown[] } | { encoded: Uint8Array };

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

function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

/** Whether every item (or, at `depth` 2, every item of every item) is a primitive. */
function allPrimitive(list: readonly unknown[], depth: 1 | 2): boolean {
  for (const item of list) {
    if (depth === 2 ? !(Array.isArray(item) && allPrimitive(item, 1)) : !isPrimitive(item)) {
      return false;
    }
  }
  return true;
}

/**
 * Packs a list (of values, or at `depth` 2 of argument lists) for a message.
 * Throws what structured clone throws for a value it cannot clone.
 */
export function pack(list: unknown[], depth: 1 | 2): Packed {
  if (allPrimitive(list, depth)) {
    return { plain: list };
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
  const { encoded } = packed;
  const deserializer = new OwnBuffersDeserializer(Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength));
  deserializer.readHeader();
  return deserializer.readValue() as unknown[];
}
