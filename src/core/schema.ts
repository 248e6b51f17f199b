/**
 * The answer schema, from either side: a zod schema (recipes) becomes JSON Schema for
 * `output_config.format` through zod 4's `z.toJSONSchema`; a JSON Schema file becomes a zod validator
 * through `z.fromJSONSchema`. Either way the request carries JSON Schema and answers are checked by zod.
 */
import { z } from 'zod';
import { BatchEnrichError } from '../errors.ts';
import type { JSONSchema } from './request.ts';
import type { AnswerValidator } from './result.ts';

export interface AnswerSchema {
  jsonSchema: JSONSchema;
  validator: AnswerValidator;
  /** Top-level property names when the answer is an object (the CSV answer columns). */
  fields: string[];
}

export function resolveAnswerSchema(schema: z.ZodType | JSONSchema, source = 'the answer schema'): AnswerSchema {
  let jsonSchema: JSONSchema;
  let validator: z.ZodType;
  try {
    if (isZod3(schema)) {
      throw new Error(
        "a zod 3 schema. batch-enrich needs zod 4 (`import { z } from 'zod'` with zod 4 installed, or `from 'zod/v4'` in zod 3.25): zod 3 has no JSON Schema of its own to send",
      );
    }
    if (isZod4(schema)) {
      validator = schema;
      jsonSchema = withoutSafeIntegerBounds(answerSide(schema));
    } else {
      jsonSchema = withDefs(schema); // a copy: `$schema` is deleted below, and the caller's object is theirs
      // The request closes every object (`additionalProperties: false`); the check must agree with it.
      validator = z.fromJSONSchema(closeObjects(jsonSchema) as Parameters<typeof z.fromJSONSchema>[0]);
    }
  } catch (error) {
    if (error instanceof Unrepresentable) {
      throw new BatchEnrichError('BE_INVALID_OPTION', `${source}: ${error.where || 'the answer'}: ${error.message}, so the model cannot be asked for it; ${error.hint}`, { cause: error });
    }
    throw new BatchEnrichError('BE_USAGE', `Invalid schema in ${source}: ${(error as Error).message}`, { cause: error });
  }
  delete jsonSchema['$schema'];
  const anyKeys = openMap(jsonSchema, '');
  if (anyKeys !== undefined) {
    throw new BatchEnrichError(
      'BE_INVALID_OPTION',
      `${source}: ${anyKeys || 'the answer'} is an object of any keys (a z.record(), or additionalProperties with a schema): structured outputs close every object (additionalProperties: false), so the model could only answer {} there; ask for a list of entries instead, e.g. z.array(z.object({ key: z.string(), value: z.number() }))`,
    );
  }
  const unmet = requiredUndefined(jsonSchema, '');
  if (unmet !== undefined) {
    throw new BatchEnrichError(
      'BE_INVALID_OPTION',
      `${source}: ${unmet.path || 'the answer'} requires ${unmet.key}, which its properties do not define: structured outputs close every object (additionalProperties: false), so no answer could have it; add it to properties, or take it out of required`,
    );
  }
  // A root that is a reference to one of its definitions (quicktype writes them so) has its fields.
  const ref = jsonSchema['$ref'];
  const defs = jsonSchema['$defs'] as Record<string, JSONSchema> | undefined;
  const root = typeof ref === 'string' && ref.startsWith('#/$defs/') && defs && Object.hasOwn(defs, ref.slice('#/$defs/'.length)) ? defs[ref.slice('#/$defs/'.length)]! : jsonSchema;
  const properties = root['type'] === 'object' ? root['properties'] : undefined;
  const fields = typeof properties === 'object' && properties !== null ? Object.keys(properties) : [];
  return { jsonSchema, validator: validator as AnswerValidator, fields };
}

/**
 * Where in `schema` an object names no properties and takes keys of any name (`additionalProperties`
 * a schema, or true: what zod writes for `z.record()`; or absent, as JSON Schema reads it), as a dotted path ('' at the root), or
 * undefined. The request closes every object, so such a field could only ever be answered `{}`:
 * every answer paid for would lose it (helper-88: `scores: z.record(z.string(), z.number())` came back
 * `{}` on every row, without a word).
 */
function openMap(schema: unknown, path: string): string | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const node = schema as JSONSchema;
  const properties = node['properties'] as Record<string, unknown> | undefined;
  const extra = node['additionalProperties'];
  const named = properties !== undefined && Object.keys(properties).length > 0;
  // No `additionalProperties` at all is any keys too, in JSON Schema, for an object that names none
  // (helper-95 #13: `{ type: 'object' }` was answered `{}` on every row); `false` says it is empty.
  const isObject = (node['type'] === 'object' || (Array.isArray(node['type']) && node['type'].includes('object'))) && !['anyOf', 'oneOf', 'allOf', '$ref'].some((key) => key in node);
  if (!named && (extra === true || (typeof extra === 'object' && extra !== null) || (extra === undefined && isObject))) return path;
  return inChildren(node, path, ['items', 'prefixItems', 'anyOf', 'oneOf', 'allOf', '$defs'], openMap);
}

