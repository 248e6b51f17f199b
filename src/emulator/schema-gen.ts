/**
 * Generates a value that validates against a JSON Schema, deterministically from a PRNG: what the
 * emulator answers for `output_config.format` (json_schema) and for a forced tool's `input_schema`.
 * Supported: object (properties, required, additionalProperties), string (enum, const, format,
 * minLength/maxLength), number/integer (minimum/maximum, exclusive bounds, multipleOf), boolean,
 * null, array (items, prefixItems, minItems/maxItems, uniqueItems for small enums), anyOf/oneOf,
 * allOf (merged shallowly), `type: [..., "null"]`, OpenAPI `nullable`, and `$ref` into
 * `$defs`/`definitions` of the root schema. Recursion is bounded by depth (past it, the generator
 * chooses the shortest branch: null, empty arrays, only required properties), and the work by size:
 * arrays get at most `MAX_ITEMS` items and strings at most `MAX_STRING` characters whatever the schema
 * says (a `minItems: 100000000` request is answered with a short array, as a model would stop at
 * `max_tokens`), and past `MAX_VALUES` generated values everything takes the shortest branch. A
 * `$ref` that does not resolve (external, or missing) is treated as `{}` rather than thrown, so one
 * odd schema cannot cut a results download. Property names are set as own properties, so a property
 * named `__proto__` is answered like any other.
 * Rejected alternative: a general JSON-Schema sampler library, which would be a runtime dependency
 * for a test double; `pattern` is not honoured (values are plain words), documented here.
 */
import type { Rng } from './random.ts';
import { resolvePointer } from '../core/schema-limits.ts';
import { pick, randInt } from './random.ts';

type Schema = Record<string, unknown>;

const WORDS = [
  'amber', 'bridge', 'cobalt', 'delta', 'ember', 'fjord', 'granite', 'harbor', 'indigo', 'juniper',
  'kestrel', 'lagoon', 'meadow', 'nimbus', 'orchid', 'prairie', 'quartz', 'river', 'summit', 'tundra',
];

const MAX_DEPTH = 8;
const MAX_ITEMS = 64;
const MAX_STRING = 4096;
const MAX_VALUES = 20_000;

/** What one generation shares: the root (for `$ref`s), the PRNG, and the values left in its budget. */
interface Ctx {
  root: Schema;
  rng: Rng;
  left: number;
}

/** Sets an own, enumerable property (plain assignment of `__proto__` would set the prototype instead). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isObj(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolveRef(root: Schema, ref: string): Schema {
  const target = resolvePointer(root, ref);
  return isObj(target) ? target : {};
}

/** Generate a value valid against `schema` (the root, for `$ref` resolution). */
export function generateFromSchema(schema: unknown, rng: Rng): unknown {
  const root = isObj(schema) ? schema : {};
  return gen(root, { root, rng, left: MAX_VALUES }, 0);
}

/**
 * Constraints the API cannot enforce (such as `minimum` or `maxLength`) are moved by the SDK's
 * `transformJSONSchema` into the description, as `{minimum: 0, maximum: 1}` at its end. A model
 * reads and follows them; so does the emulator, by putting them back before generating.
 */
const MOVED_CONSTRAINTS = /\{((?:[a-zA-Z]+: [^,{}]+)(?:, [a-zA-Z]+: [^,{}]+)*)\}$/;
function withDescribedConstraints(schema: Schema): Schema {
  const description = schema['description'];
  const match = typeof description === 'string' ? MOVED_CONSTRAINTS.exec(description) : null;
  if (!match?.[1]) return schema;
  const moved: Schema = {};
  for (const pair of match[1].split(', ')) {
    const colon = pair.indexOf(': ');
    try {
      const key = pair.slice(0, colon);
      if (!(key in schema)) moved[key] = JSON.parse(pair.slice(colon + 2));
    } catch {
      return schema; // not the SDK's notation after all
    }
  }
  return { ...schema, ...moved };
}

