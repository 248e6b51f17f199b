/**
 * The library checks before paying (enrichStage against the emulator): a job the API would refuse for
 * every row fails before any create; records it would refuse come out with `_error`, unsent.
 */
import { describe, expect, it } from 'vitest';
import { enrichStage } from '../src/enrich.ts';
import { emulator, enrich } from './helpers/pipeline.ts';

describe('enrichStage preflight', () => {
  it('a model the registry does not know is looked up online (404): BE_INVALID_OPTION, nothing created', async () => {
    const emu = await emulator();
    await expect(enrich(emu, [{ id: '1', text: 'a' }], { model: 'claude-haiku-45' })).rejects.toMatchObject({
      code: 'BE_INVALID_OPTION',
      message: expect.stringMatching(/^unknown model claude-haiku-45/),
    });
    expect(emu.stats.calls['models.retrieve']).toBe(1);
    expect(emu.stats.calls['batches.create']).toBe(0);
  });

  it('a schema structured outputs refuse, or max_tokens over the limit, fails when the stage is made (no network)', () => {
    const recursive = { type: 'object', properties: { a: { $ref: '#' } }, required: ['a'] };
    expect(() => enrichStage({ prompt: '{{text}}', schema: recursive, apiKey: 'k' })).toThrow(/Recursive schemas are not supported/);
    expect(() => enrichStage({ prompt: '{{text}}', model: 'claude-haiku-4-5', maxTokens: 100_000, apiKey: 'k' })).toThrow(/output limit of 64,000/);
    expect(() => enrichStage({ prompt: '{{text}}', model: 'claude-opus-4-1', apiKey: 'k' })).toThrow(/claude-opus-4-1 is retired/);
    // helper-93 #8: named as the option given, not as maxTokens.
    expect(() => enrichStage({ prompt: '{{text}}', model: 'claude-haiku-4-5', documentMaxTokens: 100_000, apiKey: 'k' })).toThrow(/^max_tokens 100000 for records with documents \(the library's documentMaxTokens; a recipe's\) is over claude-haiku-4-5's output limit of 64,000$/);
  });

  it('an empty rendered prompt is that record\u2019s _error (empty_prompt), never sent; the others are enriched', async () => {
    const emu = await emulator();
    const out = await enrich(emu, [{ id: '1', text: 'a' }, { id: '2', text: ' ' }, { id: '3', text: 'c' }], { prompt: '{{text}}', schema: undefined, file: 'in.ndjson' });
    expect(out.map((r) => r['id'])).toEqual(['1', '2', '3']);
    expect(out[1]?.['_error']).toEqual({ type: 'empty_prompt', message: expect.stringMatching(/^in\.ndjson:3: the rendered prompt is empty/) });
    expect(out[0]?.['_error']).toBeUndefined();
    expect(emu.stats.requestsSubmitted).toBe(2);
  });

  // helper-89 #1: a recipe's prompt has words around its fields, so a row whose every field is empty
  // rendered a prompt of labels alone ("Subject: \n\n"): it was sent, paid for, and answered with an
  // invented vendor and total. Such a row is `empty_prompt`, never sent; one field with text is enough.
  it('a row whose every prompt field is blank is empty_prompt, however much text the template adds; the others are sent', async () => {
    const emu = await emulator();
    const rows = [{ id: 'E-1', subject: '', body: '' }, { id: 'E-2', subject: '   ', body: ' \n' }, { id: 'E-3', subject: 'Hi', body: '' }, { id: 'E-4', subject: null, body: '\t' }];
    const out = await enrich(emu, rows, { prompt: 'Subject: {{subject}}\n\n{{body}}', schema: undefined, file: 'tickets.csv' });
    expect(out.map((r) => (r['_error'] as { type: string } | undefined)?.type)).toEqual(['empty_prompt', 'empty_prompt', undefined, 'empty_prompt']);
    expect(out[0]?.['_error']).toEqual({ type: 'empty_prompt', message: 'tickets.csv:2: every field the prompt uses is empty (subject, body): there is nothing to ask about, so it is not sent' });
    expect(emu.stats.requestsSubmitted).toBe(1);
  });

  it('a schema property named __proto__: the emulator answers it, and the record is enriched on the first attempt', async () => {
    const emu = await emulator();
    const schema = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"},"b":{"type":"integer"}},"required":["__proto__","b"],"additionalProperties":false}');
    const out = await enrich(emu, [{ id: '1', text: 'a' }, { id: '2', text: 'b' }], { schema });
    expect(out.map((r) => r['_error'])).toEqual([undefined, undefined]);
    expect([...emu.submittedCustomIds().values()]).toEqual([1, 1]);
  });
});
