/** `InputTally`: what --dry-run and --max-cost count, each request once however many records share it. */
import { describe, expect, it } from 'vitest';
import { InputTally } from '../../src/cli/summary.ts';
import type { PreparedRecord } from '../../src/stages/batch.ts';

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
