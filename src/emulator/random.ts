/**
 * Deterministic randomness for the emulator: a string hash (cyrb53-style, 53 bits) and a small
 * seeded PRNG (mulberry32). Every "random" decision (ids, answers, faults, result order) is derived
 * from the emulator's `seed` plus stable inputs, so two runs with the same seed behave identically.
 * Rejected alternative: `Math.random()`, which makes fault tests flaky and answers unreproducible.
 */

/** A 53-bit hash of the parts, as a non-negative integer. */
export function hash53(...parts: ReadonlyArray<string | number>): number {
  const str = parts.join('\u0000');
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** A number in [0, 1) derived from the parts: for per-item deterministic decisions (fault rates). */
export function unitHash(...parts: ReadonlyArray<string | number>): number {
  return hash53(...parts) / 2 ** 53;
}

/** A seeded PRNG returning numbers in [0, 1). */
export type Rng = () => number;

export function makeRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A PRNG seeded from a hash of the parts. */
export function rngFor(...parts: ReadonlyArray<string | number>): Rng {
  return makeRng(hash53(...parts) % 4294967296);
}

/** An integer in [min, max] (inclusive). */
export function randInt(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

/** One element of a non-empty array. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new RangeError('pick: empty array');
  return item;
}

/** A deterministic permutation of 0..n-1 (Fisher-Yates), compact for 100k items. */
export function permutation(n: number, rng: Rng): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = out[i] as number;
    out[i] = out[j] as number;
    out[j] = tmp;
  }
  return out;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * Generates ids shaped like the API's (`msgbatch_013Zva2CMHLNnXjNJJKqJ2EF`): prefix, `01`, then
 * 22 base62 characters from a PRNG seeded per prefix, so ids are deterministic from the seed.
 */
export class IdGenerator {
  readonly #rngs = new Map<string, Rng>();
  readonly #seed: number;
  readonly #salt: string;

  /** `salt` (see `EmulatorOptions.idSalt`): '' for ids from the seed alone. */
  constructor(seed: number, salt = '') {
    this.#seed = seed;
    this.#salt = salt;
  }

  next(prefix: 'msgbatch' | 'msg' | 'req' | 'toolu' | 'file'): string {
    let rng = this.#rngs.get(prefix);
    if (!rng) {
      rng = this.#salt === '' ? rngFor(this.#seed, 'id', prefix) : rngFor(this.#seed, 'id', prefix, this.#salt);
      this.#rngs.set(prefix, rng);
    }
    let body = '01';
    for (let i = 0; i < 22; i++) body += BASE62[Math.floor(rng() * 62)];
    return `${prefix}_${body}`;
  }
}

/** A deterministic id from stable parts (for results that must be identical on every download). */
export function stableId(prefix: string, ...parts: ReadonlyArray<string | number>): string {
  const rng = rngFor(...parts, prefix);
  let body = '01';
  for (let i = 0; i < 22; i++) body += BASE62[Math.floor(rng() * 62)];
  return `${prefix}_${body}`;
}
