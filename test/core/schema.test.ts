/** The answer schema from zod (recipes) or from JSON Schema (a file): what is sent, what validates, the columns. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import * as zm from 'zod/mini';
import { z as z3 } from 'zod/v3';
import { eitherAnswer, resolveAnswerSchema } from '../../src/core/schema.ts';
import { expectErrorSync } from '../helpers/expect-error.ts';

describe('resolveAnswerSchema from zod', () => {
  const schema = z.object({
    sentiment: z.enum(['positive', 'negative']),
    score: z.number().min(0).max(1),
    topics: z.array(z.string()),
  });

  it('gives JSON Schema for the request, without $schema', () => {
    const { jsonSchema } = resolveAnswerSchema(schema);
    expect(jsonSchema).not.toHaveProperty('$schema');
    expect(jsonSchema['type']).toBe('object');
    expect(jsonSchema['required']).toEqual(['sentiment', 'score', 'topics']);
    expect(jsonSchema['properties']).toMatchObject({ sentiment: { enum: ['positive', 'negative'] }, topics: { type: 'array' } });
  });

  it('the answer columns are the object’s properties, in declaration order', () => {
    expect(resolveAnswerSchema(schema).fields).toEqual(['sentiment', 'score', 'topics']);
  });

  it('validates answers with the zod schema itself', () => {
    const { validator } = resolveAnswerSchema(schema);
    expect(validator.safeParse({ sentiment: 'positive', score: 0.5, topics: [] }).success).toBe(true);
    const bad = validator.safeParse({ sentiment: 'meh', score: 2, topics: [] });
    expect(bad.success).toBe(false);
    if (!bad.success) expect(bad.error.issues.map((i) => i.path.join('.'))).toEqual(['sentiment', 'score']);
  });

  it('a non-object answer has no answer columns', () => {
    const resolved = resolveAnswerSchema(z.array(z.string()));
    expect(resolved.fields).toEqual([]);
    expect(resolved.jsonSchema['type']).toBe('array');
  });
});

describe('resolveAnswerSchema from zod/mini or zod 3', () => {
  // A recipe file or an ETL script imports zod/mini, or zod 3, from its own node_modules. Neither is
  // an instance of our z.ZodType; taken for JSON Schema, both were refused with "JSON schema must
  // have a type defined", which says nothing of zod.
  it('a zod/mini schema is sent as the JSON Schema it describes and checks answers', () => {
    const resolved = resolveAnswerSchema(zm.object({ vendor: zm.string(), total: zm.number() }) as never);
    expect(resolved.jsonSchema).toEqual({ type: 'object', properties: { vendor: { type: 'string' }, total: { type: 'number' } }, required: ['vendor', 'total'], additionalProperties: false });
    expect(resolved.fields).toEqual(['vendor', 'total']);
    expect(resolved.validator.safeParse({ vendor: 'ACME', total: 3 }).success).toBe(true);
    expect(resolved.validator.safeParse({ vendor: 'ACME', total: 'three' }).success).toBe(false);
  });

  it('a zod 3 schema is a usage error saying zod 4 is needed, not a JSON Schema that accepts anything', () => {
    expectErrorSync(() => resolveAnswerSchema(z3.object({ vendor: z3.string() }) as never, 'recipe invoices'), {
      code: 'BE_USAGE',
      message: /^Invalid schema in recipe invoices: a zod 3 schema\. batch-enrich needs zod 4/,
    });
  });
});

describe('resolveAnswerSchema from JSON Schema', () => {
  const schema = () => ({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: { label: { type: 'string', enum: ['bug', 'question'] }, score: { type: 'integer', minimum: 1, maximum: 5 } },
    required: ['label', 'score'],
  });

  it('sends the schema without $schema, and keeps the constraints for validation', () => {
    const { jsonSchema } = resolveAnswerSchema(schema());
    const { $schema: _, ...rest } = schema();
    expect(jsonSchema).toEqual(rest);
  });

  it('does not modify the caller’s schema object', () => {
    const mine = schema();
    resolveAnswerSchema(mine);
    expect(mine).toEqual(schema());
  });

  it('the answer columns are the properties, in order', () => {
    expect(resolveAnswerSchema(schema()).fields).toEqual(['label', 'score']);
  });

  it('validates answers client-side, including constraints the API does not enforce', () => {
    const { validator } = resolveAnswerSchema(schema());
    expect(validator.safeParse({ label: 'bug', score: 3 }).success).toBe(true);
    const bad = validator.safeParse({ label: 'other', score: 9 });
    expect(bad.success).toBe(false);
    if (!bad.success) expect(bad.error.issues.map((i) => i.path.join('.'))).toEqual(['label', 'score']);
    expect(validator.safeParse({ label: 'bug' }).success).toBe(false);
  });

  it('a non-object schema has no answer columns', () => {
    expect(resolveAnswerSchema({ type: 'string' }).fields).toEqual([]);
  });

  const invalid: { description: string; schema: Record<string, unknown>; message: RegExp }[] = [
    { description: 'an unknown type', schema: { type: 'nonsense' }, message: /^Invalid schema in schema\.json: .*nonsense/ },
    { description: 'a dangling $ref', schema: { $ref: '#/$defs/missing' }, message: /^Invalid schema in schema\.json: .*#\/\$defs\/missing/ },
    { description: 'a broken pattern', schema: { type: 'string', pattern: '(' }, message: /^Invalid schema in schema\.json: .*regular expression/ },
  ];
  for (const t of invalid) {
    it(`an unusable schema is a usage error naming its source: ${t.description}`, () => {
      const error = expectErrorSync(() => resolveAnswerSchema(t.schema, 'schema.json'), { code: 'BE_USAGE', message: t.message });
      expect(error.cause).toBeInstanceOf(Error);
    });
  }
});

// helper-80: draft-07's `definitions` (what pydantic v1, typescript-json-schema and quicktype write)
// was refused: "$ref ... does not resolve", or zod's "Reference not found".
describe('resolveAnswerSchema from a draft-07 schema with definitions', () => {
  const money = { type: 'object', properties: { amount: { type: 'number' }, currency: { type: 'string' } }, required: ['amount', 'currency'] };
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    properties: { total: { $ref: '#/definitions/money' }, lines: { type: 'array', items: { $ref: '#/definitions/money' } } },
    required: ['total', 'lines'],
    definitions: { money },
  };

  it('is sent with $defs, its references rewritten, and checks answers through them', () => {
    const answer = resolveAnswerSchema(schema, 's2.json');
    expect(answer.jsonSchema).toEqual({
      type: 'object',
      properties: { total: { $ref: '#/$defs/money' }, lines: { type: 'array', items: { $ref: '#/$defs/money' } } },
      required: ['total', 'lines'],
      $defs: { money },
    });
    expect(answer.validator.safeParse({ total: { amount: 1, currency: 'EUR' }, lines: [] }).success).toBe(true);
    expect(answer.validator.safeParse({ total: { amount: '1', currency: 'EUR' }, lines: [] }).success).toBe(false);
    // The caller's object is theirs.
    expect(schema.definitions).toBe(schema.definitions);
    expect(Object.keys(schema)).toContain('definitions');
  });

  // helper-82: quicktype writes the root as a $ref into definitions; its answer had no fields, so a
  // CSV got an empty answer column, and an answer field silently replaced the input's of that name.
  it('a root that refers to a definition has the fields of that definition', () => {
    const quicktype = { $schema: 'http://json-schema.org/draft-06/schema#', $ref: '#/definitions/Welcome', definitions: { Welcome: { type: 'object', properties: { company: { type: 'string' }, name: { type: 'string' } }, required: ['company', 'name'] } } };
    const answer = resolveAnswerSchema(quicktype, 'sq2.json');
    expect(answer.fields).toEqual(['company', 'name']);
    expect(answer.validator.safeParse({ company: 'Acme', name: 'x' }).success).toBe(true);
  });

  it('without $schema too', () => {
    const { $schema: _, ...bare } = schema;
    expect(resolveAnswerSchema(bare, 's4.json').jsonSchema['$defs']).toEqual({ money });
  });
});

describe('the request and the check agree', () => {
  it('a JSON Schema file without additionalProperties rejects extra keys, as the closed schema sent to the API does', () => {
    const { validator } = resolveAnswerSchema({
      type: 'object',
      properties: { a: { type: 'string' }, inner: { type: 'object', properties: { b: { type: 'number' } } } },
      required: ['a'],
    });
    expect(validator.safeParse({ a: 'x', inner: { b: 1 } }).success).toBe(true);
    expect(validator.safeParse({ a: 'x', extra: 1 }).success).toBe(false);
    expect(validator.safeParse({ a: 'x', inner: { b: 1, extra: 2 } }).success).toBe(false);
  });

  it("zod integers do not carry the safe-integer bounds into the request (they would become description noise)", () => {
    const { jsonSchema } = resolveAnswerSchema(z.object({ n: z.number().int(), hours: z.number().int().min(1).max(168) }));
    const properties = jsonSchema['properties'] as Record<string, Record<string, unknown>>;
    expect(properties['n']).toEqual({ type: 'integer' });
    expect(properties['hours']).toEqual({ type: 'integer', minimum: 1, maximum: 168 });
  });
});

describe('a zod schema whose input and output differ (a pipe, a transform): the answer is asked in what its check takes', () => {
  // helper-52: the output side was sent (price: number) and answers were checked by safeParse, which
  // takes the input side (price: string): every answer failed, and its retry paid a second time.
  it.each([
    ['a pipe', z.object({ price: z.string().pipe(z.coerce.number()) }), { price: 'string' }, { price: '12.50' }, { price: 12.5 }],
    ['a transform (refused before: not representable)', z.object({ name: z.string().transform((v) => v.toUpperCase()) }), { name: 'string' }, { name: 'ada' }, { name: 'ADA' }],
  ])('%s', (_name, schema, types, answer, parsed) => {
    const { jsonSchema, validator } = resolveAnswerSchema(schema);
    const properties = jsonSchema['properties'] as Record<string, { type: string }>;
    expect(Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, value.type]))).toEqual(types);
    expect(validator.safeParse(answer)).toEqual({ success: true, data: parsed });
  });

  it('a schema whose sides differ only in what an answer of the output side always meets (a default, closed objects) sends the output side, as before: its requests stay the same', () => {
    const schema = z.object({ currency: z.string().default('EUR'), items: z.array(z.object({ sku: z.string() })) });
    const { jsonSchema } = resolveAnswerSchema(schema);
    const { $schema: _, ...output } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output' }) as Record<string, unknown>;
    expect(jsonSchema).toEqual(output);
    expect(jsonSchema['required']).toEqual(['currency', 'items']);
  });
});

describe('eitherAnswer: rows asked one answer, records with documents another', () => {
  const rows = resolveAnswerSchema(z.object({ risk: z.enum(['low', 'high']) }));
  const documents = resolveAnswerSchema(z.object({ clauses: z.array(z.object({ page: z.number().int() })) }));
  const either = eitherAnswer(rows, documents);

  it('takes an answer valid under either, asks the rows schema in requests, and has the fields of both', () => {
    expect(either.validator.safeParse({ risk: 'low' }).success).toBe(true);
    expect(either.validator.safeParse({ clauses: [{ page: 2 }] }).success).toBe(true);
    expect(either.jsonSchema).toBe(rows.jsonSchema);
    expect(either.fields).toEqual(['risk', 'clauses']);
  });

  it("says what is wrong in the terms of the schema whose fields the answer has", () => {
    const document = either.validator.safeParse({ clauses: [{ page: 'two' }] });
    expect(document.success === false && document.error.issues[0]?.path).toEqual(['clauses', 0, 'page']);
    const row = either.validator.safeParse({ risk: 'medium' });
    expect(row.success === false && row.error.issues[0]?.path).toEqual(['risk']);
  });
});

// helper-88 #3: a z.record() field is sent closed (the API wants every object closed), so the model
// could only ever answer {} there: 20 rows came back with `scores: {}`, paid for, without a word.
describe('resolveAnswerSchema: an object of any keys is refused before anything is paid', () => {
  it.each([
    ['a z.record() field', z.object({ text: z.string(), scores: z.record(z.string(), z.number()) }), 'scores'],
    ['one in a list', z.object({ rows: z.array(z.object({ tags: z.record(z.string(), z.string()) })) }), 'rows[].tags'],
    ['the whole answer', z.record(z.string(), z.number()), 'the answer'],
    ['a JSON Schema with additionalProperties true', { type: 'object', properties: { meta: { type: 'object', additionalProperties: true } } }, 'meta'],
    // helper-95 #13: an object that names no property and does not close itself is any keys in JSON
    // Schema; sent closed, every answer was {} there, paid for.
    ['a JSON Schema object with no properties', { type: 'object', properties: { meta: { type: 'object' } } }, 'meta'],
    ['one with empty properties', { type: 'object', properties: { meta: { type: 'object', properties: {} } } }, 'meta'],
  ])('%s', (_case, schema, where) => {
    expect(() => resolveAnswerSchema(schema as never)).toThrow(expect.objectContaining({ code: 'BE_INVALID_OPTION', message: expect.stringContaining(`the answer schema: ${where} is an object of any keys`) }));
  });

  it('an object with named properties, or an empty one that says it is closed, is as it was', () => {
    expect(resolveAnswerSchema(z.object({ a: z.object({ b: z.string() }), c: z.object({}) })).fields).toEqual(['a', 'c']);
    expect(resolveAnswerSchema({ type: 'object', properties: { x: { type: 'object', additionalProperties: false } } }).fields).toEqual(['x']);
    // Its properties named by the schemas it combines.
    expect(resolveAnswerSchema({ type: 'object', properties: { x: { type: 'object', anyOf: [{ properties: { a: { type: 'string' } } }, { properties: { b: { type: 'number' } } }] } } }).fields).toEqual(['x']);
  });
});

// helper-95: a JSON Schema whose `required` names a key its `properties` lacks (a typo, a renamed field)
// is sent closed (additionalProperties: false), so no answer can have the key it requires: the
// emulator's answers had it and failed the check, every row paid for twice and failed.
describe('resolveAnswerSchema: a required key that no property defines is refused before anything is paid', () => {
  it.each([
    ['at the root', { type: 'object', properties: { a: { type: 'string' } }, required: ['a', 'b'] }, 'the answer requires b'],
    ['in a nested object', { type: 'object', properties: { n: { type: 'object', properties: { x: { type: 'number' } }, required: ['y'] } }, required: ['n'] }, 'n requires y'],
    ['in a list', { type: 'object', properties: { rows: { type: 'array', items: { type: 'object', properties: { k: { type: 'string' } }, required: ['key'] } } } }, 'rows[] requires key'],
  ])('%s', (_case, schema, said) => {
    expect(() => resolveAnswerSchema(schema as never)).toThrow(
      expect.objectContaining({ code: 'BE_INVALID_OPTION', message: expect.stringContaining(`the answer schema: ${said}, which its properties do not define`) }),
    );
  });

  it('required keys that are properties, in $defs too, are as they were', () => {
    expect(resolveAnswerSchema({ type: 'object', properties: { a: { $ref: '#/$defs/A' } }, required: ['a'], $defs: { A: { type: 'object', properties: { x: { type: 'string' } }, required: ['x'] } } }).fields).toEqual(['a']);
  });
});

// helper-93 #10: a transform beside a z.date() named the transform (what the user did right), not the date.
it('a z.date() beside a transform is the field named', () => {
  expect(() => resolveAnswerSchema(z.object({ a: z.string().transform((s) => s.length), d: z.date() }))).toThrow(expect.objectContaining({ code: 'BE_INVALID_OPTION', message: expect.stringContaining('the answer schema: d: Date cannot be represented') }));
});

// helper-88 #9: a z.date() field was a BE_USAGE error that named neither the field nor what to ask for.
describe('resolveAnswerSchema: a zod type JSON Schema cannot hold is an invalid option naming the field', () => {
  it.each([
    ['a z.date() field', z.object({ due: z.date() }), 'due', /z\.iso\.date\(\)/],
    ['a z.bigint() in a list', z.object({ rows: z.array(z.object({ n: z.bigint() })) }), 'rows[].n', /z\.int\(\)/],
    ['a z.map() field', z.object({ m: z.map(z.string(), z.string()) }), 'm', /z\.array\(z\.object/],
    ['the whole answer', z.date(), 'the answer', /z\.iso\.date\(\)/],
  ])('%s', (_case, schema, where, hint) => {
    let thrown: unknown;
    try {
      resolveAnswerSchema(schema as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'BE_INVALID_OPTION', message: expect.stringContaining(`the answer schema: ${where}: `) });
    expect((thrown as Error).message).toMatch(hint);
  });
});
