/** Prompt templates: `{{field}}`, `{{a.b}}`, `{{$record}}`, and the header check the CLI runs. */
import { describe, expect, it } from 'vitest';
import { compileTemplate, missingColumns, missingFields, WHOLE_RECORD } from '../../src/core/template.ts';
import { expectErrorSync } from '../helpers/expect-error.ts';

// helper-62: a Date went into the prompt as a JSON string in quotes ("2024-…"), so the same data read
// later as text (CSV, NDJSON, a driver returning strings) made another prompt, another key: paid again.
describe('compileTemplate: a value with its own text form', () => {
  it('a Date is its ISO text, as the output record has it, and the same prompt as that text', () => {
    const t = compileTemplate('when={{when}}');
    expect(t.render({ when: new Date('2024-01-02T00:00:00Z') })).toBe('when=2024-01-02T00:00:00.000Z');
    expect(t.render({ when: new Date('2024-01-02T00:00:00Z') })).toBe(t.render({ when: '2024-01-02T00:00:00.000Z' }));
    expect(t.render({ when: new Date(Number.NaN) })).toBe('when=');
    // Any object whose toJSON gives text (a decimal type): that text.
    expect(t.render({ when: { toJSON: () => '12.50' } })).toBe('when=12.50');
    // Other objects stay JSON.
    expect(t.render({ when: { a: 1 } })).toBe('when={"a":1}');
  });
});

describe('compileTemplate: render', () => {
  const cases: { description: string; source: string; record: Record<string, unknown>; want: string }[] = [
    { description: 'a field is replaced by its value', source: 'Classify: {{text}}', record: { text: 'hello' }, want: 'Classify: hello' },
    { description: 'whitespace inside the braces is ignored', source: '[{{  text }}]', record: { text: 'x' }, want: '[x]' },
    { description: 'a field used twice is filled twice', source: '{{a}}-{{a}}', record: { a: '1' }, want: '1-1' },
    { description: 'text without placeholders is unchanged', source: 'no {placeholders} here', record: {}, want: 'no {placeholders} here' },
    { description: 'a value is inserted verbatim, braces and all', source: '<{{a}}>', record: { a: '{{b}}' }, want: '<{{b}}>' },
    { description: 'a nested path reads into an NDJSON object', source: '{{customer.name}}', record: { customer: { name: 'Ann' } }, want: 'Ann' },
    {
      description: 'a flat key containing dots (a CSV column "a.b") wins over the nested path',
      source: '{{a.b}}',
      record: { 'a.b': 'flat', a: { b: 'nested' } },
      want: 'flat',
    },
    { description: 'an object value is inserted as JSON', source: '{{meta}}', record: { meta: { k: [1, 2] } }, want: '{"k":[1,2]}' },
    { description: 'an array value is inserted as JSON', source: '{{tags}}', record: { tags: ['a', 'b'] }, want: '["a","b"]' },
    { description: 'null is inserted as an empty string', source: '[{{x}}]', record: { x: null }, want: '[]' },
    { description: 'an empty string is a value, not a missing field', source: '[{{x}}]', record: { x: '' }, want: '[]' },
    { description: 'numbers and booleans are inserted as text', source: '{{n}} {{b}} {{z}}', record: { n: 1.5, b: false, z: 0 }, want: '1.5 false 0' },
    {
      description: '{{$record}} is the whole record as JSON',
      source: 'Record: {{ $record }}',
      record: { id: '1', text: 'a "q"' },
      want: 'Record: {"id":"1","text":"a \\"q\\""}',
    },
    { description: 'unicode passes through', source: '{{t}} ✓', record: { t: 'café 中文 😀' }, want: 'café 中文 😀 ✓' },
  ];
  for (const t of cases) {
    it(t.description, () => {
      expect(compileTemplate(t.source).render(t.record)).toBe(t.want);
    });
  }

  it('does not mutate the record', () => {
    const record = Object.freeze({ a: Object.freeze({ b: 'x' }) });
    expect(compileTemplate('{{a.b}} {{$record}}').render(record)).toBe('x {"a":{"b":"x"}}');
  });

  it('keeps the source', () => {
    expect(compileTemplate('Hi {{name}}').source).toBe('Hi {{name}}');
  });
});

describe('compileTemplate: fields', () => {
  it('lists placeholders once each, in order of first appearance', () => {
    expect(compileTemplate('{{b}} {{a.c}} {{ b }} {{$record}}').fields).toEqual(['b', 'a.c', WHOLE_RECORD]);
  });

  it('a template without placeholders has no fields', () => {
    expect(compileTemplate('static prompt').fields).toEqual([]);
  });
});