function gen(input: Schema | boolean, ctx: Ctx, inDepth: number): unknown {
  if (input === true || input === false) return null;
  const { root, rng } = ctx;
  // Out of budget: every choice from here on is the shortest one.
  const depth = --ctx.left > 0 ? inDepth : MAX_DEPTH;
  const schema = withDescribedConstraints(input);
  const ref = schema['$ref'];
  if (typeof ref === 'string') {
    const { $ref: _ignored, ...rest } = schema;
    const target = resolveRef(root, ref);
    return gen({ ...target, ...rest }, ctx, depth + 1);
  }
  if ('const' in schema) return schema['const'];
  const en = schema['enum'];
  if (Array.isArray(en) && en.length > 0) return pick(rng, en);

  const nullable = schema['nullable'] === true;
  if (nullable && (depth >= MAX_DEPTH || rng() < 0.2)) return null;

  const allOf = schema['allOf'];
  if (Array.isArray(allOf) && allOf.length > 0) {
    const { allOf: _a, ...rest } = schema;
    return gen(mergeAll(rest, allOf.filter(isObj).map((s) => derefShallow(s, root))), ctx, depth);
  }
  const union = (schema['anyOf'] ?? schema['oneOf']) as unknown;
  if (Array.isArray(union) && union.length > 0) {
    const branches = union.filter((b): b is Schema => isObj(b));
    const { anyOf: _a, oneOf: _o, ...rest } = schema;
    let branch: Schema | undefined;
    if (depth >= MAX_DEPTH) branch = branches.find((b) => b['type'] === 'null') ?? branches[0];
    // For oneOf, prefer a branch unlikely to overlap others: the first one is as good as any here.
    else branch = schema['oneOf'] !== undefined ? branches[0] : pick(rng, branches);
    return gen({ ...rest, ...(branch ?? {}) }, ctx, depth + 1);
  }

  let type = schema['type'];
  if (Array.isArray(type)) {
    const types = type.filter((t): t is string => typeof t === 'string');
    const nonNull = types.filter((t) => t !== 'null');
    if (nonNull.length === 0) return null;
    if (types.includes('null') && (depth >= MAX_DEPTH || rng() < 0.2)) return null;
    type = pick(rng, nonNull);
  }
  if (type === undefined) {
    if (isObj(schema['properties']) || schema['required'] !== undefined) type = 'object';
    else if (schema['items'] !== undefined || schema['prefixItems'] !== undefined) type = 'array';
    else type = 'string';
  }
  switch (type) {
    case 'null':
      return null;
    case 'boolean':
      return rng() < 0.5;
    case 'integer':
      return genNumber(schema, rng, true);
    case 'number':
      return genNumber(schema, rng, false);
    case 'string':
      return genString(schema, rng);
    case 'array':
      return genArray(schema, ctx, depth);
    case 'object':
      return genObject(schema, ctx, depth);
    default:
      return null;
  }
}

function derefShallow(s: Schema, root: Schema): Schema {
  const ref = s['$ref'];
  return typeof ref === 'string' ? resolveRef(root, ref) : s;
}

