/** The sink's pure helpers (the sink itself runs against the emulator in pipeline.test.ts). */
import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { describe, expect, it } from 'vitest';
import { resultText } from '../../src/stages/batch.ts';

describe('resultText', () => {
  const result = { type: 'succeeded', message: { id: 'msg_1', content: [{ type: 'text', text: '{"a":"x}y"}' }], usage: { input_tokens: 3 } } };
  const cases: { description: string; line: string }[] = [
    { description: 'the line as the API writes it', line: JSON.stringify({ custom_id: 'abc_1', result }) },
    { description: 'with a CRLF ending', line: `${JSON.stringify({ custom_id: 'abc_1', result })}\r` },
    { description: 'result before custom_id', line: JSON.stringify({ result, custom_id: 'abc_1' }) },
    { description: 'pretty-printed', line: JSON.stringify({ custom_id: 'abc_1', result }, null, 1).replaceAll('\n', '') },
    { description: 'a third key after result', line: `${JSON.stringify({ custom_id: 'abc_1', result }).slice(0, -1)},"extra":1}` },
  ];
  for (const t of cases) {
    it(`gives exactly the result's JSON: ${t.description}`, () => {
      const parsed = JSON.parse(t.line) as MessageBatchIndividualResponse;
      expect(JSON.parse(resultText(t.line, parsed))).toEqual(result);
    });
  }

  it('slices the text out of a well-formed line instead of serializing again (same text, spacing kept)', () => {
    const inner = '{"type": "succeeded",  "message": {"id": "m"}}';
    const line = `{"custom_id":"abc_1","result":${inner}}`;
    expect(resultText(line, JSON.parse(line) as MessageBatchIndividualResponse)).toBe(inner);
  });
});
