// The peer: the one-script way a user would do the job with the SDK alone, and no durability at all
// (a crash loses everything, a rerun pays again). Read the whole CSV, build one request per row (the
// ticket-triage recipe's model, system prompt, prompt and JSON Schema), create batches of 100,000,
// poll each until it ends, read its results, join them to the rows in a Map by custom_id, parse and
// merge each answer, write NDJSON. Prints its own figures (wall, CPU, peak RSS) as JSON on stderr.
//
//   ANTHROPIC_BASE_URL=http://127.0.0.1:PORT node bench/peer.mjs tickets.csv > out.ndjson
import { readFileSync, createWriteStream } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import { parse } from 'csv-parse/sync';
import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import { z } from 'zod';
import recipe from '../dist/transforms/ticket-triage.js';

const started = performance.now();
const client = new Anthropic({ apiKey: process.env.ANTHROPIC_API_KEY ?? 'bench', baseURL: process.env.ANTHROPIC_BASE_URL });
const rows = parse(readFileSync(process.argv[2]), { columns: true, bom: true });
// The JSON Schema as structured outputs take it (no `minimum` and the like): the SDK's own helper.
const schema = transformJSONSchema(z.toJSONSchema(recipe.schema));
const params = (row) => ({
  model: recipe.model,
  max_tokens: recipe.maxTokens,
  system: [{ type: 'text', text: recipe.system, cache_control: { type: 'ephemeral', ttl: '1h' } }],
  messages: [{ role: 'user', content: `Subject: ${row.subject}\n\n${row.body}` }],
  output_config: { format: { type: 'json_schema', schema } },
});

const answers = new Map();
for (let from = 0; from < rows.length; from += 100_000) {
  const requests = rows.slice(from, from + 100_000).map((row, i) => ({ custom_id: `r${from + i}`, params: params(row) }));
  let batch = await client.messages.batches.create({ requests });
  while (batch.processing_status !== 'ended') {
    await new Promise((resolve) => setTimeout(resolve, 50));
    batch = await client.messages.batches.retrieve(batch.id);
  }
  for await (const line of await client.messages.batches.results(batch.id)) answers.set(line.custom_id, line.result);
}

const out = createWriteStream('/dev/stdout');
let buffer = '';
for (const [i, row] of rows.entries()) {
  const result = answers.get(`r${i}`);
  const text = result?.type === 'succeeded' ? result.message.content.find((block) => block.type === 'text')?.text : undefined;
  let merged;
  try {
    merged = { ...row, ...recipe.schema.parse(JSON.parse(text ?? '')) };
  } catch (error) {
    merged = { ...row, _error: String(error) };
  }
  buffer += `${JSON.stringify(merged)}\n`;
  if (buffer.length > 1 << 16) {
    if (!out.write(buffer)) await new Promise((resolve) => out.once('drain', resolve));
    buffer = '';
  }
}
await new Promise((resolve) => out.end(buffer, resolve));
const usage = process.resourceUsage();
process.stderr.write(`${JSON.stringify({ records: rows.length, wallMs: performance.now() - started, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000, maxRssMb: usage.maxRSS / 1024 })}\n`);
