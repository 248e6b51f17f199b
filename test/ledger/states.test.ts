/** Where each request stands, folded from its row and the log (src/ledger/states.ts): each step alone. */
import { describe, expect, it } from 'vitest';
import { answersBlob, DONE, foldAnswers, membersBlob, membersOf, PENDING, RequestStates, SUBMITTED, stateCode, stateName } from '../../src/ledger/states.ts';

const T = 1_700_000_000_123;

/** A fold holding `ids` as new requests (pending, written at T). */
function held(...ids: number[]): RequestStates {
  const states = new RequestStates();
  for (const id of ids) states.add(id, PENDING, null, 0, null, null, T);
  return states;
}

describe('the fold of one request', () => {
  it('pending → batched (an attempt more) → answered; a retry goes back to pending with its result and max_tokens', () => {
    const states = held(7);
    states.assign(7, 3, T + 1);
    expect(states.get(7)).toEqual({ state: SUBMITTED, batch: 3, attempts: 1, maxTokens: null, result: 0, updated: T + 1 });
    expect(states.waitsOn(7, 3)).toBe(true);
    expect(states.waitsOn(7, 4)).toBe(false);
    states.retry(7, 11, 2048, T + 2);
    expect(states.get(7)).toEqual({ state: PENDING, batch: 0, attempts: 1, maxTokens: 2048, result: 11, updated: T + 2 });
    states.assign(7, 4, T + 3);
    states.done(7, 4, 11, T + 4);
    expect(states.get(7)).toEqual({ state: DONE, batch: 4, attempts: 2, maxTokens: 2048, result: 11, updated: T + 4 });
    // A retry without a new max_tokens keeps the one it had.
    states.reopen(7, T + 5);
    expect(states.get(7)).toEqual({ state: PENDING, batch: 0, attempts: 0, maxTokens: 2048, result: 11, updated: T + 5 });
  });

  it('a release sends a waiting request back, one attempt less; gc\'s (kept) keeps its attempts; neither touches one not waiting', () => {
    const states = held(1, 2);
    states.assign(1, 5, T);
    states.release(1);
    expect(states.get(1)).toMatchObject({ state: PENDING, batch: 0, attempts: 0, updated: T });
    states.assign(2, 5, T);
    states.retry(2, 9, null, T);
    states.assign(2, 6, T);
    states.release(2, true);
    expect(states.get(2)).toMatchObject({ state: PENDING, batch: 0, attempts: 2, result: 9 });
    states.assign(2, 7, T);
    states.done(2, 7, 10, T);
    states.release(2);
    expect(states.get(2)).toMatchObject({ state: DONE, batch: 7, attempts: 3 });
  });

  it('an id it does not hold is left alone by every step, and reads as nothing', () => {
    const states = held(1);
    states.assign(2, 1, T);
    states.done(2, 1, 3, T);
    states.retry(2, 3, 9, T);
    states.reopen(2, T);
    states.release(2);
    expect(states.get(2)).toBeUndefined();
    expect([states.state(2), states.batch(2), states.attempts(2), states.result(2), states.updated(2), states.maxTokens(2)]).toEqual([0, 0, 0, 0, 0, null]);
    expect(states.size).toBe(1);
  });

  it('a row read from an older ledger keeps its state, batch, attempts, max_tokens and result', () => {
    const states = new RequestStates();
    states.add(3, stateCode('submitted'), 8, 2, 900, 4, T);
    expect(states.get(3)).toEqual({ state: SUBMITTED, batch: 8, attempts: 2, maxTokens: 900, result: 4, updated: T });
    expect(stateName(states.state(3))).toBe('submitted');
    expect(stateName(0)).toBeNull();
    expect(stateCode('archived')).toBe(0);
  });
});

describe('pages', () => {
  it('holds ids far apart in pages of their own, and frees a page when its last request is deleted', () => {
    const states = held(1, 2, 70_000, 10_000_000);
    expect(states.size).toBe(4);
    expect(states.bytes).toBe(3 * 65_536 * 19);
    states.delete(10_000_000);
    states.delete(10_000_000);
    expect(states.size).toBe(3);
    expect(states.bytes).toBe(2 * 65_536 * 19);
    expect(states.get(10_000_000)).toBeUndefined();
    states.clear();
    expect(states.size).toBe(0);
  });

  it('finds the requests of a batch of an older ledger (no list of members) by their state, ascending across pages', () => {
    const states = held(70_001, 5, 6);
    for (const id of [70_001, 5, 6]) states.assign(id, 2, T);
    states.done(6, 2, 1, T);
    states.retry(5, 2, null, T);
    expect(states.ofBatch(2)).toEqual([6, 70_001]);
  });

  it('refuses a result id it cannot hold rather than keep another', () => {
    const states = held(1);
    states.assign(1, 1, T);
    expect(() => states.done(1, 1, 2 ** 32, T)).toThrow(RangeError);
  });
});

describe('members blobs', () => {
  it('round-trip, read from bytes at any offset (a blob need not be aligned)', () => {
    const ids = [1, 2, 65_536, 2 ** 40];
    const blob = membersBlob(ids);
    expect(blob.length).toBe(32);
    expect([...membersOf(blob)]).toEqual(ids);
    const shifted = Buffer.concat([Buffer.from([0xff]), blob]).subarray(1);
    expect([...membersOf(shifted)]).toEqual(ids);
    expect([...membersOf(membersBlob([]))]).toEqual([]);
  });
});

describe('answers blobs', () => {
  it('fold each answer of a chunk as its own step would: final, or pending again with or without a new max_tokens', () => {
    const states = held(1, 2, 3);
    for (const id of [1, 2, 3]) states.assign(id, 4, T);
    const blob = answersBlob([
      { id: 1, result: 10, retry: false, maxTokens: null },
      { id: 2, result: 11, retry: true, maxTokens: 4096 },
      { id: 3, result: 12, retry: true, maxTokens: null },
    ]);
    expect(blob.length).toBe(72);
    foldAnswers(states, blob, 4, T + 9);
    expect(states.get(1)).toEqual({ state: DONE, batch: 4, attempts: 1, maxTokens: null, result: 10, updated: T + 9 });
    expect(states.get(2)).toEqual({ state: PENDING, batch: 0, attempts: 1, maxTokens: 4096, result: 11, updated: T + 9 });
    expect(states.get(3)).toEqual({ state: PENDING, batch: 0, attempts: 1, maxTokens: null, result: 12, updated: T + 9 });
  });
});

describe('snapshots', () => {
  it('a part a page and one for the max_tokens held; restored, they give back every state, and nothing of what was held before', () => {
    const states = held(1, 70_000, 10_000_000);
    states.assign(1, 3, T + 1);
    states.retry(1, 8, 512, T + 2);
    states.assign(70_000, 4, T + 3);
    states.done(70_000, 4, 9, T + 4);
    const parts = [...states.snapshot()];
    expect(parts).toHaveLength(4);
    const restored = held(5);
    restored.restore(parts.map((part) => Buffer.concat([Buffer.from([0]), part]).subarray(1)));
    for (const id of [1, 70_000, 10_000_000]) expect(restored.get(id)).toEqual(states.get(id));
    expect(restored.get(5)).toBeUndefined();
    expect(restored.size).toBe(3);
    restored.delete(10_000_000);
    expect(restored.bytes).toBe(2 * 65_536 * 19);
  });
});

