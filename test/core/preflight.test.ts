import { describe, expect, it } from 'vitest';
import { MODEL_REGISTRY } from '../../src/core/models.ts';
import { findModel, type ModelEntry } from '../../src/core/models.ts';
import { entryFromModelInfo } from '../../src/client/models.ts';
import { cacheNotice, jobProblem, promptTokenEstimate, recordProblem } from '../../src/core/preflight.ts';
import { structuredOutputProblem } from '../../src/core/schema-limits.ts';

const NOW = Date.parse('2026-12-02T00:00:00Z');

describe('jobProblem', () => {
  const cases: Array<{ description: string; job: Parameters<typeof jobProblem>[0]; want: RegExp | undefined }> = [
    { description: 'a good job', job: { model: 'claude-haiku-4-5', maxTokens: 1024, now: NOW }, want: undefined },
    { description: 'a dated alias', job: { model: 'claude-haiku-4-5-20251001', maxTokens: 1024, now: NOW }, want: undefined },
    { description: 'an unknown model', job: { model: 'claude-haiku-45', maxTokens: 1024, now: NOW }, want: /^unknown model claude-haiku-45 \(did you mean claude-haiku-4-5\?\): .*known models: .*claude-haiku-4-5/ },
    { description: 'a model past its retirement date', job: { model: 'claude-sonnet-4-5', maxTokens: 1024, now: NOW }, want: /retired since 2026-11-30/ },
    // helper-95 #15: the nearest name was retired, so a current one further off was offered.
    { description: 'a typo of a retired model', job: { model: 'claude-sonnet-4.5', maxTokens: 1024, now: NOW }, want: /^unknown model claude-sonnet-4\.5 \(claude-sonnet-4-5, which it is near, is retired since 2026-11-30\): .*known models: / },
    { description: 'the same model before it', job: { model: 'claude-sonnet-4-5', maxTokens: 1024, now: Date.parse('2026-11-01T00:00:00Z') }, want: undefined },
    { description: 'max_tokens over the limit', job: { model: 'claude-opus-4-5', maxTokens: 64_001, now: NOW }, want: /output limit of 64,000/ },
    { description: 'max_tokens within the 300K beta', job: { model: 'claude-opus-4-6', maxTokens: 300_000, betas: ['output-300k-2026-03-24'], now: NOW }, want: undefined },
    { description: 'a schema with an external $ref', job: { model: 'claude-haiku-4-5', maxTokens: 10, answerSchema: { type: 'object', properties: { a: { $ref: 'https://x/y.json' } } }, now: NOW }, want: /External \$ref/ },
    { description: 'a property referring to the root', job: { model: 'claude-haiku-4-5', maxTokens: 10, answerSchema: { type: 'object', properties: { a: { $ref: '#' } }, required: ['a'] }, now: NOW }, want: /Recursive schemas are not supported/ },
    { description: 'allOf with $ref', job: { model: 'claude-haiku-4-5', maxTokens: 10, answerSchema: { type: 'object', properties: { a: { allOf: [{ $ref: '#/$defs/b' }] } }, $defs: { b: { type: 'string' } } }, now: NOW }, want: /'allOf' with '\$ref'/ },
    { description: '17 nullable properties', job: { model: 'claude-haiku-4-5', maxTokens: 10, answerSchema: { type: 'object', properties: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, { type: ['string', 'null'] }])), required: Array.from({ length: 17 }, (_, i) => `p${i}`) }, now: NOW }, want: /union types \(17/ },
    { description: '17 properties that are anyOf [x, null]', job: { model: 'claude-haiku-4-5', maxTokens: 10, answerSchema: { type: 'object', properties: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, { anyOf: [{ type: 'string' }, { type: 'null' }] }])), required: Array.from({ length: 17 }, (_, i) => `p${i}`) }, now: NOW }, want: /union types \(17/ },
    // Constraints the SDK moves into descriptions are fine: they are not sent as keywords.
    { description: 'minimum/maxLength (moved by the SDK transform)', job: { model: 'claude-haiku-4-5', maxTokens: 10, answerSchema: { type: 'object', properties: { n: { type: 'integer', minimum: 1 }, s: { type: 'string', maxLength: 3 } }, required: ['n', 's'] }, now: NOW }, want: undefined },
  ];
  for (const t of cases) {
    it(t.description, () => {
      const got = jobProblem(t.job);
      if (t.want === undefined) expect(got).toBeUndefined();
      else expect(got).toMatch(t.want);
    });
  }

  it('an unknown model that is a typo of a known one says which', () => {
    expect(jobProblem({ model: 'claude-haiku-45', maxTokens: 100 })).toMatch(/^unknown model claude-haiku-45 \(did you mean claude-haiku-4-5\?\)/);
    expect(jobProblem({ model: 'gpt-4o', maxTokens: 100 })).toMatch(/^unknown model gpt-4o: /);
    // helper-95: a name read with a blank around it said "unknown model  claude-haiku-4-5 (did you
    // mean claude-haiku-4-5?)", the suggestion the same as the name to the eye.
    expect(jobProblem({ model: 'claude-haiku-4-5 ', maxTokens: 100 })).toMatch(/^unknown model "claude-haiku-4-5 " \(did you mean claude-haiku-4-5\? it has a blank around it\): /);
    expect(jobProblem({ model: 'claude-haiku-4-5\n', maxTokens: 100 })).toMatch(/^unknown model "claude-haiku-4-5\\n" \(did you mean claude-haiku-4-5\? it has a blank around it\): /);
  });

  it('a model without a capability the job needs', () => {
    const base = findModel('claude-haiku-4-5') as ModelEntry;
    const noJson: ModelEntry = { ...base, id: 'x', capabilities: { ...base.capabilities, structuredOutputs: false } };
    const lookup = (id: string) => (id === 'x' ? noJson : undefined);
    expect(jobProblem({ model: 'x', maxTokens: 10, now: NOW }, lookup)).toBeUndefined();
    expect(jobProblem({ model: 'x', maxTokens: 10, now: NOW, answerSchema: { type: 'object', properties: {} } }, lookup)).toBe(
      'model x does not support structured outputs, which this job needs',
    );
  });
});

