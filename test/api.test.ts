/**
 * The notebook/script API against the emulator: `enrich()` as an async iterable over arrays and async
 * generators, `enrichAll()` as a promise, invalid rows in place, early stop, option errors.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runInNewContext } from 'node:vm';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { RAW_NUMBER } from '../src/core/rawjson.ts';
import { Ledger } from '../src/ledger/ledger.ts';
import { enrich, enrichAll, newCostTotals, recipeOptions, type CostTotals } from '../src/index.ts';
import type { EnrichOptions } from '../src/enrich.ts';
import type { RecordError } from '../src/index.ts';
import { expectError, expectErrorSync } from './helpers/expect-error.ts';
import { emulator, perRecord, schema } from './helpers/pipeline.ts';

function optionsFor(url: string, extra: Partial<EnrichOptions> = {}): EnrichOptions {
  return { prompt: 'item {{id}}: {{text}}', schema, apiKey: 'test-key', baseURL: url, ledger: ':memory:', pollMinMs: 5, pollMaxMs: 20, ...extra };
}

const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i), text: `text ${i}` }));
const answered = (row: { id: string; text?: string }) => ({ ...row, label: `label-${row.id}`, n: Number(row.id) * 2 });

// helper-62: the README's `row._error?.type` and `row._error.message` did not compile against the
// typings (`_error` was `unknown`). This test is type-checked with the suite (npm test: typecheck).
describe('the rows enrich() and enrichAll() give, as TypeScript sees them', () => {
  it('_error is a RecordError when there is one, as the README reads it', async () => {
    const emu = await emulator({ responder: perRecord });
    const out = await enrichAll([{ id: '1', text: 'a' }, { id: '2' }], optionsFor(emu.url));
    expectTypeOf(out[0]!._error).toEqualTypeOf<RecordError | undefined>();
    const seen: (string | undefined)[] = [];
    for (const row of out) seen.push(row._error?.type);
    for await (const row of enrich([{ id: '3' }], optionsFor(emu.url))) if (row._error) seen.push(row._error.message);
    expect(seen[0]).toBeUndefined();
    expect(seen.slice(1).every((text) => typeof text === 'string' && text.length > 0)).toBe(true);
  });
});

// helper-88 #7: the records came out as Record<string, unknown>: neither the row's fields nor the
// answer's had their types, so a TypeScript caller cast every field it read.
describe('the rows enrich() and enrichAll() give carry the row’s and the answer’s types', () => {
  it('a zod schema: the row’s fields and the answer’s, narrowed by _error; under `into`, the answer as that field', async () => {
    const emu = await emulator({ responder: perRecord });
    const input = [{ id: '1', text: 'a', views: 3 }];
    const out = await enrichAll(input, { ...optionsFor(emu.url), schema });
    const row = out[0]!;
    expectTypeOf(row.id).toEqualTypeOf<string>();
    expectTypeOf(row.views).toEqualTypeOf<number>();
    if (!row._error) {
      expectTypeOf(row.label).toEqualTypeOf<string>();
      expectTypeOf(row.n).toEqualTypeOf<number>();
      expect([row.label, row.n]).toEqual(['label-1', 2]);
    } else {
      expectTypeOf(row._error).toEqualTypeOf<RecordError>();
    }
    // Any other field, as before: unknown.
    expectTypeOf(row['other']).toEqualTypeOf<unknown>();
    for await (const nested of enrich(input, { ...optionsFor(emu.url), schema, into: 'triage' as const })) {
      if (!nested._error) expectTypeOf(nested.triage).toEqualTypeOf<{ label: string; n: number }>();
      expect(nested).toMatchObject({ id: '1', triage: { label: 'label-1', n: 2 } });
    }
    // No schema: a free-text answer, as `answer`; under `into`, as that field (helper-93 #4: typed `{ answer: string }`).
    const free = await enrichAll(input, { ...optionsFor(emu.url), schema: undefined });
    if (!free[0]!._error) expectTypeOf(free[0]!.answer).toEqualTypeOf<string>();
    const freeInto = await enrichAll(input, { ...optionsFor(emu.url), schema: undefined, into: 'summary' as const });
    if (!freeInto[0]!._error) expectTypeOf(freeInto[0]!.summary).toEqualTypeOf<string>();
    // A JSON Schema may replace any of the row's fields: they are unknown once answered (helper-93 #4: `views` stayed `number`).
    const json = await enrichAll(input, { ...optionsFor(emu.url), schema: { type: 'object', properties: { views: { type: 'string' } }, required: ['views'] } });
    if (!json[0]!._error) expectTypeOf(json[0]!['views']).toEqualTypeOf<unknown>();
  });

  // helper-93 #3: made generic over the options, enrich() no longer refused a misspelt option at compile time.
  it('a misspelt option does not compile (and is refused at run time)', async () => {
    const emu = await emulator({ responder: perRecord });
    // @ts-expect-error `maxToken` is no option (`maxTokens` is)
    await expect(enrichAll([{ id: '1', text: 'a' }], { ...optionsFor(emu.url), maxToken: 5 })).rejects.toMatchObject({ code: 'BE_INVALID_OPTION' });
  });

  // helper-95: from JavaScript (or options read from a config), a misspelt option said "`options`:
  // Unrecognized key: "baseUrl"", where readRecords' and writeRecords' say which option was meant.
  it('a misspelt option is named, with the option meant', () => {
    const misspelt = (extra: object) => expectErrorSync(() => enrich([], { ...optionsFor('http://127.0.0.1:1'), ...extra } as EnrichOptions), { code: 'BE_INVALID_OPTION' });
    expect(misspelt({ baseUrl: 'http://x' }).message).toBe('`baseUrl`: unknown option (did you mean `baseURL`?)');
    expect(misspelt({ maxToken: 5 }).message).toBe('`maxToken`: unknown option (did you mean `maxTokens`?)');
    expect(misspelt({ temperature: 0 }).message).toBe('`temperature`: unknown option');
    expect(misspelt({ a: 1, b: 2 }).message).toBe('`a`, `b`: unknown options');
  });
});

// helper-89 #4: a recipe spread into enrich()'s options was refused with "Unrecognized keys: name,
// description, fields", which did not say how a recipe is used there.
it('a recipe given as enrich() options is refused with the way to use one: recipeOptions(recipe)', async () => {
  const { default: triage } = await import('../transforms/ticket-triage.ts');
  await expect(enrichAll([{ subject: 'a', body: 'b' }], { ...(triage as unknown as EnrichOptions), ledger: ':memory:' })).rejects.toMatchObject({
    code: 'BE_INVALID_OPTION',
    message: expect.stringContaining("these are a recipe's settings: pass { ...recipeOptions(recipe), ...yours }, or use recipeStage(recipe) in a pipeline"),
  });
});

// helper-93 #5: a BigInt in a field a prompt writes as JSON ({{$record}}, a list) failed the whole run
// with "Do not know how to serialize a BigInt"; the prompt now shows its digits.
it('a BigInt written into a prompt as JSON ({{$record}}, in a list) shows its digits; the run goes on', async () => {
  const emu = await emulator({ responder: ({ params }) => ({ json: { label: JSON.stringify((params['messages'] as { content: string }[])[0]?.content), n: 1 } }) });
  const out = await enrichAll([{ id: 1n, tags: [2n, 3n] }], { ...optionsFor(emu.url), prompt: 'R: {{$record}} T: {{tags}}' });
  expect(out[0]?._error).toBeUndefined();
  expect(out[0]?.['label']).toBe(JSON.stringify('R: {"id":1,"tags":[2,3]} T: [2,3]'));
});

describe('enrich(): for await over rows', () => {
  it('yields every row of an array enriched with its own answer, in input order', async () => {
    const emu = await emulator({ responder: perRecord });
    const input = rows(25);
    const out: Record<string, unknown>[] = [];
    for await (const row of enrich(input, optionsFor(emu.url, { batchSize: 7 }))) out.push(row);
    expect(out).toEqual(input.map(answered));
  });

  it('reads an async generator lazily and keeps its order', async () => {
    const emu = await emulator({ responder: perRecord });
    async function* generate() {
      for (let i = 0; i < 12; i++) {
        await new Promise((r) => setTimeout(r, 1));
        yield { id: String(i), text: `text ${i}` };
      }
    }
    const out: Record<string, unknown>[] = [];
    for await (const row of enrich(generate(), optionsFor(emu.url, { batchSize: 5, flushAfterMs: 20 }))) out.push(row);
    expect(out).toEqual(rows(12).map(answered));
  });

  // helper-52: one BigInt field (DuckDB, mysql2, better-sqlite3 with safeIntegers hand them out) or
  // one circular object ended the run with a TypeError from the ledger write, after 2,000 requests of
  // the rows before it were paid, and no row came out; every rerun failed at the same row.
  it('a BigInt field is kept as its digits (a raw number) and the row enriched; a row JSON cannot hold is its own invalid_input, and is not sent', async () => {
    const emu = await emulator({ responder: perRecord });
    const circular: Record<string, unknown> = { id: '3', text: 'd' };
    circular['self'] = circular;
    const throwing = { id: '4', text: 'e', when: { toJSON: () => { throw new Error('no JSON here'); } } };
    const input: object[] = [{ id: '0', text: 'a' }, { id: '1', text: 'b', views: 12345678901234567890n }, { id: '2', text: 'c' }, circular, throwing, { id: '5', text: 'f' }];
    const out = await enrichAll(input, optionsFor(emu.url));
    expect(out).toHaveLength(6);
    expect(out[0]).toEqual(answered({ id: '0', text: 'a' }));
    // helper-88 #2: it came back as the ledger's raw number (`'\uE000' + digits`), so a row no longer
    // matched its source row by a BigInt id. It comes back as the BigInt it was, nested ones too.
    expect(out[1]).toEqual({ ...answered({ id: '1', text: 'b' }), views: 12345678901234567890n });
    expect(out[2]).toEqual(answered({ id: '2', text: 'c' }));
    // helper-77: such a row came out as its _error alone: its other fields (the id a caller keys on) are kept.
    expect(out[3]).toEqual({ id: '3', text: 'd', _error: { type: 'invalid_input', message: expect.stringMatching(/^row:4: the record cannot be written as JSON: Converting circular structure to JSON/) } });
    expect(out[4]).toEqual({ id: '4', text: 'e', _error: { type: 'invalid_input', message: 'row:5: the record cannot be written as JSON: no JSON here' } });
    expect(out[5]).toEqual(answered({ id: '5', text: 'f' }));
    // The rows JSON cannot hold were not sent: four requests, one for each row that came out enriched.
    expect(emu.submittedCustomIds().size).toBe(4);
    const [nested] = await enrichAll([{ id: '9', text: 'z', ids: [1n, { n: -2n }], note: `${RAW_NUMBER}text` }], optionsFor(emu.url));
    expect(nested).toEqual({ ...answered({ id: '9', text: 'z' }), ids: [1n, { n: -2n }], note: `${RAW_NUMBER}text` });
  });

  // helper-78 on d78fbad: reading the fields a row JSON cannot hold keeps ran its getters outside the
  // guard (one that throws failed the whole job), and wrote the raw fields of a row whose own toJSON
  // hides them (a password).
  it('a row whose getter throws is its own invalid_input, the others go on; a row with a toJSON of its own that throws keeps no field', async () => {
    const emu = await emulator({ responder: perRecord });
    const getter = { id: '0', text: 'a', get bad(): string { throw new Error('getter boom'); } };
    const secret = { id: '1', text: 'b', password: 'hunter2', toJSON: () => { throw new Error('not to be written'); } };
    const out = await enrichAll([getter, secret, { id: '2', text: 'c' }], optionsFor(emu.url));
    expect(out[0]).toEqual({ id: '0', text: 'a', _error: { type: 'invalid_input', message: 'row:1: the record cannot be written as JSON: getter boom' } });
    expect(out[1]).toEqual({ _error: { type: 'invalid_input', message: 'row:2: the record cannot be written as JSON: not to be written' } });
    expect(out[2]).toEqual(answered({ id: '2', text: 'c' }));
  });

  // helper-52: a nested Map, a Set or a class instance without toJSON came back as {} (JSON writes it
  // so), silently: its contents were neither in the prompt nor in the output.
  it('a field JSON would write as {} though it holds something (a Map, a Set) is its row’s invalid_input, named, and not sent; an empty object, a Date and a Buffer are kept', async () => {
    const emu = await emulator({ responder: perRecord });
    class Money {
      readonly #cents: number;
      constructor(cents: number) {
        this.#cents = cents;
      }
      get cents() {
        return this.#cents;
      }
    }
    const input: object[] = [
      { id: '0', text: 'a', tags: new Set(['x']) },
      { id: '1', text: 'b', meta: { attrs: new Map([['k', 'v']]) } },
      { id: '2', text: 'c', list: [{}, new Money(5)] },
      { id: '3', text: 'd', empty: {}, when: new Date(0), raw: Buffer.from('hi'), none: [], other: runInNewContext('({})') as object, boxed: new Number(5), bytes: new Uint8Array(0) },
    ];
    const out = await enrichAll(input, optionsFor(emu.url));
    expect(out[0]).toEqual({ id: '0', text: 'a', _error: { type: 'invalid_input', message: 'row:1: field tags is a Set, which JSON writes as {}: convert it first (a Set: [...set]; a Map: Object.fromEntries(map))' } });
    expect(out[1]).toEqual({ id: '1', text: 'b', _error: { type: 'invalid_input', message: 'row:2: field meta.attrs is a Map, which JSON writes as {}: convert it first (a Set: [...set]; a Map: Object.fromEntries(map))' } });
    expect(out[2]).toEqual({ id: '2', text: 'c', _error: { type: 'invalid_input', message: 'row:3: field list.1 is a Money, which JSON writes as {}: convert it first (a Set: [...set]; a Map: Object.fromEntries(map))' } });
    // Another realm's plain object, a boxed number and bytes are no such field (helper-55); bytes come
    // out said by their size, not as JSON of each byte (helper-95).
    expect(out[3]).toEqual({ ...answered({ id: '3', text: 'd' }), empty: {}, when: '1970-01-01T00:00:00.000Z', raw: '<2 bytes>', none: [], other: {}, boxed: 5, bytes: '<0 bytes>' });
    expect(emu.submittedCustomIds().size).toBe(1);
  });

  // helper-52: `.pipe()` asked for a number and checked for a string: every answer failed, and each
  // request was paid twice (its schema_mismatch retry).
  it('a zod schema with a pipe and a default: the answer is asked and checked in the same terms, merged as the schema gives it, paid once', async () => {
    const { z } = await import('zod');
    // A model follows the schema it is asked: a number where it is asked one, else the price as written.
    const asked = (params: Record<string, unknown>) => (params['output_config'] as { format: { schema: { properties: { price: { type: string } } } } }).format.schema.properties.price.type;
    const emu = await emulator({ responder: ({ params }) => ({ json: { price: asked(params) === 'number' ? 12.5 : '12.50' } }) });
    const schema = z.object({ price: z.string().pipe(z.coerce.number()), currency: z.string().default('EUR') });
    const out = await enrichAll([{ id: '0', text: 'ten euros fifty' }], optionsFor(emu.url, { schema }));
    expect(out).toEqual([{ id: '0', text: 'ten euros fifty', price: 12.5, currency: 'EUR' }]);
    expect(emu.stats.requestsSubmitted).toBe(1);
  });

  it('puts a row that is not an object in its place with an invalid_input error, and numbers rows from 1', async () => {
    const emu = await emulator({ responder: perRecord });
    const input: unknown[] = [{ id: '0', text: 'a' }, 42, { id: '2', text: 'c' }, ['x'], null, new Map(), { id: '6' }];
    const out = await enrichAll(input as object[], optionsFor(emu.url));

    expect(out).toHaveLength(7);
    expect(out[0]).toEqual(answered({ id: '0', text: 'a' }));
    expect(out[2]).toEqual(answered({ id: '2', text: 'c' }));
    expect(out[1]).toEqual({ _error: { type: 'invalid_input', message: 'row:2: expected an object, got 42' } });
    expect(out[3]).toMatchObject({ _error: { type: 'invalid_input', message: 'row:4: expected an object, got an array ["x"]' } });
    expect(out[4]).toMatchObject({ _error: { type: 'invalid_input', message: 'row:5: expected an object, got null' } });
    expect(out[5]).toMatchObject({ _error: { type: 'invalid_input', message: 'row:6: expected an object, got a Map' } });
    // A row without a field the prompt uses: a per-record template error naming its row number, in the same form (`row:N:`, as `file:line:` for a file's records).
    expect(out[6]).toMatchObject({ id: '6', _error: { type: 'template', message: expect.stringMatching(/^row:7: Missing field: .*\{\{text\}\}/) } });
    expect(emu.submittedCustomIds().size).toBe(2);
  });

  it('reports a Promise among the rows instead of awaiting it', async () => {
    const emu = await emulator({ responder: perRecord });
    const out = await enrichAll([Promise.resolve({ id: '0', text: 'a' })], optionsFor(emu.url));
    expect(out).toEqual([{ _error: { type: 'invalid_input', message: 'row:1: expected an object, got a Promise (await the rows before passing them)' } }]);
  });

  it('stops the run on break: no further batch is created, the rows stop being read, and the loop ends promptly', async () => {
    const emu = await emulator({ responder: perRecord });
    let read = 0;
    let closed = false;
    async function* endless() {
      try {
        for (let i = 0; ; i++) {
          read++;
          yield { id: String(i), text: `text ${i}` };
        }
      } finally {
        closed = true;
      }
    }
    const started = Date.now();
    let first: Record<string, unknown> | undefined;
    // One request a batch, one batch at a time: without the stop, creates would go on forever.
    for await (const row of enrich(endless(), optionsFor(emu.url, { batchSize: 1, maxInFlight: 1 }))) {
      first = row;
      break;
    }
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(first).toEqual(answered({ id: '0', text: 'text 0' }));

    const creates = emu.stats.calls['batches.create'];
    const retrieves = emu.stats.calls['batches.retrieve'];
    const readAtStop = read;
    await new Promise((r) => setTimeout(r, 300));
    expect(emu.stats.calls['batches.create']).toBe(creates);
    expect(emu.stats.calls['batches.retrieve']).toBe(retrieves);
    expect(read).toBeLessThanOrEqual(readAtStop + 1);
    await expect.poll(() => closed, { timeout: 1_000 }).toBe(true);
  });

  it('stops the run when the loop body throws, and the error is the caller’s own', async () => {
    const emu = await emulator({ responder: perRecord });
    const run = async () => {
      for await (const row of enrich(rows(3), optionsFor(emu.url, { batchSize: 1, maxInFlight: 1 }))) {
        throw new Error(`stopped at ${String(row['id'])}`);
      }
    };
    await expect(run()).rejects.toThrow('stopped at 0');
    const creates = emu.stats.calls['batches.create'];
    await new Promise((r) => setTimeout(r, 200));
    expect(emu.stats.calls['batches.create']).toBe(creates);
  });

  it('throws when called with an invalid option, naming it', () => {
    expectErrorSync(() => enrich(rows(1), { prompt: 'x', batchSize: 0 }), { code: 'BE_INVALID_OPTION', message: '`batchSize`' });
    expectErrorSync(() => enrich(rows(1), { prompt: '' }), { code: 'BE_INVALID_OPTION', message: '`prompt`' });
    expectErrorSync(() => enrich(42 as unknown as object[], { prompt: 'x' }), { code: 'BE_INVALID_OPTION', message: '`rows`: expected an array, an iterable or an async iterable of objects, got 42' });
  });
});

describe('enrichAll(): a promise of every record', () => {
  it('resolves with all records in input order', async () => {
    const emu = await emulator({ responder: perRecord, processingMs: 20 });
    const input = rows(30);
    const out = await enrichAll(input, optionsFor(emu.url, { batchSize: 8, maxInFlight: 2 }));
    expect(out).toEqual(input.map(answered));
    expect(emu.batches()).toHaveLength(4);
  });

  it('takes any iterable, and resolves with [] for no rows without creating a batch', async () => {
    const emu = await emulator({ responder: perRecord });
    const byId = new Map(rows(3).map((row) => [row.id, row]));
    expect(await enrichAll(byId.values(), optionsFor(emu.url))).toEqual(rows(3).map(answered));
    const creates = emu.stats.calls['batches.create'];
    expect(await enrichAll([], optionsFor(emu.url))).toEqual([]);
    expect(emu.stats.calls['batches.create']).toBe(creates);
  });

  // helper-77: `costs: {}` (newCostTotals was not exported) came back all NaN, and with maxCostUsd every
  // row came out budget_exceeded, nothing submitted.
  it('costs: an empty object is filled with the run’s totals (also under maxCostUsd); newCostTotals is exported', async () => {
    const emu = await emulator({ responder: perRecord });
    const costs = {} as CostTotals;
    const out = await enrichAll(rows(2), optionsFor(emu.url, { costs, maxCostUsd: 1 }));
    expect(out.every((r) => r['_error'] === undefined)).toBe(true);
    expect(costs.usd).toBeGreaterThan(0);
    expect(costs.outputTokens).toBeGreaterThan(0);
    expect(newCostTotals().usd).toBe(0);
  });

  it('rejects an invalid option with a message naming the option', async () => {
    await expectError(enrichAll(rows(1), { prompt: 'x', maxTokens: -1 }), { code: 'BE_INVALID_OPTION', message: '`maxTokens`' });
    await expectError(enrichAll(rows(1), { prompt: 'x', baseURL: 'not a url' }), { code: 'BE_INVALID_OPTION', message: '`baseURL`' });
    await expectError(enrichAll(rows(1), { prompt: 'x', bogus: 1 } as unknown as EnrichOptions), { code: 'BE_INVALID_OPTION', message: /bogus|Unrecognized/ });
  });

  it('rejects when the run fails as a whole (the key is refused)', async () => {
    const emu = await emulator({ apiKey: 'the-right-key' });
    await expectError(enrichAll(rows(2), optionsFor(emu.url, { apiKey: 'wrong-key' })), { code: 'BE_API', message: /401/ });
  });
});

// helper-98: an `idField` no row has was silently ignored (every custom_id without its label), where the
// CLI's --id-field naming a field the first record lacks is a usage error naming the file, line and field.
describe('idField naming a field the rows lack', () => {
  it('the first row lacking it is a BE_INVALID_OPTION naming the field, the row and its fields; nothing is created', async () => {
    const emu = await emulator({ responder: perRecord });
    const error = await expectError(enrichAll(rows(3), optionsFor(emu.url, { idField: 'nope' })), { code: 'BE_INVALID_OPTION', line: 1, file: 'row' });
    expect(error.message).toBe('row:1: `idField` "nope": the first record has no such field (fields: id, text); fix the name, or give `idFieldOptional: true` if only some records have it');
    // A field of another case is offered, as the CLI offers it.
    await expectError(enrichAll(rows(1), optionsFor(emu.url, { idField: 'ID' })), { code: 'BE_INVALID_OPTION', message: 'the first record has no such field (fields: id, text); did you mean "id"?' });
    // A first row that could not be read (not an object) is not the one checked: the next one is.
    await expectError(enrichAll([42 as unknown as { id: string }, ...rows(2)], optionsFor(emu.url, { idField: 'nope', file: 'tickets' })), { code: 'BE_INVALID_OPTION', message: 'tickets:2: `idField` "nope"' });
    expect(emu.stats.calls['batches.create']).toBe(0);
  });

  it('a later row lacking it is enriched without the label (as the CLI does); idFieldOptional and a recipe’s own id field let the first lack it', async () => {
    const emu = await emulator({ responder: perRecord });
    const sparse = [{ id: '1', text: 'a', ticket: 'T-1' }, { id: '2', text: 'b' }];
    const out = await enrichAll(sparse, optionsFor(emu.url, { idField: 'ticket' }));
    expect(out).toEqual(sparse.map(answered));
    expect([...emu.submittedCustomIds().keys()].filter((id) => /^[A-Za-z0-9]{6}_T-1-/.test(id))).toHaveLength(1);
    expect(await enrichAll(rows(2), optionsFor(emu.url, { idField: 'nope', idFieldOptional: true }))).toEqual(rows(2).map(answered));
    // ticket-triage's `ticket_id` is a label shown when present (its fields are subject and body).
    const { default: triage } = await import('../transforms/ticket-triage.ts');
    const plain = await emulator({ processingMs: 1 }); // answers by the schema
    const triaged = await enrichAll([{ subject: 'Refund', body: 'Charged twice' }], { ...recipeOptions(triage), apiKey: 'k', baseURL: plain.url, ledger: ':memory:', pollMinMs: 5 });
    expect(triaged[0]?._error).toBeUndefined();
    // An id field the caller gives over a recipe's is the caller's own: checked, as --id-field is.
    const { recipeStageOptions } = await import('../src/recipe.ts');
    expect(recipeStageOptions(triage, { idField: 'nope' })).toMatchObject({ idField: 'nope', idFieldOptional: false });
  });
});

it('each cell of a notebook on one ledger is its own job, named by its settings (not one "default" job for all)', async () => {
  // `status` listed every cell under "default", and `cancel --job default` reached every cell's batches.
  const emu = await emulator({ responder: perRecord });
  const ledger = join(mkdtempSync(join(tmpdir(), 'be-jobs-')), 'ledger.db');
  const rows = [{ id: '1', text: 'a' }];
  await enrichAll(rows, optionsFor(emu.url, { ledger }));
  await enrichAll(rows, optionsFor(emu.url, { ledger, prompt: 'item {{id}}: again {{text}}' }));
  await enrichAll([{ id: '2', text: 'b' }], optionsFor(emu.url, { ledger }));
  await enrichAll([{ id: '3', text: 'c' }], optionsFor(emu.url, { ledger, job: 'mine' }));
  const store = new Ledger(ledger);
  const jobs = store.batches().map((row) => row.job);
  store.close();
  expect(jobs).toHaveLength(4);
  expect(jobs[0]).toMatch(/^row-[0-9a-f]{8}$/);
  expect(jobs[1]).toMatch(/^row-[0-9a-f]{8}$/);
  expect(jobs[1]).not.toBe(jobs[0]);
  // The same settings: the same job.
  expect(jobs[2]).toBe(jobs[0]);
  expect(jobs[3]).toBe('mine');
});

// helper-95: a row whose text was cut in the middle of an emoji holds a lone surrogate; the API (and now
// the emulator) refuses its JSON escape, and in a batch that 400 refused the create of every row with it.
describe('a row holding half an emoji', () => {
  it('is sent with U+FFFD in its place: every row of its batch is answered', async () => {
    const emu = await emulator({ responder: perRecord });
    const input = [...rows(3), { id: '3', text: `cut ${'😀'.slice(0, 1)}` }];
    const out = await enrichAll(input, optionsFor(emu.url));
    expect(out.map((row) => row._error)).toEqual([undefined, undefined, undefined, undefined]);
    expect(out[3]?.text).toBe(input[3]?.text); // the row itself is given back as it came
  });
});

// helper-95: an ORM's row (Sequelize, Mongoose: its fields are getters on the class's prototype, its
// data in `dataValues`, and `toJSON()` gives them) was every row's `template` error, "Missing field:
// the prompt template uses {{text}}, got a record without it", and came out with that `text` (its JSON).
describe('a row whose toJSON() gives its fields (an ORM model instance)', () => {
  class Model {
    constructor(public dataValues: Record<string, unknown>) {}
    get id(): unknown {
      return this.dataValues['id'];
    }
    get text(): unknown {
      return this.dataValues['text'];
    }
    toJSON() {
      return { ...this.dataValues };
    }
  }
  it('is enriched by those fields, as it comes out', async () => {
    const emu = await emulator({ responder: perRecord });
    const out = await enrichAll([new Model({ id: '1', text: 'a' }), new Model({ id: '2', text: 'b' })], optionsFor(emu.url));
    expect(out).toEqual([answered({ id: '1', text: 'a' }), answered({ id: '2', text: 'b' })]);
  });
});

// helper-95: the README's `enrichAll(rows, { ...recipeOptions(ticketTriage), ledger: ':memory:' })` gave
// rows of `unknown` fields: recipeOptions() returned `EnrichOptions` (a schema of any kind), so neither
// the recipe's answer (`row.category`) nor the row's own fields (`row.ticket_id`) kept their types.
describe('recipeOptions() as enrich() options, as TypeScript sees the rows', () => {
  it("a recipe's zod schema types the answer, and the row keeps its fields' types", async () => {
    const { default: triage } = await import('../transforms/ticket-triage.ts');
    const { default: clauses } = await import('../transforms/contract-clauses.ts');
    const emu = await emulator({ processingMs: 1 });
    const out = await enrichAll([{ ticket_id: 7, subject: 'Refund', body: 'Charged twice' }], { ...recipeOptions(triage), apiKey: 'k', baseURL: emu.url, ledger: ':memory:' });
    const row = out[0]!;
    expectTypeOf(row.ticket_id).toEqualTypeOf<number>();
    if (!row._error) {
      expectTypeOf(row.category).toEqualTypeOf<'billing' | 'bug' | 'feature_request' | 'account' | 'outage' | 'how_to' | 'other'>();
      expectTypeOf(row.response_hours).toEqualTypeOf<number>();
    }
    expect(row._error).toBeUndefined();
    // A recipe with a document answer too: either answer may come, so any fields (as for a JSON Schema).
    type ClauseRow = Awaited<ReturnType<typeof enrichAll<{ clause: string }, ReturnType<typeof recipeOptions<typeof clauses>>>>>[number];
    expectTypeOf<Exclude<ClauseRow, { _error: RecordError }>['risk']>().toEqualTypeOf<unknown>();
  });
});

// helper-95: an answer that is no object (a list, a number, a boolean, an enum) comes out as `answer`
// (`mergeAnswer`), but its type said a row of `unknown` fields: the row's own (`row.id`) and the answer.
describe('an answer that is not an object, as TypeScript sees the rows', () => {
  it('is `answer`, of the schema’s type, and the row keeps its fields’ types', async () => {
    const { z } = await import('zod');
    const emu = await emulator({ processingMs: 1 });
    const base = { prompt: 'x {{text}}', apiKey: 'k', baseURL: emu.url, ledger: ':memory:' } as const;
    const list = await enrichAll([{ id: 1, text: 'a' }], { ...base, schema: z.array(z.string()) });
    const row = list[0]!;
    expectTypeOf(row.id).toEqualTypeOf<number>();
    if (!row._error) expectTypeOf(row.answer).toEqualTypeOf<string[]>();
    expect(Array.isArray(row.answer)).toBe(true);
    const count = await enrichAll([{ id: 1, text: 'a' }], { ...base, schema: z.number() });
    if (!count[0]!._error) expectTypeOf(count[0]!.answer).toEqualTypeOf<number>();
    const label = await enrichAll([{ id: 1, text: 'a' }], { ...base, schema: z.enum(['a', 'b']) });
    if (!label[0]!._error) expectTypeOf(label[0]!.answer).toEqualTypeOf<'a' | 'b'>();
    expect([typeof count[0]?.answer, label[0]?.answer]).toEqual(['number', expect.stringMatching(/^[ab]$/)]);
  });
});

// helper-95: a source that yields one object again and again, changed for each row (a generator that
// reuses its row, as some drivers and parsers do for speed): every row came out with the last row's
// fields, each with its own row's answer, so answers were given to the wrong ids.
describe('a source that reuses its row object', () => {
  it('each row comes out with its own fields and its own answer', async () => {
    const emu = await emulator({ responder: perRecord });
    function* reused(n: number) {
      const row: { id: string; text: string } = { id: '', text: '' };
      for (let i = 0; i < n; i++) {
        row.id = String(i);
        row.text = `text ${i}`;
        yield row;
      }
    }
    const want = rows(5).map(answered);
    expect(await enrichAll(reused(5), optionsFor(emu.url))).toEqual(want);
    const fromAsync = async function* () {
      yield* reused(5);
    };
    expect(await enrichAll(fromAsync(), optionsFor(emu.url))).toEqual(want);
  });
});

// helper-95: a run that stopped before it read a row (a ledger it could not open, no API key, or
// return() before the first next()) left the caller's stream open: a database cursor kept its
// connection, and the pool hung. enrichStage closed its own input so (helper-77), but enrich() handed it
// a generator over the rows, which an early return does not run.
describe('enrich() stopped before it reads a row', () => {
  const cursor = () => new Readable({ objectMode: true, read() { this.push({ id: '1', text: 'a' }); this.push(null); } });
  it('closes the stream of rows it was given', async () => {
    const failing = cursor();
    await expectError(enrichAll(failing, { ...optionsFor('http://127.0.0.1:1'), ledger: '/proc/no/such/ledger.db' }), { code: 'BE_LEDGER' });
    expect(failing.destroyed).toBe(true);
    const unread = cursor();
    await enrich(unread, optionsFor('http://127.0.0.1:1')).return(undefined);
    expect(unread.destroyed).toBe(true);
  });
});
