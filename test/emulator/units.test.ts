/** Pure modules without HTTP: pagination, create validation, ids, the store driven by a fake clock. */
import { describe, expect, it } from 'vitest';
import { BatchStore, paginate } from '../../src/emulator/batch.ts';
import { IdGenerator } from '../../src/emulator/random.ts';
import { checkParams } from '../../src/emulator/params.ts';
import { validateCreateBody } from '../../src/emulator/validate.ts';

const items = Array.from({ length: 5 }, (_, i) => ({ id: `b${5 - i}`, seq: 5 - i })); // newest first
const seqOf = (id: string) => items.find((b) => b.id === id)?.seq;

describe('paginate (SDK Page semantics)', () => {
  const cases = [
    { description: 'first page', q: { limit: 2 }, ids: ['b5', 'b4'], more: true },
    { description: 'after_id = last_id of a page', q: { limit: 2, after_id: 'b4' }, ids: ['b3', 'b2'], more: true },
    { description: 'last page forwards', q: { limit: 2, after_id: 'b2' }, ids: ['b1'], more: false },
    { description: 'before_id pages towards newer', q: { limit: 2, before_id: 'b1' }, ids: ['b3', 'b2'], more: true },
    { description: 'before_id reaching the newest', q: { limit: 2, before_id: 'b3' }, ids: ['b5', 'b4'], more: false },
  ];
  for (const t of cases) {
    it(t.description, () => {
      const p = paginate(items, t.q, seqOf);
      expect(p.data.map((b) => b.id)).toEqual(t.ids);
      expect(p.has_more).toBe(t.more);
      expect(p.first_id).toBe(t.ids[0]);
      expect(p.last_id).toBe(t.ids[t.ids.length - 1]);
    });
  }
});