describe('recordProblem', () => {
  it('empty and whitespace-only prompts; over the context window with the system prompt counted', () => {
    expect(recordProblem('', undefined, 'claude-haiku-4-5')?.type).toBe('empty_prompt');
    expect(recordProblem(' \n\t', undefined, 'claude-haiku-4-5')?.type).toBe('empty_prompt');
    expect(recordProblem('x'.repeat(800_000), undefined, 'claude-haiku-4-5')).toBeUndefined(); // exactly 200,000 tokens
    expect(recordProblem('x'.repeat(800_001), undefined, 'claude-haiku-4-5')?.type).toBe('prompt_too_long');
    expect(recordProblem('x'.repeat(799_000), 'S'.repeat(2000), 'claude-haiku-4-5')?.type).toBe('prompt_too_long');
    expect(recordProblem('x'.repeat(900_000), undefined, 'claude-sonnet-4-6')).toBeUndefined(); // 1M window
  });

  // helper-98: at 4 characters a token, a row of 300,000 Chinese characters was "about 75,000 tokens",
  // sent, and refused by the API (over 200K) after a whole batch's wait.
  it('CJK text counts about a token a character: a row of 300,000 is over a 200K window, English of the same length is not', () => {
    const cjk = '中文日本語한국어テキ'.repeat(30_000); // 300,000 characters of Han, Hangul and Kana
    expect(recordProblem(cjk, undefined, 'claude-haiku-4-5')).toEqual({
      type: 'prompt_too_long',
      message: "the prompt is about 300,000 tokens, over claude-haiku-4-5's context window of 200,000",
    });
    expect(recordProblem('x'.repeat(300_000), undefined, 'claude-haiku-4-5')).toBeUndefined();
    // The system prompt counts by its script too.
    expect(recordProblem('x', '漢'.repeat(200_000), 'claude-haiku-4-5')?.type).toBe('prompt_too_long');
  });

  it('with documents: their text counts against the context window; the prompt may be empty (the documents are the content)', () => {
    expect(recordProblem('', undefined, 'claude-haiku-4-5', { textTokens: 10 })).toBeUndefined();
    expect(recordProblem('Summarise', undefined, 'claude-haiku-4-5', { textTokens: 199_997 })).toBeUndefined();
    expect(recordProblem('Summarise', undefined, 'claude-haiku-4-5', { textTokens: 199_998 })).toEqual({
      type: 'prompt_too_long',
      message: "the prompt with its text documents is about 200,001 tokens, over claude-haiku-4-5's context window of 200,000",
    });
  });
});