/**
 * The first thing `find` finds in the schemas under `node` (at `path`): its properties' (at
 * `path.key`), then those under `keys` (`items` and `prefixItems` at `path[]`, the others at `path`).
 */
function inChildren<T>(node: JSONSchema, path: string, keys: readonly string[], find: (schema: unknown, path: string) => T | undefined): T | undefined {
  const properties = node['properties'];
  for (const [key, value] of Object.entries(typeof properties === 'object' && properties !== null ? properties : {})) {
    const found = find(value, path ? `${path}.${key}` : key);
    if (found !== undefined) return found;
  }
  for (const key of keys) {
    const value = node[key];
    const children = Array.isArray(value) ? value : key === '$defs' && typeof value === 'object' && value !== null ? Object.values(value) : [value];
    for (const child of children) {
      const found = find(child, key === 'items' || key === 'prefixItems' ? `${path}[]` : path);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * The first object in `schema` whose `required` names a key its own `properties` does not define, with
 * its dotted path ('' at the root), or undefined. Sent closed, such an object has no valid answer: the
 * model is asked for a key it may not write, and the check refuses the key (helper-95: every row paid
 * for twice, and failed). An object combined with others (`allOf`, `anyOf`, `oneOf`) is left alone:
 * the key may be defined by another.
 */
function requiredUndefined(schema: unknown, path: string): { path: string; key: string } | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const node = schema as JSONSchema;
  const required = node['required'];
  const properties = node['properties'];
  const combined = ['allOf', 'anyOf', 'oneOf'].some((key) => key in node);
  if (Array.isArray(required) && !combined) {
    const defined = typeof properties === 'object' && properties !== null ? properties : {};
    const key = required.find((name) => typeof name === 'string' && !Object.hasOwn(defined, name));
    if (typeof key === 'string') return { path, key };
  }
  // Not into `allOf`: a part may require what another part defines.
  return inChildren(node, path, ['items', 'prefixItems', 'anyOf', 'oneOf', '$defs'], requiredUndefined);
}

/**
 * A copy of `schema` with draft-07's `definitions` as `$defs` (2020-12, which structured outputs and
 * zod read), and its references to them (`#/definitions/x`) rewritten: what pydantic v1,
 * typescript-json-schema and quicktype write was refused as referring to nothing (helper-80). A schema
 * with both keeps them as they are.
 */
function withDefs(schema: JSONSchema): JSONSchema {
  const definitions = schema['definitions'];
  if (typeof definitions !== 'object' || definitions === null || Array.isArray(definitions) || '$defs' in schema) return { ...schema };
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (typeof value !== 'object' || value === null) return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [key, key === '$ref' && typeof inner === 'string' && inner.startsWith('#/definitions/') ? `#/$defs/${inner.slice('#/definitions/'.length)}` : rewrite(inner)]),
    );
  };
  // Its `$schema` goes with them: zod reads a draft-07 schema's references as `definitions`.
  const { definitions: defs, $schema: _, ...rest } = schema;
  return { ...(rewrite(rest) as JSONSchema), $defs: rewrite(defs) };
}

/**
 * A zod 4 schema, classic or mini, from any copy of zod 4. A zod/mini schema is no `z.ZodType` (zod 4's
 * `instanceof` goes by traits, which finds classic schemas of any copy, not mini ones), while
 * `z.toJSONSchema` reads any schema's `_zod` internals. Taken for JSON Schema, a mini schema was
 * refused with "JSON schema must have a type defined".
 */
function isZod4(schema: object): schema is z.ZodType {
  return '_zod' in schema && typeof (schema as { safeParse?: unknown }).safeParse === 'function';
}

/** A zod 3 schema (zod 3, or `zod/v3` of zod 4): `_def` and `safeParse`, without zod 4's `_zod`. */
function isZod3(schema: object): boolean {
  return !('_zod' in schema) && '_def' in schema && typeof (schema as { safeParse?: unknown }).safeParse === 'function';
}

/**
 * The JSON Schema a zod schema's answers are asked in. An answer is checked by the schema's
 * `safeParse`, which takes its input side. The output side is sent, as it always was, where the two
 * differ only in what an answer of the output side always meets on the input side (a field with a
 * default is required; objects are closed): its requests stay the same, and a rerun finds them
 * answered. Where they differ more (a `pipe` from a string to a number, a `transform`), the input
 * side is sent: asked in the output side's types, every answer failed its check, and its retry was
 * paid for again; a `transform`, whose output side cannot be written as JSON Schema, was refused.
 */
function answerSide(schema: z.ZodType): JSONSchema {
  const side = (io: 'input' | 'output') =>
    z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      io,
      unrepresentable: ({ zodSchema, path, message }) => {
        throw new Unrepresentable(zodSchema._zod.def.type, fieldPath(path), message);
      },
    }) as JSONSchema;
  let output: JSONSchema;
  try {
    output = side('output');
  } catch (error) {
    try {
      return side('input');
    } catch (inputError) {
      // The input side is what is sent when the output side cannot be: its failure is the one to name
      // (helper-93: a transform beside a z.date() named the transform, not the date).
      throw error instanceof Unrepresentable && inputError instanceof Unrepresentable ? inputError : error;
    }
  }
  const input = side('input');
  const shape = (sent: JSONSchema) => JSON.stringify(mapSchema(sent, ({ required: _, additionalProperties: __, ...rest }) => rest));
  return shape(input) === shape(output) ? output : input;
}