function mergeAll(base: Schema, parts: Schema[]): Schema {
  const out: Schema = { ...base };
  const props: Schema = {};
  if (isObj(base['properties'])) for (const [name, sub] of Object.entries(base['properties'])) setOwn(props, name, sub);
  const required = new Set<string>(Array.isArray(base['required']) ? (base['required'] as string[]) : []);
  for (const p of parts) {
    for (const [k, v] of Object.entries(p)) {
      if (k === 'properties' && isObj(v)) for (const [name, sub] of Object.entries(v)) setOwn(props, name, sub);
      else if (k === 'required' && Array.isArray(v)) for (const r of v) required.add(String(r));
      else setOwn(out, k, v);
    }
  }
  if (Object.keys(props).length > 0) out['properties'] = props;
  if (required.size > 0) out['required'] = [...required];
  return out;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function genNumber(schema: Schema, rng: Rng, integer: boolean): number {
  let min = num(schema['minimum']);
  let max = num(schema['maximum']);
  const exMin = num(schema['exclusiveMinimum']);
  const exMax = num(schema['exclusiveMaximum']);
  const step = integer ? 1 : 0.01;
  if (exMin !== undefined) min = min === undefined ? exMin + step : Math.max(min, exMin + step);
  if (exMax !== undefined) max = max === undefined ? exMax - step : Math.min(max, exMax - step);
  if (min === undefined && max === undefined) {
    min = 0;
    max = 100;
  } else if (min === undefined) min = (max as number) - 100;
  else if (max === undefined) max = min + 100;
  let lo = min;
  let hi = max as number;
  if (integer) {
    lo = Math.ceil(lo);
    hi = Math.floor(hi);
  }
  if (hi < lo) hi = lo;
  const multipleOf = num(schema['multipleOf']);
  if (multipleOf !== undefined && multipleOf > 0) {
    const first = Math.ceil(lo / multipleOf);
    const last = Math.floor(hi / multipleOf);
    const k = last >= first ? randInt(rng, first, last) : first;
    return Number((k * multipleOf).toFixed(10));
  }
  if (integer) return randInt(rng, lo, hi);
  return Math.round((lo + rng() * (hi - lo)) * 100) / 100;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function genString(schema: Schema, rng: Rng): string {
  const format = schema['format'];
  switch (format) {
    case 'date-time':
      return `2026-${pad2(randInt(rng, 1, 12))}-${pad2(randInt(rng, 1, 28))}T${pad2(randInt(rng, 0, 23))}:${pad2(randInt(rng, 0, 59))}:00Z`;
    case 'date':
      return `2026-${pad2(randInt(rng, 1, 12))}-${pad2(randInt(rng, 1, 28))}`;
    case 'time':
      return `${pad2(randInt(rng, 0, 23))}:${pad2(randInt(rng, 0, 59))}:00Z`;
    case 'email':
      return `${pick(rng, WORDS)}@example.com`;
    case 'hostname':
      return `${pick(rng, WORDS)}.example.com`;
    case 'uri':
    case 'url':
      return `https://example.com/${pick(rng, WORDS)}`;
    case 'uuid': {
      const hex = () => Math.floor(rng() * 16).toString(16);
      const part = (n: number) => Array.from({ length: n }, hex).join('');
      return `${part(8)}-${part(4)}-4${part(3)}-a${part(3)}-${part(12)}`;
    }
    case 'ipv4':
      return `10.${randInt(rng, 0, 255)}.${randInt(rng, 0, 255)}.${randInt(rng, 1, 254)}`;
    default:
      break;
  }
  const minLength = Math.min(num(schema['minLength']) ?? 0, MAX_STRING);
  const maxLength = num(schema['maxLength']);
  let s = `${pick(rng, WORDS)} ${pick(rng, WORDS)}`;
  while (s.length < minLength) s += ` ${pick(rng, WORDS)}`;
  if (maxLength !== undefined && s.length > maxLength) s = s.slice(0, Math.max(maxLength, minLength));
  return s;
}

function genArray(schema: Schema, ctx: Ctx, depth: number): unknown[] {
  const { rng } = ctx;
  const minItems = Math.min(num(schema['minItems']) ?? 0, MAX_ITEMS);
  const maxItems = num(schema['maxItems']);
  const prefix = Array.isArray(schema['prefixItems']) ? (schema['prefixItems'] as unknown[]).slice(0, MAX_ITEMS) : [];
  const items = schema['items'];
  const itemSchema: Schema | boolean = isObj(items) || typeof items === 'boolean' ? items : {};
  let count = depth >= MAX_DEPTH ? minItems : minItems + randInt(rng, minItems === 0 ? 1 : 0, 2);
  count = Math.max(count, Math.min(prefix.length, maxItems ?? prefix.length));
  if (maxItems !== undefined) count = Math.min(count, maxItems);
  if (items === false) count = Math.min(count, prefix.length);
  const out: unknown[] = [];
  const seen = new Set<string>();
  for (let i = 0, attempts = 0; out.length < count && attempts < count * 10; attempts++) {
    const s = i < prefix.length ? (prefix[i] as Schema | boolean) : itemSchema;
    const v = gen(s, ctx, depth + 1);
    if (schema['uniqueItems'] === true) {
      const key = JSON.stringify(v);
      if (seen.has(key)) continue;
      seen.add(key);
    }
    out.push(v);
    i++;
  }
  return out;
}

function genObject(schema: Schema, ctx: Ctx, depth: number): Record<string, unknown> {
  const props = isObj(schema['properties']) ? schema['properties'] : {};
  const required = new Set(Array.isArray(schema['required']) ? (schema['required'] as unknown[]).map(String) : []);
  const out: Record<string, unknown> = {};
  // Required properties first, then optional ones (as the API's constrained decoding does).
  for (const key of required) {
    const s = Object.hasOwn(props, key) ? props[key] : undefined;
    setOwn(out, key, gen(isObj(s) || typeof s === 'boolean' ? s : {}, ctx, depth + 1));
  }
  if (depth < MAX_DEPTH) {
    for (const [key, s] of Object.entries(props)) {
      if (required.has(key)) continue;
      if (isObj(s) || s === true) setOwn(out, key, gen(s, ctx, depth + 1));
    }
  }
  return out;
}