describe('recordProblem with PDFs and images (helper-100 #2)', () => {
  // A PDF was left to the API whatever its pages: one over the window by our own estimate was paid
  // for in the batch's place, and came back errored.
  it('their estimated tokens count against the context window, each named with its pages or pixels', () => {
    const pdf = { name: 'long.pdf', what: '90 PDF pages', tokens: 211_500 };
    expect(recordProblem('Review', undefined, 'claude-haiku-4-5', { textTokens: 0, parts: [pdf] })).toEqual({
      type: 'prompt_too_long',
      message:
        "the prompt with its documents is about 211,502 tokens, over claude-haiku-4-5's context window of 200,000 (long.pdf: 90 PDF pages, about 211,500 tokens; by our estimate: a PDF page at 1,600 tokens for its image and its text at 4 characters a token, an image by its pixels); split the documents, or send them to a model with a larger window",
    });
    expect(recordProblem('Review', undefined, 'claude-haiku-4-5', { textTokens: 0, parts: [{ ...pdf, tokens: 199_998 }] })).toBeUndefined();
    expect(recordProblem('Review', undefined, 'claude-sonnet-4-6', { textTokens: 0, parts: [pdf] })).toBeUndefined(); // 1M window
    // Several: the largest three are named, with how many more.
    const many = Array.from({ length: 5 }, (_, i) => ({ name: `p${i}.pdf`, what: '30 PDF pages', tokens: 45_000 + i }));
    expect(recordProblem('Review', undefined, 'claude-haiku-4-5', { textTokens: 0, parts: many })?.message).toContain('(p4.pdf: 30 PDF pages, about 45,004 tokens; p3.pdf: 30 PDF pages, about 45,003 tokens; p2.pdf: 30 PDF pages, about 45,002 tokens; and 2 more;');
  });
});

describe('promptTokenEstimate', () => {
  const cases: { description: string; text: string; want: number }[] = [
    { description: 'English at 4 characters a token, as before', text: 'The quick brown fox jumps over the lazy dog. '.repeat(20), want: 225 },
    { description: 'an empty string', text: '', want: 0 },
    { description: 'rounded up', text: 'abcde', want: 2 },
    { description: 'Chinese (Han) a token a character', text: '你好世界'.repeat(25), want: 100 },
    { description: 'Japanese kana and kanji a token a character', text: 'こんにちはカタカナ漢字'.repeat(10), want: 110 },
    { description: 'Korean Hangul syllables a token a character', text: '안녕하세요'.repeat(20), want: 100 },
    { description: 'Thai, Devanagari (other scripts of 3 UTF-8 bytes) a token a character', text: 'สวัสดีनमस्ते', want: 12 },
    { description: 'accented Latin, Greek, Cyrillic (2 UTF-8 bytes) half a token a character', text: 'Привет'.repeat(10), want: 30 },
    { description: 'an emoji (a surrogate pair) two tokens', text: '😀'.repeat(10), want: 20 },
    { description: 'French: its accented letters half a token, a dash a token, the rest at 4 characters', text: 'Café crème — '.repeat(10), want: 45 },
  ];
  for (const t of cases) {
    it(t.description, () => expect(promptTokenEstimate(t.text)).toBe(t.want));
  }

  it('never counts less than 4 characters a token (what the emulator counts, so its usage stays within what is checked)', () => {
    for (const text of ['plain', 'Ünïcödé', '中文', '😀 ok', 'ab\u0301c']) expect(promptTokenEstimate(text)).toBeGreaterThanOrEqual(Math.ceil(text.length / 4));
  });
});

