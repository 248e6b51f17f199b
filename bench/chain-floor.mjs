// Our chain without the ledger, HTTP or the emulator: what the pipeline's own per-record work
// costs when every answer is at hand at once (the issue's "naive in-process chain with an
// in-memory map"). In one process, on the benchmark's CSV and with the ticket-triage recipe: read
// and parse the CSV with line numbers, render each request and hash its key, serialize and encode
// its batch-body line, then take a result line for it (a valid answer, as the API writes it),
// parse it, validate the answer with zod, merge it onto the record and write the NDJSON line to
// /dev/null. Prints its figures as JSON on stderr (the same shape as floor.mjs).
//
//   node bench/chain-floor.mjs FILE.csv
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { customIdOf, requestLine } from '../dist/src/core/request.js';
import { interpretResult, mergeAnswer } from '../dist/src/core/result.js';
import { resolveAnswerSchema } from '../dist/src/core/schema.js';
import { compileTemplate } from '../dist/src/core/template.js';
import { toRequests } from '../dist/src/stages/prepare.js';
import { readRecords } from '../dist/src/stages/read.js';
import recipe from '../dist/transforms/ticket-triage.js';

const file = process.argv[2];
const started = performance.now();
const answer = resolveAnswerSchema(recipe.schema);
const spec = { model: recipe.model, maxTokens: recipe.maxTokens, prompt: compileTemplate(recipe.prompt), system: recipe.system, answerSchema: answer.jsonSchema, idField: recipe.idField, file };
const encoder = new TextEncoder();
const text = JSON.stringify({ category: 'billing', sentiment: 'negative', urgency: 'high', response_hours: 4, summary: 'The customer was charged twice this month and asks for a refund of the second charge.' });
const resultJson = JSON.stringify({
  type: 'succeeded',
  message: {
    id: 'msg_01XFDUDYJgAACzvnptvVoYEL', type: 'message', role: 'assistant', model: recipe.model, content: [{ type: 'text', text }],
    stop_reason: 'end_turn', stop_sequence: null,
    usage: { input_tokens: 420, output_tokens: 60, cache_creation_input_tokens: 0, cache_read_input_tokens: 380, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 }, service_tier: 'batch' },
  },
});
let records = 0;
let bodyBytes = 0;
await pipeline(
  createReadStream(file),
  readRecords({ format: 'csv', file }),
  toRequests(spec),
  async function* (prepared) {
    for await (const record of prepared) {
      records++;
      if (record.error) {
        yield `${JSON.stringify({ ...record.data, _error: record.error })}\n`;
        continue;
      }
      const customId = customIdOf('abcdef', record.key);
      bodyBytes += encoder.encode(`${requestLine(customId, `${record.spec.head}${record.messages}${record.spec.tail}`)},`).length;
      // The result line as the API writes it.
      const line = `{"custom_id":${JSON.stringify(customId)},"result":${resultJson}}`;
      const parsed = JSON.parse(line);
      const result = parsed.result;
      const outcome = interpretResult(result, { validator: answer.validator });
      yield `${JSON.stringify(outcome.ok ? mergeAnswer(record.data, outcome.answer, undefined) : { ...record.data, _error: outcome.error })}\n`;
    }
  },
  createWriteStream('/dev/null'),
);
const usage = process.resourceUsage();
process.stderr.write(`${JSON.stringify({ records, bodyBytes, wallMs: performance.now() - started, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000, maxRssMb: usage.maxRSS / 1024 })}\n`);
