/**
 * The route a list takes (lib/payload.ts): inline JSON only where JSON gives what
 * structured clone gives, V8's serializer for everything else.
 */
import { describe, expect, test } from '@jest/globals';
import { checkFirst, isJsonExact, pack, packEarly, settle, unpack, type Unchecked } from '../../lib/payload.js';

const shared = { x: 1 };
const cycle: Record<string, unknown> = { name: 'cycle' };
cycle.self = cycle;
const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
const withExtra = Object.assign([1, 2], { extra: true });
const nullProto = Object.assign(Object.create(null) as object, { a: 1, b: [true, null] });
class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
}

/**
 * Whether `a` and `b` are the same value as structured clone sees it, whatever realm
 * made them: the same types, `Object.is` primitives (so `-0` and `NaN` count), the same
 * own keys (so holes and `undefined` properties count), and the same objects reached twice.
 */
function sameClone(
  a: unknown,
  b: unknown,
  pairs = new Map<unknown, unknown>(),
  reverse = new Map<unknown, unknown>(),
): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    return Object.is(a, b);
  }
  if (pairs.has(a) || reverse.has(b)) {
    return pairs.get(a) === b && reverse.get(b) === a;
  }
  pairs.set(a, b);
  reverse.set(b, a);
  const tag = Object.prototype.toString.call(a);
  if (tag !== Object.prototype.toString.call(b)) {
    return false;
  }
  if (tag === '[object Date]') {
    return Object.is((a as Date).getTime(), (b as Date).getTime());
  }
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  if (tag === '[object Map]') {
    return sameClone([...(a as Map<unknown, unknown>)], [...(b as Map<unknown, unknown>)], pairs, reverse);
  }
  const keys = Object.keys(a);
  const otherKeys = Object.keys(b);
  if (
    (Array.isArray(a) && (a as unknown[]).length !== (b as unknown[]).length) ||
    keys.length !== otherKeys.length ||
    keys.some((key, i) => key !== otherKeys[i])
  ) {
    return false;
  }
  return keys.every((key) =>
    sameClone((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], pairs, reverse),
  );
}

const values: [string, unknown, boolean][] = [
  ['numbers, strings, booleans and null', [0, 1.5, -2, 'text', true, false, null], true],
  ['plain objects and arrays, nested', { a: { b: [1, { c: 'd' }] }, e: [] }, true],
  ['an object without a prototype', nullProto, true],
  ['10,000 small objects', Array.from({ length: 10_000 }, (_, i) => ({ id: i, tags: ['a'] })), true],
  ['-0', -0, false],
  ['NaN', Number.NaN, false],
  ['Infinity', Number.POSITIVE_INFINITY, false],
  ['undefined', undefined, false],
  ['undefined in an object', { a: undefined }, false],
  ['a BigInt', 1n, false],
  ['a Date', new Date(0), false],
  ['a Map', new Map([[1, 2]]), false],
  ['a typed array', new Uint8Array(2), false],
  ['a class instance', new Point(1, 2), false],
  ['an object reached twice', [shared, { again: shared }], false],
  ['a cycle', cycle, false],
  ['a sparse array', sparse, false],
  ['an array with an extra property', withExtra, false],
  ['a long string', 'x'.repeat(10_000), false],
];