describe('cacheNotice', () => {
  it('only when the system prompt is below the model minimum', () => {
    expect(cacheNotice('x'.repeat(4 * 600), 'claude-haiku-4-5')).toMatch(/about 600 tokens, below claude-haiku-4-5's minimum cacheable prompt of 4,096: caching will not apply/);
    expect(cacheNotice('x'.repeat(4 * 4096), 'claude-haiku-4-5')).toBeUndefined();
    expect(cacheNotice('x'.repeat(4 * 600), 'claude-opus-5')).toBeUndefined(); // minimum 512
    expect(cacheNotice(undefined, 'claude-haiku-4-5')).toBeUndefined();
  });
});

describe('a model the registry does not know, as the API describes it', () => {
  it('GET /v1/models/{id} gives the limits and capabilities the checks use', () => {
    const entry = entryFromModelInfo({
      type: 'model', id: 'claude-next-1', display_name: 'Claude Next', created_at: '2027-01-01T00:00:00Z', max_input_tokens: 500_000, max_tokens: 32_000,
      lifecycle: 'active', line: null, deprecated_at: null, retires_at: null,
      capabilities: { structured_outputs: { supported: false }, batch: { supported: true } } as never,
    });
    expect(jobProblem({ model: 'claude-next-1', maxTokens: 32_000, now: NOW }, () => entry)).toBeUndefined();
    expect(jobProblem({ model: 'claude-next-1', maxTokens: 32_001, now: NOW }, () => entry)).toMatch(/output limit of 32,000/);
    expect(jobProblem({ model: 'claude-next-1', maxTokens: 10, now: NOW, answerSchema: { type: 'object', properties: {} } }, () => entry)).toMatch(/does not support structured outputs/);
    const retired = entryFromModelInfo({ type: 'model', id: 'old', display_name: 'Old', created_at: '', max_input_tokens: null, max_tokens: null, lifecycle: 'retired', line: null, deprecated_at: null, retires_at: null, capabilities: null });
    expect(jobProblem({ model: 'old', maxTokens: 10, now: NOW }, () => retired)).toMatch(/model old is retired/);
  });

  // helper-72: the retired model's error named no current model, and the unknown model's listed as known
  // one retired by date (its retiresAt passed).
  it('names the current models: after a retired one, and as the known ones of an unknown one (none retired by date)', () => {
    const retiredByDate = MODEL_REGISTRY.models.find((m) => m.lifecycle !== 'retired' && m.retiresAt !== null && Date.parse(m.retiresAt) <= NOW);
    expect(retiredByDate).toBeDefined();
    const retired = jobProblem({ model: retiredByDate!.id, maxTokens: 10, now: NOW });
    expect(retired).toMatch(/is retired since .*; pick a current model \(.*claude-haiku-4-5.*\)$/);
    const unknown = jobProblem({ model: 'claude-nope-9', maxTokens: 10, now: NOW }) ?? '';
    expect(unknown).toMatch(/known models: .*claude-haiku-4-5/);
    expect(unknown).not.toContain(retiredByDate!.id);
  });
});

describe('structuredOutputProblem on a raw schema (what the emulator sees)', () => {
  const props = (n: number, make: () => unknown) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, make()]));
  const obj = (properties: Record<string, unknown>) => ({ type: 'object', properties, required: Object.keys(properties), additionalProperties: false });
  it('OpenAPI nullable counts as a union; 16 pass, 17 do not', () => {
    expect(structuredOutputProblem(obj(props(16, () => ({ type: 'string', nullable: true }))))).toBeUndefined();
    expect(structuredOutputProblem(obj(props(17, () => ({ type: 'string', nullable: true }))))?.message).toMatch(/union types \(17/);
  });
  it('the limits add up across the schemas of one request', () => {
    const tally = { optional: 0, unions: 0 };
    const twelve = { type: 'object', properties: props(12, () => ({ type: 'string' })), additionalProperties: false };
    expect(structuredOutputProblem(twelve, tally)).toBeUndefined();
    expect(structuredOutputProblem(twelve, tally)).toBeUndefined();
    expect(structuredOutputProblem({ type: 'object', properties: { x: { type: 'string' } }, additionalProperties: false }, tally)?.message).toMatch(/optional parameters \(25/);
  });
  it('a huge schema is "too complex" quickly, not walked forever', () => {
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 200; i++) deep = obj({ a: deep });
    expect(structuredOutputProblem(deep)?.message).toMatch(/too complex/);
  });
});
