/** Counts in words people read, for every message the library and the CLI print. */

/** A whole number with thousands separators: `1,000,000`. */
export function count(value: number): string {
  return Math.round(value).toLocaleString('en');
}

/**
 * `1 request`, `2 requests`, `1 batch`, `3 batches` (the number with thousands separators).
 * @example
 * plural(3, 'batch', 'batches'); // '3 batches'
 */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}
