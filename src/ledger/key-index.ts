/**
 * Request ids by the hash of their scope and key (`keyHash`), held in memory: how the SQLite ledger
 * finds a request (schema 9). On disk the hash is a plain column of the request's row, under no
 * index: an index keyed by a hash takes each new request at a random place, and at a million rows
 * its pages, dirtied by every intake and missing the page cache on every lookup, were most of the
 * ledger's cost (ledger-floor at 1,000,000 rows: 31.9 µs a record with the index, see the README).
 *
 * Two parts, as a log-structured index: the hashes and ids sorted by hash in two typed arrays (16
 * bytes a request: 16 MB for a million), searched by bisection, and a Map of the recent ones, merged
 * into the arrays once it holds `mergeAt`. A hash may stand for several ids: two keys that share a
 * hash (rare), or one key written again after gc deleted it (its old id stays here, and is dropped by
 * the caller's check). The caller checks each id's row for its scope and key; an id here proves
 * nothing on its own.
 */
export class KeyIndex {
  readonly #mergeAt: number;
  /** Hashes sorted ascending (equal ones by id), and the id of each: the first `#length` slots are used. */
  #hashes = new Float64Array(0);
  #ids = new Float64Array(0);
  #length = 0;
  /** Added since the last merge: hash → id, or ids when it has several. */
  #recent = new Map<number, number | number[]>();

  constructor(mergeAt = 65_536) {
    this.#mergeAt = mergeAt;
  }

  /** How many (hash, id) pairs it holds. */
  get size(): number {
    let recent = 0;
    for (const ids of this.#recent.values()) recent += typeof ids === 'number' ? 1 : ids.length;
    return this.#length + recent;
  }

  add(hash: number, id: number): void {
    const known = this.#recent.get(hash);
    if (known === undefined) this.#recent.set(hash, id);
    else if (typeof known === 'number') this.#recent.set(hash, [known, id]);
    else known.push(id);
    if (this.#recent.size >= this.#mergeAt) this.#merge();
  }

  /** The first result `found` gives for an id under `hash` (newest ids first), or undefined. */
  find<T>(hash: number, found: (id: number) => T | undefined): T | undefined {
    const recent = this.#recent.get(hash);
    if (typeof recent === 'number') {
      const result = found(recent);
      if (result !== undefined) return result;
    } else if (recent !== undefined) {
      for (let i = recent.length - 1; i >= 0; i--) {
        const result = found(recent[i] as number);
        if (result !== undefined) return result;
      }
    }
    const hashes = this.#hashes;
    // The last slot holding `hash`, then back while it does.
    for (let at = this.#upperBound(hash) - 1; at >= 0 && hashes[at] === hash; at--) {
      const result = found(this.#ids[at] as number);
      if (result !== undefined) return result;
    }
    return undefined;
  }

  clear(): void {
    this.#hashes = new Float64Array(0);
    this.#ids = new Float64Array(0);
    this.#length = 0;
    this.#recent.clear();
  }

  /** The first slot whose hash is above `hash`. */
  #upperBound(hash: number): number {
    let low = 0;
    let high = this.#length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#hashes[middle] as number) <= hash) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * Moves the recent pairs into the sorted arrays: sorted among themselves, then merged from the end,
   * in place (the arrays grow by a quarter when they must, not by a copy per merge).
   */
  #merge(): void {
    const pairs: [number, number][] = [];
    for (const [hash, ids] of this.#recent) {
      if (typeof ids === 'number') pairs.push([hash, ids]);
      else for (const id of ids) pairs.push([hash, id]);
    }
    this.#recent.clear();
    pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const total = this.#length + pairs.length;
    if (total > this.#hashes.length) {
      const capacity = Math.max(total, Math.ceil(this.#hashes.length * 1.25));
      const hashes = new Float64Array(capacity);
      const ids = new Float64Array(capacity);
      hashes.set(this.#hashes.subarray(0, this.#length));
      ids.set(this.#ids.subarray(0, this.#length));
      this.#hashes = hashes;
      this.#ids = ids;
    }
    const hashes = this.#hashes;
    const ids = this.#ids;
    let old = this.#length - 1;
    let next = pairs.length - 1;
    for (let at = total - 1; next >= 0; at--) {
      const [hash, id] = pairs[next] as [number, number];
      // An old pair goes after a new one of the same hash only if its id is larger (ids grow: never).
      if (old >= 0 && ((hashes[old] as number) > hash || ((hashes[old] as number) === hash && (ids[old] as number) > id))) {
        hashes[at] = hashes[old] as number;
        ids[at] = ids[old] as number;
        old--;
      } else {
        hashes[at] = hash;
        ids[at] = id;
        next--;
      }
    }
    this.#length = total;
  }
}