describe('validation', () => {
  it('create envelope and per-request rules', () => {
    const ok = validateCreateBody({ requests: [{ custom_id: 'a', params: { model: 'm', max_tokens: 1, messages: [] } }] });
    expect(ok.ok).toBe(true);
    const many = validateCreateBody({ requests: [1, 2, 3] }, 2);
    expect(many).toEqual({ ok: false, message: 'requests: List should have at most 2 items after validation, not 3' });
    const params = (model: string, sampling: Record<string, unknown>) => ({ model, max_tokens: 10, ...sampling, messages: [{ role: 'user', content: 'hi' }] });
    const at = (version: string, model: string, sampling: Record<string, unknown>) => checkParams(params(model, sampling), { context: 'batch', version, betas: [], now: 0 })?.message;
    expect(at('2026-10-21', 'claude-haiku-4-5', { top_p: 0.5 })).toMatch(/^top_p/);
    expect(at('2023-06-01', 'claude-haiku-4-5', { top_p: 0.5, temperature: 0, top_k: 5 })).toBeUndefined();
    // [SPEC] ranges, under 2023-06-01.
    expect(at('2023-06-01', 'claude-haiku-4-5', { temperature: 5 })).toBe('temperature: Input should be less than or equal to 1');
    expect(at('2023-06-01', 'claude-haiku-4-5', { temperature: '0.5' })).toBe('temperature: Input should be a valid number');
    expect(at('2023-06-01', 'claude-haiku-4-5', { top_k: 1.5 })).toBe('top_k: Input should be a valid integer');
    expect(at('2023-06-01', 'claude-haiku-4-5', { top_p: -1 })).toBe('top_p: Input should be greater than or equal to 0');
    // [SPEC deprecation messages; DOC §3.5] Models released after Opus 4.6 take only the defaults, under 2023-06-01 too
    // (helper-41: Opus 4.7 answered temperature 0, top_p 0.5 and top_k 5).
    expect(at('2023-06-01', 'claude-opus-4-7', { temperature: 0 })).toMatch(/^temperature: claude-opus-4-7 does not support setting temperature/);
    expect(at('2023-06-01', 'claude-opus-5', { top_p: 0.5 })).toMatch(/^top_p: claude-opus-5 does not support setting top_p/);
    expect(at('2023-06-01', 'claude-sonnet-5', { top_k: 5 })).toBe('top_k: claude-sonnet-5 does not accept top_k');
    expect(at('2023-06-01', 'claude-opus-4-7', { temperature: 1, top_p: 0.99 })).toBeUndefined();
    // Not in DOC §3.5's list: taken (UNCONFIRMED either way; helper-42).
    expect(at('2023-06-01', 'claude-haiku-5-5', { temperature: 0 })).toBeUndefined();
    // The tool-search server tools, dated with digits in their name or undated [SPEC] (helper-42: refused).
    // Each under the name its schema gives it [SPEC ToolSearchToolBM25_20251119, ToolSearchToolRegex_20251119: name.const].
    for (const [type, name] of [['tool_search_tool_bm25_20251119', 'tool_search_tool_bm25'], ['tool_search_tool_bm25', 'tool_search_tool_bm25'], ['tool_search_tool_regex', 'tool_search_tool_regex']])
      expect(checkParams({ model: 'claude-haiku-4-5', max_tokens: 10, tools: [{ type, name }], messages: [{ role: 'user', content: 'hi' }] }, { context: 'batch', version: '2026-10-21', betas: [], now: 0 }), type).toBeUndefined();
    // Null for a temperature under 2023-06-01: not nullable [SPEC CreateMessageParams.temperature, top_p: number; top_k: integer].
    expect(at('2023-06-01', 'claude-haiku-4-5', { temperature: null })).toBe('temperature: Input should be a valid number');
    expect(at('2023-06-01', 'claude-haiku-4-5', { top_k: null })).toBe('top_k: Input should be a valid integer');
    // BetaOutputConfig.task_budget on the beta surface (helper-42: refused as an extra input after the nested-keys
    // rule), and only there (helper-79 #3: OutputConfig has no task_budget).
    const budgeted = { model: 'claude-haiku-4-5', max_tokens: 10, output_config: { task_budget: { type: 'tokens', total: 1024 } }, messages: [{ role: 'user', content: 'hi' }] };
    expect(checkParams(budgeted, { context: 'batch', version: '2026-10-21', betas: [], now: 0, beta: true })).toBeUndefined();
    expect(checkParams(budgeted, { context: 'batch', version: '2026-10-21', betas: [], now: 0 })?.message).toBe('output_config.task_budget: Extra inputs are not permitted');
  });

  it('ids are deterministic from the seed and shaped like the API', () => {
    const a = new IdGenerator(1);
    const b = new IdGenerator(1);
    const ids = [a.next('msgbatch'), a.next('msg'), a.next('req'), a.next('toolu')];
    expect([b.next('msgbatch'), b.next('msg'), b.next('req'), b.next('toolu')]).toEqual(ids);
    expect(ids[0]).toMatch(/^msgbatch_01[0-9A-Za-z]{22}$/);
    expect(new IdGenerator(2).next('msgbatch')).not.toBe(ids[0]);
  });
});

describe('BatchStore with a fake clock', () => {
  it('status is a function of the clock', async () => {
    let t = 1_000_000;
    const store = new BatchStore({
      seed: 1, now: () => t, processingMs: 100, cancelingMs: 0, erroredRate: 0, erroredType: 'overloaded_error',
      expiredRate: 0, responder: undefined, forward: undefined, upstreamConcurrency: 1,
    });
    const rec = store.create([{ custom_id: 'a', params: { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] } }], '2023-06-01', { apiKey: 'k', version: '2023-06-01' });
    expect(store.status(rec)).toBe('in_progress');
    t += 100;
    expect(store.status(rec)).toBe('ended');
    await store.settle(rec);
    const view = store.view(rec, 'http://x');
    expect(view.request_counts.succeeded).toBe(1);
    expect(view.results_url).toBe(`http://x/v1/messages/batches/${rec.id}/results`);
    expect(JSON.parse(store.resultLine(rec, 0)).result.type).toBe('succeeded');
  });
});
