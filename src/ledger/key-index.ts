/**
 * Request ids by the hash of their scope and key (`keyHash`), held in memory: how the SQLite ledger
 * finds a request (schema 9). On disk the hash is a plain column of the request's row, under no
 * index: an index keyed by a hash takes each new request at a random place, and at a million rows
 * its pages, dirtied by every intake and missing the page cache on every lookup, were most of the
 * ledger's cost (ledger-floor at 1,000,000 rows: 31.9 µs a record with the index, see the README).
 *
 * Two parts, as a log-structured index: the hashes and ids sorted by hash in two typed arrays,
 * searched by bisection, and a Map of the recent ones, merged into the arrays once it holds
 * `mergeAt`. Only a hash's low 32 bits are held, and ids as 32-bit integers: 8 bytes a request (8 MB
 * for a million, against 16 with the whole hash and the id as doubles: at a million rows the index
 * was most of the CLI's peak RSS growth from 100,000 rows). A hash may stand for several ids: two keys
 * that share its low 32 bits (at a million requests, about one lookup in 4,000 meets one), or one key
 * written again after gc deleted it (its old id stays here, and is dropped by the caller's check).
 * The caller checks each id's row for its scope and key; an id here proves nothing on its own.
 */
/** Pairs a part of a snapshot holds at most (`KeyIndex.snapshot`): 1 MB. */
const SNAPSHOT_PART = 131_072;

export class KeyIndex {
  readonly #mergeAt: number;
  /** Hashes (low 32 bits) sorted ascending (equal ones by id), and the id of each: the first `#length` slots are used. */
  #hashes = new Uint32Array(0);
  #ids = new Uint32Array(0);
  #length = 0;
  /** Added since the last merge: hash → id, or ids when it has several. */
  #recent = new Map<number, number | number[]>();

  constructor(mergeAt = 65_536) {
    this.#mergeAt = mergeAt;
  }

  /** The bytes its sorted arrays take (the recent pairs, at most `mergeAt`, are in the Map apart). */
  get bytes(): number {
    return this.#hashes.byteLength + this.#ids.byteLength;
  }