describe('isJsonExact', () => {
  test.each(values)('%s: %p', (_, value, exact) => {
    expect(isJsonExact([value])).toBe(exact);
  });

  test.each(values.filter(([, , exact]) => exact))('%s: JSON gives what structured clone gives', (_, value) => {
    expect(sameClone(JSON.parse(JSON.stringify([value])), structuredClone([value]))).toBe(true);
  });

  test.each(values.filter(([name, , exact]) => !exact && !/long string|class/.test(name)))(
    '%s: JSON does not give what structured clone gives',
    (_, value) => {
      let viaJson: unknown;
      try {
        viaJson = JSON.parse(JSON.stringify([value]));
      } catch {
        return; // JSON refuses it outright (a BigInt, a cycle)
      }
      expect(sameClone(viaJson, structuredClone([value]))).toBe(false);
    },
  );

  test('a property enumerable on Object.prototype is checked too, so it can only send a list the safe way', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = undefined;
    try {
      expect(isJsonExact([{ a: 1 }])).toBe(false);
    } finally {
      delete proto.polluted;
    }
    expect(isJsonExact([{ a: 1 }])).toBe(true);
  });

  test('a list of 16 numbers or more travels as float64s, every number exact, -0, NaN and the infinities too', () => {
    const numbers = [0, -0, 1, -1.5, 2 ** 53, Number.MIN_VALUE, Number.MAX_VALUE, Number.NaN, Infinity, -Infinity];
    const list = Array.from({ length: 32 }, (_, i) => numbers[i % numbers.length]!);
    const packed = pack(list);
    expect(Object.keys(packed)).toEqual(['numbers']);
    expect(unpack(packed)).toEqual(list); // Object.is for each number: -0 is not 0 here
    expect(Object.is(unpack(packed)[1], -0)).toBe(true);
    // Received bytes may sit at any offset of their buffer.
    const { numbers: bytes } = packed as { numbers: Uint8Array };
    const unaligned = Buffer.concat([Buffer.alloc(3), bytes]).subarray(3);
    expect(unpack({ numbers: unaligned })).toEqual(list);
  });

  test('shorter lists of numbers, and lists of numbers and anything else, take the other routes', () => {
    expect(Object.keys(pack([1, 2, 3]))).toEqual(['plain']);
    expect(Object.keys(pack([...Array.from({ length: 20 }, (_, i) => i), 'x']))).toEqual(['plain']);
    expect(Object.keys(pack([...Array.from({ length: 20 }, (_, i) => i), undefined]))).toEqual(['encoded']);
    const holey = Array.from({ length: 20 }, (_, i) => i);
    delete holey[5];
    expect(Object.keys(pack(holey))).toEqual(['encoded']);
    expect(5 in unpack(pack(holey))).toBe(false);
  });

  test.each(values)('%s: comes back from pack() and unpack() as it went', (_, value) => {
    const back = unpack(pack([value]));
    expect(sameClone(back, structuredClone([value]))).toBe(true);
    if (value === cycle) {
      expect((back[0] as Record<string, unknown>).self).toBe(back[0]);
    }
    if (Array.isArray(value) && value[0] === shared) {
      expect((back[0] as unknown[])[0]).toBe(((back[0] as unknown[])[1] as { again: unknown }).again);
    }
  });
});

describe('packEarly: a long list leaves before its check is over', () => {
  /** A list of `count` objects of 3 values each, then `last`. */
  const records = (count: number, ...last: unknown[]): unknown[] => [
    ...Array.from({ length: count }, (_, i) => ({ id: i, name: `item ${i}` })),
    ...last,
  ];
  const long = Math.ceil(checkFirst / 3) + 1; // records enough to pass checkFirst values

  test('a short list is checked whole, as by pack', () => {
    expect(packEarly(records(10))).toEqual({ plain: records(10) });
    expect(Object.keys(packEarly(records(10, undefined)))).toEqual(['encoded']);
    expect(Object.keys(packEarly(Array.from({ length: 16 }, (_, i) => i)))).toEqual(['numbers']);
  });

  test('a long list that fails early is not left unchecked', () => {
    expect(Object.keys(packEarly([undefined, ...records(long)]))).toEqual(['encoded']);
  });

  test('a long list is left unchecked; settled, it is plain when JSON carries it exactly', () => {
    const list = records(long);
    const early = packEarly(list) as Unchecked;
    expect(early).toEqual({ unchecked: list, ownedLevels: 1 });
    expect(settle(early)).toEqual({ plain: list });
  });

  test.each([
    ['undefined', undefined],
    ['a shared reference', 'shared'],
    ['a Date', new Date(0)],
  ])('%s past the first values: settled as V8 bytes, which keep it', (_, last) => {
    const list = records(long);
    list.push(last === 'shared' ? list[0] : last);
    const early = packEarly(list);
    expect(Object.keys(early)).toEqual(['unchecked', 'ownedLevels']);
    const settled = settle(early as Unchecked);
    expect(Object.keys(settled)).toEqual(['encoded']);
    const back = unpack(settled);
    expect(back).toEqual(structuredClone(list));
    if (last === 'shared') {
      expect(back.at(-1)).toBe(back[0]);
    }
  });

  test('a value structured clone refuses, past the first values: settle throws what it throws', () => {
    const early = packEarly(records(long, () => 1)) as Unchecked;
    expect(() => settle(early)).toThrow(/could not be cloned/);
  });

  test('a list JSON carries exactly goes as JSON whatever its size', () => {
    const list = records(50_000); // 150,000 values
    expect(isJsonExact(list)).toBe(true);
    expect(settle(packEarly(list) as Unchecked)).toEqual({ plain: list });
  });

  test('settle reports progress every few thousand values, for the frame to be written meanwhile', () => {
    let calls = 0;
    settle(packEarly(records(4 * long)) as Unchecked, () => calls++);
    expect(calls).toBeGreaterThanOrEqual(3);
  });
});