describe('compileTemplate: errors', () => {
  it('an empty placeholder is a template error when compiling, naming its offset', () => {
    expectErrorSync(() => compileTemplate('abc {{ }}'), { code: 'BE_TEMPLATE', message: /Empty placeholder .* at offset 4$/ });
  });

  // helper-77: 'Hi {{text' was sent as written, to every row, paid for, without a word.
  it('a field opened and never closed is a template error naming it; braces that open no field are text', () => {
    expectErrorSync(() => compileTemplate('Hi {{text'), { code: 'BE_TEMPLATE', message: 'The prompt template opens a field that is never closed at offset 3 ({{text): write it {{text}}' });
    expectErrorSync(() => compileTemplate('A {{a}} and {{ b and {{c}}'), { code: 'BE_TEMPLATE', message: /never closed at offset 12 \(\{\{ b and \{\{c…\)$/ });
    expect(compileTemplate('JSON like {"a": {"b": 1}} and {{x}}').fields).toEqual(['x']);
    expect(compileTemplate('a {{ 1 + 1 is text').fields).toEqual([]);
  });

  const missing: { description: string; source: string; record: Record<string, unknown>; name: string }[] = [
    { description: 'a field the record lacks', source: 'x {{text}}', record: { other: 1 }, name: 'text' },
    { description: 'a nested path whose parent is missing', source: '{{a.b}}', record: {}, name: 'a.b' },
    { description: 'a nested path whose parent is not an object', source: '{{a.b}}', record: { a: 'str' }, name: 'a.b' },
    { description: 'an array index past the end', source: '{{a.1}}', record: { a: ['x'] }, name: 'a.1' },
    { description: 'inherited properties are not fields', source: '{{constructor}}', record: {}, name: 'constructor' },
    { description: 'a key present with the value undefined', source: '{{x}}', record: { x: undefined }, name: 'x' },
  ];
  for (const t of missing) {
    it(`missing field: ${t.description}`, () => {
      const template = compileTemplate(t.source);
      expectErrorSync(() => template.render(t.record), {
        code: 'BE_TEMPLATE',
        message: `the prompt template uses {{${t.name}}}, got a record without it`,
      });
    });
  }
});

describe('missingColumns (the CSV header check before anything is submitted)', () => {
  const cases: { description: string; source: string; columns: string[]; want: string[] }[] = [
    { description: 'all fields present', source: '{{a}} {{b}}', columns: ['a', 'b', 'c'], want: [] },
    { description: 'missing fields, in template order', source: '{{z}} {{a}} {{y}}', columns: ['a'], want: ['z', 'y'] },
    { description: '{{$record}} needs no column', source: '{{$record}}', columns: [], want: [] },
    { description: 'a nested path is satisfied by its first segment', source: '{{meta.k}}', columns: ['meta'], want: [] },
    { description: 'a nested path is satisfied by a dotted column', source: '{{meta.k}}', columns: ['meta.k'], want: [] },
    { description: 'a nested path with neither is missing', source: '{{meta.k}}', columns: ['other'], want: ['meta.k'] },
    { description: 'column names are case-sensitive', source: '{{Text}}', columns: ['text'], want: ['Text'] },
  ];
  for (const t of cases) {
    it(t.description, () => {
      expect(missingColumns(compileTemplate(t.source), t.columns)).toEqual(t.want);
    });
  }
});

describe('array indexes in paths', () => {
  it('{{a.0}} picks an array element; an index past the end is a missing field', () => {
    const template = compileTemplate('{{tags.0}} / {{lines.1.sku}}');
    expect(template.render({ tags: ['red', 'blue'], lines: [{ sku: 'A' }, { sku: 'B' }] })).toBe('red / B');
    expect(() => template.render({ tags: [], lines: [] })).toThrow(/\{\{tags\.0\}\}/);
  });
});

describe('optional placeholders ({{field?}})', () => {
  it('render an empty string when the record lacks the field, the value when it has it', () => {
    const template = compileTemplate('Contract: {{contract?}}\nClause: {{clause}}');
    expect(template.render({ clause: 'c' })).toBe('Contract: \nClause: c');
    expect(template.render({ clause: 'c', contract: 'MSA' })).toBe('Contract: MSA\nClause: c');
    expect(template.fields).toEqual(['contract', 'clause']);
    expect(template.required).toEqual(['clause']);
  });

  it('are never missing from a header or a first record', () => {
    const template = compileTemplate('{{contract?}} {{clause}} {{a.b}}');
    expect(missingColumns(template, ['clause'])).toEqual(['a.b']);
    expect(missingFields(template, { clause: 'x', a: { c: 1 } })).toEqual(['a.b']);
    expect(missingFields(template, { clause: 'x', a: { b: null } })).toEqual([]);
  });

  it('raw numbers (NDJSON numbers JavaScript cannot hold) are inserted as the input wrote them', () => {
    const template = compileTemplate('{{id}} {{$record}}');
    expect(template.render({ id: '\ue0009007199254740993' })).toBe('9007199254740993 {"id":9007199254740993}');
  });
});

// helper-95: a row's text cut in the middle of an emoji (`text.slice(0, n)` of a database column, an
// object given to `enrich()`) holds a lone surrogate. JSON.stringify writes it as a `\ud83d` escape,
// which the API's JSON parser refuses ("no low surrogate in string"): the create of the whole batch,
// every row in it, failed with 400, and so did every rerun. Files are decoded to well-formed text already.
describe('compileTemplate: well-formed text', () => {
  it('a lone surrogate in a value or in the template is U+FFFD; pairs are kept', () => {
    const t = compileTemplate('Classify: {{text}} {{more}}');
    expect(t.render({ text: 'cut \ud83d', more: '\ude00 end 😀' })).toBe('Classify: cut \ufffd \ufffd end 😀');
    expect(compileTemplate('lone \udfff {{a}}').render({ a: 'x' })).toBe('lone \ufffd x');
    // The prompt as a whole is made well-formed: halves that meet in it make their character.
    expect(compileTemplate('{{a}}{{b}}').render({ a: '\ud83d', b: '\ude00' })).toBe('\ud83d\ude00');
  });
});
