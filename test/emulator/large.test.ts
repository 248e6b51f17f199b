/**
 * A 100,000-request batch downloaded through the SDK: the results stream line by line with
 * backpressure, so memory stays flat. Reports peak RSS (sampled) and process maxRSS on stderr.
 */
import { describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.ts';
import { client, MODEL } from './helpers.ts';

describe('100k batch', () => {
  it('creates, ends and downloads 100,000 results through the SDK in flat memory', async () => {
    const emu = await startEmulator();
    const c = client(emu.url, { timeout: 120_000 });
    try {
      const started = Date.now();
      const requests = Array.from({ length: 100_000 }, (_, i) => ({
        custom_id: `rec-${i}`,
        params: { model: MODEL, max_tokens: 256, messages: [{ role: 'user' as const, content: `Summarise record number ${i}` }] },
      }));
      const b = await c.messages.batches.create({ requests });
      const created = Date.now();
      const ended = await c.messages.batches.retrieve(b.id);
      expect(ended.request_counts.succeeded).toBe(100_000);
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      const downloadStart = Date.now();
      let n = 0;
      const seen = new Set<string>();
      for await (const line of await c.messages.batches.results(b.id)) {
        n++;
        if (n % 10_000 === 0) peak = Math.max(peak, process.memoryUsage().rss);
        seen.add(line.custom_id);
      }
      clearInterval(timer);
      const downloadMs = Date.now() - downloadStart;
      expect(n).toBe(100_000);
      expect(seen.size).toBe(100_000);
      const mb = (x: number) => `${(x / 1024 / 1024).toFixed(0)} MB`;
      // The figures go to stderr only when asked for (BENCH_VERBOSE=1): a stray line in the middle of `npm test` reads as a failure.
      if (process.env['BENCH_VERBOSE'] === '1') {
        process.stderr.write(
          `[100k] create ${created - started} ms, download ${downloadMs} ms; RSS before download ${mb(rssBefore)}, peak during download ${mb(peak)} (+${mb(peak - rssBefore)}), process maxRSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB\n`,
        );
      }
      // The whole results file is ~100 MB of JSON; flat streaming must stay far below that in growth.
      expect(peak - rssBefore).toBeLessThan(150 * 1024 * 1024);
    } finally {
      await emu.close();
    }
  }, 60_000);
});
