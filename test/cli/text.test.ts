/** The CLI's one set of text helpers: table tests, each case with why. */
import { describe, expect, it } from 'vitest';
import { formatDuration, plural } from '../../src/cli/text.ts';
import { guarded } from '../../src/cli/command.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { BatchEnrichError } from '../../src/errors.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('formatDuration: one wording for the progress view and status', () => {
  it.each([
    { ms: 0, want: '0s', description: 'zero' },
    { ms: -5000, want: '0s', description: 'a clock skew never shows a negative age' },
    { ms: 59_999, want: '59s', description: 'seconds are truncated, not rounded up' },
    { ms: 3 * MINUTE + 59_000, want: '3m59s', description: 'under an hour: minutes and seconds' },
    { ms: 5 * MINUTE, want: '5m', description: 'no trailing 0s' },
    { ms: 2 * HOUR, want: '2h', description: 'no trailing 0m' },
    { ms: 2 * HOUR + 5 * MINUTE + 30_000, want: '2h5m', description: 'hours and minutes; seconds dropped' },
    { ms: 2 * HOUR + 30_000, want: '2h', description: 'the two largest units only: 2h0m30s is 2h' },
    { ms: DAY + 3 * HOUR + 59 * MINUTE, want: '1d3h', description: 'days and hours; minutes dropped' },
    { ms: 30 * DAY, want: '30d', description: 'no trailing 0h' },
  ])('formatDuration($ms) = $want: $description', ({ ms, want }) => {
    expect(formatDuration(ms)).toBe(want);
  });
});

describe('plural', () => {
  it.each([
    { n: 1, one: 'batch', many: 'batches', want: '1 batch' },
    { n: 0, one: 'batch', many: 'batches', want: '0 batches' },
    { n: 2, one: 'request', many: undefined, want: '2 requests' },
    { n: 12_345, one: 'request', many: undefined, want: '12,345 requests' },
  ])('plural($n, $one) = $want', ({ n, one, many, want }) => {
    expect(plural(n, one, many)).toBe(want);
  });
});

describe('a closed reader (EPIPE) ends a command quietly; an EPIPE inside another failure does not', () => {
  const io = () => {
    let stderr = '';
    return { io: { env: {}, stderr: { write: (text: string) => ((stderr += text), true) } } as unknown as CliIo, stderr: () => stderr };
  };
  it.each([
    { why: 'stdout closed by | head: the write itself raised EPIPE', error: Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }), code: 0, said: '' },
    {
      why: 'an API call whose socket broke (EPIPE), wrapped by the sink: a failure, said',
      error: new BatchEnrichError('BE_API', 'Creating batch 3 failed: write EPIPE', { cause: Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }) }),
      code: 1,
      said: 'batch-enrich: Creating batch 3 failed: write EPIPE\n',
    },
  ])('$why', async ({ error, code, said }) => {
    const f = io();
    expect(await guarded('status', f.io, () => Promise.reject(error))).toBe(code);
    expect(f.stderr()).toBe(said);
  });
});
