/** `InputTally`: what --dry-run and --max-cost count, each request once however many records share it. */
import { describe, expect, it } from 'vitest';
import { InputTally } from '../../src/cli/summary.ts';
import type { PreparedRecord } from '../../src/stages/batch.ts';
import { Readable } from 'node:stream';
import { checkCost, type CostCheck } from '../../src/cli/enrich/estimate.ts';
import { compileTemplate } from '../../src/core/template.ts';
import { DEFAULT_PRICES } from '../../src/core/prices.ts';
import type { KnownRequest } from '../../src/ledger/store.ts';
import { sources } from '../helpers/pipeline.ts';

const record = (key: string | undefined, error = false) => ({ seq: 0, line: 1, data: {}, key, ...(error ? { error: { type: 'x', message: 'x' } } : {}) }) as unknown as PreparedRecord;

describe('InputTally.isRepeat', () => {
  it('a record whose request an earlier one has is a repeat; other requests, and records without one, are not', () => {
    const tally = new InputTally();
    expect(tally.isRepeat(record('AAAAAAAAAAAAAAAAAAAAAA'))).toBe(false);
    expect(tally.isRepeat(record('AAAAAAAAAAAAAAAAAAAAAA'))).toBe(true);
    expect(tally.isRepeat(record('BAAAAAAAAAAAAAAAAAAAAA'))).toBe(false);
    expect(tally.isRepeat(record(undefined))).toBe(false);
    expect(tally.isRepeat(record('AAAAAAAAAAAAAAAAAAAAAA', true))).toBe(false);
    expect(tally.repeats).toBe(1);
  });

  it('two requests whose keys share their first 48 bits are both counted, never one taken for a repeat of the other', () => {
    // helper-42: the first 48 bits alone collide about once in 560 jobs of a million requests, and
    // each collision left a request out of the --max-cost estimate.
    const tally = new InputTally();
    expect(tally.isRepeat(record('abcdefgh_XXXXXXXXXXXXX'))).toBe(false);
    expect(tally.isRepeat(record('abcdefgh-YYYYYYYYYYYYY'))).toBe(false);
    // Its repeat is counted again (an over-count, on the safe side of a cap), the first one's is a repeat.
    expect(tally.isRepeat(record('abcdefgh-YYYYYYYYYYYYY'))).toBe(false);
    expect(tally.isRepeat(record('abcdefgh_XXXXXXXXXXXXX'))).toBe(true);
  });
});

describe('checkCost (--max-cost before the run)', () => {
  // helper-70: a cut-off answer's retry that a stopped run left pending (its max_tokens doubled) was
  // estimated as a typical answer of the job's --max-tokens: the check let through a run that the
  // budget guard then had to refuse batch by batch.
  it("prices a request the ledger holds pending with a raised max_tokens at it; one answered before is left out", async () => {
    const spec = { model: 'claude-haiku-4-5', maxTokens: 4, prompt: compileTemplate('item {{id}}: {{text}}') };
    const rows = Array.from({ length: 10 }, (_, i) => ({ id: String(i), text: `text ${i}` }));
    const pendingAt = (maxTokens: number | null) => async (keys: string[]) =>
      new Map(keys.map((key) => [key, { key, label: null, spec: 's', state: 'pending', batch_id: null, attempts: 1, max_tokens: maxTokens, updated_at: 0, failure: null } as KnownRequest]));
    const check = (known: CostCheck['known'], maxCost: number) =>
      checkCost(Readable.from(sources(rows)), { spec, prices: DEFAULT_PRICES, mode: 'batch', cachedPrefix: false, maxCost, picked: undefined, known });
    // Ten typical answers of at most 4 tokens fit $0.001; ten of up to 64 (about $0.0015 of output) do not.
    await expect(check(pendingAt(null), 0.001)).resolves.toMatchObject({ inLedger: 0 });
    await expect(check(pendingAt(64), 0.001)).rejects.toThrow(/over --max-cost \$0\.001/);
    // Answered before: nothing to pay for.
    const answered = async (keys: string[]) => new Map(keys.map((key) => [key, { key, label: null, spec: 's', state: 'done', batch_id: null, attempts: 1, max_tokens: null, updated_at: 0, failure: null } as KnownRequest]));
    await expect(check(answered, 0.000001)).resolves.toMatchObject({ inLedger: 10 });
  });
});