/**
 * A zod type JSON Schema cannot hold (`z.date()`, `z.bigint()`, `z.map()`, …), where it is in the
 * answer, and what to ask for instead (helper-88 #9: a `z.date()` field was a usage error naming
 * neither the field nor the way out).
 */
class Unrepresentable extends Error {
  readonly hint: string;
  constructor(
    type: string,
    readonly where: string,
    message: string,
  ) {
    super(message);
    this.hint = UNREPRESENTABLE_HINTS[type] ?? 'ask for a JSON type (a string, a number, a boolean, a list, an object) and convert it after';
  }
}

const UNREPRESENTABLE_HINTS: Readonly<Record<string, string>> = {
  date: 'ask for a string, z.iso.date() or z.iso.datetime(), and convert it after',
  bigint: 'ask for z.int() (or a string of digits, z.string().regex(/^-?\\d+$/), for integers past 2^53)',
  map: 'ask for a list of entries, e.g. z.array(z.object({ key: z.string(), value: z.string() }))',
  set: 'ask for a list, z.array(…)',
};

/** A JSON Schema path as zod gives it (`properties`, `a`, `items`, …) → the answer's field (`a[]`). */
function fieldPath(path: readonly (string | number)[]): string {
  let field = '';
  for (let i = 0; i < path.length; i++) {
    const step = path[i];
    if (step === 'properties' && i + 1 < path.length) field += `${field ? '.' : ''}${String(path[++i])}`;
    else if (step === 'items' || step === 'additionalProperties') field += '[]';
    else if (step === 'prefixItems' && i + 1 < path.length) field += `[${String(path[++i])}]`;
    else if ((step === 'anyOf' || step === 'oneOf' || step === 'allOf') && i + 1 < path.length) i++;
    else if (step === '$defs' && i + 1 < path.length) field = String(path[++i]);
  }
  return field;
}

/**
 * The answers of a job whose records with documents are asked their own (`documentSchema`): an
 * answer is valid when it is valid under either (the API held each request to its own schema); a
 * failure is told in the terms of the schema whose fields the answer has, else the first's.
 */
export function eitherAnswer(rows: AnswerSchema, documents: AnswerSchema): AnswerSchema {
  const validator: AnswerValidator = {
    safeParse(value) {
      const row = rows.validator.safeParse(value);
      if (row.success) return row;
      const document = documents.validator.safeParse(value);
      if (document.success) return document;
      const keys = typeof value === 'object' && value !== null ? Object.keys(value) : [];
      return keys.some((key) => documents.fields.includes(key) && !rows.fields.includes(key)) ? document : row;
    },
  };
  return { jsonSchema: rows.jsonSchema, validator, fields: [...new Set([...rows.fields, ...documents.fields])] };
}

const SUBSCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions'];
const SUBSCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const SUBSCHEMAS = ['items', 'not', 'if', 'then', 'else', 'additionalProperties'];

/** Maps every subschema of a JSON Schema (a deep copy; the input is not changed). */
function mapSchema(schema: unknown, fn: (node: JSONSchema) => JSONSchema): unknown {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return schema;
  const node: JSONSchema = { ...(schema as JSONSchema) };
  for (const key of SUBSCHEMA_MAPS) {
    const map = node[key];
    if (typeof map === 'object' && map !== null) {
      node[key] = Object.fromEntries(Object.entries(map).map(([name, sub]) => [name, mapSchema(sub, fn)]));
    }
  }
  for (const key of SUBSCHEMA_LISTS) {
    const list = node[key];
    if (Array.isArray(list)) node[key] = list.map((sub) => mapSchema(sub, fn));
  }
  for (const key of SUBSCHEMAS) if (key in node) node[key] = mapSchema(node[key], fn);
  return fn(node);
}

/** An object schema without `additionalProperties` gets `false`, as the API requires and the SDK sends. */
function closeObjects(schema: JSONSchema): JSONSchema {
  return mapSchema(schema, (node) =>
    (node['type'] === 'object' || 'properties' in node) && !('additionalProperties' in node) ? { ...node, additionalProperties: false } : node,
  ) as JSONSchema;
}

/** zod writes `z.number().int()` with the safe-integer bounds, which say nothing but would be sent as description text. */
function withoutSafeIntegerBounds(schema: JSONSchema): JSONSchema {
  return mapSchema(schema, (node) => {
    const { minimum, maximum, ...rest } = node;
    return {
      ...rest,
      ...(minimum === undefined || minimum === Number.MIN_SAFE_INTEGER ? {} : { minimum }),
      ...(maximum === undefined || maximum === Number.MAX_SAFE_INTEGER ? {} : { maximum }),
    };
  }) as JSONSchema;
}