  /** How many (hash, id) pairs it holds. */
  get size(): number {
    let recent = 0;
    for (const ids of this.#recent.values()) recent += typeof ids === 'number' ? 1 : ids.length;
    return this.#length + recent;
  }

  add(fullHash: number, id: number): void {
    const hash = fullHash >>> 0;
    checkId(id);
    const known = this.#recent.get(hash);
    if (known === undefined) this.#recent.set(hash, id);
    else if (typeof known === 'number') this.#recent.set(hash, [known, id]);
    else known.push(id);
    if (this.#recent.size >= this.#mergeAt) this.#merge();
  }

  /**
   * Adds many pairs at once (a catch-up: a connection's first lookup reads every request), in id
   * order: sorted once and merged once when they are as many as a merge takes, instead of a merge
   * every `mergeAt` (which moves the whole sorted arrays each time: 8,000,000 pairs took 3.8 s).
   */
  addAll(hashes: Uint32Array, ids: Uint32Array): void {
    if (hashes.length < this.#mergeAt) {
      for (let i = 0; i < hashes.length; i++) this.add(hashes[i] as number, ids[i] as number);
      return;
    }
    this.#merge();
    sortByHash(hashes, ids);
    this.#mergeSorted(hashes, ids);
  }

  /** The first result `found` gives for an id under `hash` (newest ids first), or undefined. */
  find<T>(fullHash: number, found: (id: number) => T | undefined): T | undefined {
    const hash = fullHash >>> 0;
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

  /**
   * Its pairs as parts of bytes (`restore` reads them back), the recent ones merged first, at most
   * `SNAPSHOT_PART` pairs a part (1 MB): the ledger's snapshot keeps them, so that a connection opening
   * a large ledger need not read every request's hash (a million: about 0.3 s of CPU).
   */
  *snapshot(): Generator<Buffer> {
    this.#merge();
    for (let from = 0; from < this.#length; from += SNAPSHOT_PART) {
      const n = Math.min(SNAPSHOT_PART, this.#length - from);
      const bytes = Buffer.allocUnsafe(4 + n * 8);
      bytes.writeUInt32LE(n, 0);
      Buffer.from(this.#hashes.buffer, this.#hashes.byteOffset + from * 4, n * 4).copy(bytes, 4);
      Buffer.from(this.#ids.buffer, this.#ids.byteOffset + from * 4, n * 4).copy(bytes, 4 + n * 4);
      yield bytes;
    }
  }

  /** Replaces its pairs with a `snapshot`'s parts, in their order. */
  restore(parts: readonly Uint8Array[]): void {
    this.clear();
    const views = parts.map((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    const length = views.reduce((sum, view) => sum + view.readUInt32LE(0), 0);
    this.#hashes = new Uint32Array(length);
    this.#ids = new Uint32Array(length);
    const hashBytes = new Uint8Array(this.#hashes.buffer);
    const idBytes = new Uint8Array(this.#ids.buffer);
    let at = 0;
    for (const view of views) {
      const n = view.readUInt32LE(0);
      hashBytes.set(view.subarray(4, 4 + n * 4), at * 4);
      idBytes.set(view.subarray(4 + n * 4, 4 + n * 8), at * 4);
      at += n;
    }
    this.#length = length;
  }

  clear(): void {
    this.#hashes = new Uint32Array(0);
    this.#ids = new Uint32Array(0);
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
   * Moves the recent pairs into the sorted arrays: sorted among themselves (by radix, on typed arrays:
   * a comparison sort of a million pairs took about 0.4 s), then merged from the end, in place (the
   * arrays grow by a quarter when they must, not by a copy per merge).
   */
  #merge(): void {
    let count = 0;
    for (const ids of this.#recent.values()) count += typeof ids === 'number' ? 1 : ids.length;
    const newHashes = new Uint32Array(count);
    const newIds = new Uint32Array(count);
    let at = 0;
    // The Map gives each hash's ids in the order they were added (ascending), and the sort is stable.
    for (const [hash, ids] of this.#recent) {
      if (typeof ids === 'number') {
        newHashes[at] = hash;
        newIds[at++] = ids;
      } else {
        for (const id of ids) {
          newHashes[at] = hash;
          newIds[at++] = id;
        }
      }
    }
    this.#recent.clear();
    sortByHash(newHashes, newIds);
    this.#mergeSorted(newHashes, newIds);
  }

  /** Merges pairs sorted by hash (equal ones by id) into the sorted arrays. */
  #mergeSorted(newHashes: Uint32Array, newIds: Uint32Array): void {
    const count = newHashes.length;
    if (count === 0) return;
    const total = this.#length + count;
    if (total > this.#hashes.length) {
      const capacity = Math.max(total, Math.ceil(this.#hashes.length * 1.25));
      const hashes = new Uint32Array(capacity);
      const ids = new Uint32Array(capacity);
      hashes.set(this.#hashes.subarray(0, this.#length));
      ids.set(this.#ids.subarray(0, this.#length));
      this.#hashes = hashes;
      this.#ids = ids;
    }
    const hashes = this.#hashes;
    const ids = this.#ids;
    let old = this.#length - 1;
    let next = count - 1;
    for (let to = total - 1; next >= 0; to--) {
      const hash = newHashes[next] as number;
      const id = newIds[next] as number;
      // An old pair goes after a new one of the same hash only if its id is larger (ids grow: never).
      if (old >= 0 && ((hashes[old] as number) > hash || ((hashes[old] as number) === hash && (ids[old] as number) > id))) {
        hashes[to] = hashes[old] as number;
        ids[to] = ids[old] as number;
        old--;
      } else {
        hashes[to] = hash;
        ids[to] = id;
        next--;
      }
    }
    this.#length = total;
  }
}

/**
 * Sorts pairs by hash (32-bit integers), in place and stably: a least-significant-digit radix sort,
 * 16 bits a pass (a pass where every pair has the same digit is skipped).
 */
export function sortByHash(hashes: Uint32Array, ids: Uint32Array): void {
  const n = hashes.length;
  let fromHashes: Uint32Array = hashes;
  let fromIds: Uint32Array = ids;
  let toHashes: Uint32Array = new Uint32Array(n);
  let toIds: Uint32Array = new Uint32Array(n);
  const counts = new Uint32Array(65_536);
  for (const shift of [0, 16]) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[((fromHashes[i] as number) >>> shift) & 0xffff]! += 1;
    if (n === 0 || counts[((fromHashes[0] as number) >>> shift) & 0xffff] === n) continue;
    let position = 0;
    for (let d = 0; d < 65_536; d++) {
      const c = counts[d] as number;
      counts[d] = position;
      position += c;
    }
    for (let i = 0; i < n; i++) {
      const hash = fromHashes[i] as number;
      const d = (hash >>> shift) & 0xffff;
      const to = counts[d] as number;
      counts[d] = to + 1;
      toHashes[to] = hash;
      toIds[to] = fromIds[i] as number;
    }
    [fromHashes, toHashes] = [toHashes, fromHashes];
    [fromIds, toIds] = [toIds, fromIds];
  }
  if (fromHashes !== hashes) {
    hashes.set(fromHashes);
    ids.set(fromIds);
  }
}

/** Request ids are row ids given one past the largest (see `lastRequestId`): 2^32 of them would take years of runs. */
function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) throw new RangeError(`the key index holds ids up to 2^32 - 1, not ${id}`);
}

/** Pairs of numbers appended one at a time, read back as two typed arrays (a key-index catch-up). */
export class PairBuffer {
  #hashes = new Uint32Array(1024);
  #ids = new Uint32Array(1024);
  #length = 0;

  /** A pair: the hash's low 32 bits are kept, as `KeyIndex` keeps them. */
  push(hash: number, id: number): void {
    checkId(id);
    if (this.#length === this.#hashes.length) {
      const hashes = new Uint32Array(this.#length * 2);
      const ids = new Uint32Array(this.#length * 2);
      hashes.set(this.#hashes);
      ids.set(this.#ids);
      this.#hashes = hashes;
      this.#ids = ids;
    }
    this.#hashes[this.#length] = hash >>> 0;
    this.#ids[this.#length++] = id;
  }

  /** What was pushed, as arrays the caller may reorder (valid until `clear`). */
  view(): { hashes: Uint32Array; ids: Uint32Array } {
    return { hashes: this.#hashes.subarray(0, this.#length), ids: this.#ids.subarray(0, this.#length) };
  }

  /** Empties it, and lets a large one go (a first catch-up of a million requests takes 8 MB). */
  clear(): void {
    this.#length = 0;
    if (this.#hashes.length > 1024) {
      this.#hashes = new Uint32Array(1024);
      this.#ids = new Uint32Array(1024);
    }
  }
}
