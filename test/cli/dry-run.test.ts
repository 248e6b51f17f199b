/**
 * `--dry-run` into a reader that goes away (`| head`): the estimate says whether it covers the whole
 * input (helper-80 #10: 500 rows all read, and it said "only the first 500 requests").
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dryRun } from '../../src/cli/enrich/estimate.ts';
import { compileTemplate } from '../../src/core/template.ts';
import { DEFAULT_PRICES } from '../../src/core/prices.ts';
import type { SourceRecord } from '../../src/stages/read.ts';

/** A stdout whose reader has gone: every write fails with EPIPE, after a turn. */
function closedPipe(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      setImmediate(() => callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })));
    },
  });
}

const spec = { model: 'claude-haiku-4-5', maxTokens: 100, prompt: compileTemplate('item {{id}}') };

describe('--dry-run | head', () => {
  it('an input read to its end before the reader went: the estimate is the whole input, not said to be partial', async () => {
    const said: string[] = [];
    async function* three(): AsyncGenerator<SourceRecord> {
      for (let i = 0; i < 3; i++) yield { seq: i, line: i + 2, data: { id: String(i) } };
    }
    expect(await dryRun(closedPipe(), (line) => said.push(line), three(), spec, DEFAULT_PRICES, 'batch', undefined)).toBe(0);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^estimate: 3 requests /);
    expect(said[0]).not.toContain('only the first');
  });

  it('an input still being read when the reader went: the estimate says it covers the first requests only', async () => {
    const said: string[] = [];
    async function* endless(): AsyncGenerator<SourceRecord> {
      for (let i = 0; ; i++) yield { seq: i, line: i + 2, data: { id: String(i) } };
    }
    expect(await dryRun(closedPipe(), (line) => said.push(line), endless(), spec, DEFAULT_PRICES, 'batch', undefined)).toBe(0);
    expect(said.at(-1)).toMatch(/\(only the first [\d,]+ requests: the output was closed\)$/);
  });
});
