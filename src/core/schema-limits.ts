/**
 * What structured outputs refuse in a JSON Schema (`output_config.format.schema`, or a `strict: true`
 * tool's `input_schema`), as a pure, bounded check. The emulator answers these requests with an
 * `invalid_request_error`, and the CLI and library check the answer schema with the same function
 * before anything is sent, so a user never pays for a job whose every row would error.
 *
 * Rules and sources:
 *  - "24 optional params" and "16 union-typed params" across the strict schemas of a request, and
 *    "Schema is too complex for compilation" [docs/anthropic-batches-api.md §3.4, structured-outputs doc];
 *  - recursive schemas, numeric/length constraints (`minimum`, `maxLength`, …) and `minItems` above 1
 *    are unsupported [§5]; every object needs `additionalProperties: false` [§5];
 *  - the supported keywords are the ones the SDK's `transformJSONSchema` keeps in the schema (`$defs`,
 *    `$ref`, primitive `enum`/`const`, `type`, `anyOf`/`oneOf`, `allOf`, `properties`, `required`,
 *    `additionalProperties: false`, `items`, `minItems` 0 or 1, the string formats it lists); it moves
 *    every other constraint into the description [SDK lib/transform-json-schema.ts];
 *  - only local `$ref`s (`#/…`); `allOf` with a `$ref` inside is refused. UNCONFIRMED (the docs list
 *    them as unsupported without the wording): the exact messages, chosen here.
 * Bounded work: the schema is walked once (each `$defs` entry once, `$ref`s followed only to detect
 * cycles), with at most `MAX_SCHEMA_NODES` nodes and `MAX_SCHEMA_DEPTH` levels; past either it is
 * "too complex", as the API says of schemas it cannot compile.
 */

export const MAX_OPTIONAL_PROPERTIES = 24;
export const MAX_UNION_PROPERTIES = 16;
export const MAX_STRICT_TOOLS = 20;
export const MAX_SCHEMA_NODES = 5000;
export const MAX_SCHEMA_DEPTH = 64;

/** The string formats structured outputs support (the SDK's `SUPPORTED_STRING_FORMATS`). */
const SUPPORTED_FORMATS = new Set(['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'uri', 'ipv4', 'ipv6', 'uuid']);

/** Keywords structured outputs refuse (the SDK moves them into the description). */
const UNSUPPORTED_KEYWORDS = [
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minLength', 'maxLength', 'maxItems',
  'uniqueItems', 'minProperties', 'maxProperties', 'patternProperties', 'propertyNames', 'dependentRequired',
  'dependentSchemas', 'if', 'then', 'else', 'not', 'contains', 'minContains', 'maxContains', 'unevaluatedProperties',
  'unevaluatedItems',
];

type Node = Record<string, unknown>;

function isObj(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A problem found in a schema: the JSON path inside the schema (`properties.a`) and the message. */
export interface SchemaLimitProblem {
  path: string;
  message: string;
}

/** Running totals across the strict schemas of one request. */
export interface SchemaTally {
  optional: number;
  unions: number;
}

export function newSchemaTally(): SchemaTally {
  return { optional: 0, unions: 0 };
}

class TooComplex extends Error {}

/**
 * The first thing structured outputs refuse in `schema`, or undefined. `tally` accumulates the
 * optional and union-typed property counts across the schemas of one request (pass the same object
 * for each strict schema).
 *
 * @example structuredOutputProblem({ type: 'object', properties: {}, additionalProperties: false }) // undefined
 */
export function structuredOutputProblem(schema: unknown, tally: SchemaTally = newSchemaTally()): SchemaLimitProblem | undefined {
  if (!isObj(schema)) return { path: '', message: 'Schema must be an object' };
  let nodes = 0;
  let found: SchemaLimitProblem | undefined;
  const fail = (path: string[], message: string) => {
    found ??= { path: path.join('.'), message };
  };

  const visit = (node: unknown, path: string[], depth: number): void => {
    if (found) return;
    if (++nodes > MAX_SCHEMA_NODES || depth > MAX_SCHEMA_DEPTH) throw new TooComplex();
    if (typeof node === 'boolean') return;
    if (!isObj(node)) return fail(path, 'Schema must be an object or a boolean');
    const ref = node['$ref'];
    if (ref !== undefined) {
      if (typeof ref !== 'string' || !ref.startsWith('#')) return fail([...path, '$ref'], `External $ref is not supported: ${JSON.stringify(ref)} (only references into this schema, such as '#/$defs/name')`);
      if (resolvePointer(schema, ref) === undefined) return fail([...path, '$ref'], `$ref ${JSON.stringify(ref)} does not resolve to a definition in this schema`);
    }
    for (const key of UNSUPPORTED_KEYWORDS) {
      if (Object.hasOwn(node, key)) return fail([...path, key], `'${key}' is not supported by structured outputs`);
    }
    const minItems = node['minItems'];
    if (minItems !== undefined && minItems !== 0 && minItems !== 1)
      return fail([...path, 'minItems'], `minItems values other than 0 or 1 are not supported by structured outputs, got ${JSON.stringify(minItems)}`);
    const format = node['format'];
    if (format !== undefined && (typeof format !== 'string' || !SUPPORTED_FORMATS.has(format)))
      return fail([...path, 'format'], `String format ${JSON.stringify(format)} is not supported by structured outputs`);
    const type = node['type'];
    const isObject = type === 'object' || (Array.isArray(type) && type.includes('object')) || isObj(node['properties']);
    if (isObject) {
      if (node['additionalProperties'] !== false)
        return fail([...path, 'additionalProperties'], "For 'object' type, 'additionalProperties' must be explicitly set to false");
      const props = isObj(node['properties']) ? node['properties'] : {};
      const required = new Set(Array.isArray(node['required']) ? node['required'].map(String) : []);
      for (const key of Object.keys(props)) if (!required.has(key)) tally.optional++;
    }
    // Union-typed: a type list (`["string", "null"]`), OpenAPI's `nullable`, or anyOf/oneOf.
    if ((Array.isArray(type) && type.length > 1) || node['nullable'] === true || Array.isArray(node['anyOf']) || Array.isArray(node['oneOf'])) tally.unions++;
    const allOf = node['allOf'];
    if (Array.isArray(allOf) && allOf.some((s) => isObj(s) && s['$ref'] !== undefined))
      return fail([...path, 'allOf'], "'allOf' with '$ref' is not supported by structured outputs");

    for (const mapKey of ['properties', '$defs', 'definitions']) {
      const map = node[mapKey];
      if (isObj(map)) for (const [name, sub] of Object.entries(map)) visit(sub, [...path, mapKey, name], depth + 1);
    }
    for (const listKey of ['anyOf', 'oneOf', 'allOf', 'prefixItems']) {
      const list = node[listKey];
      if (Array.isArray(list)) list.forEach((sub, i) => visit(sub, [...path, listKey, String(i)], depth + 1));
    }
    if (node['items'] !== undefined) visit(node['items'], [...path, 'items'], depth + 1);
  };

  try {
    visit(schema, [], 0);
    if (!found) {
      const cycle = refCycle(schema);
      if (cycle !== undefined) found = { path: cycle, message: 'Recursive schemas are not supported by structured outputs' };
    }
  } catch (error) {
    if (!(error instanceof TooComplex)) throw error;
    return { path: '', message: `Schema is too complex for compilation (more than ${MAX_SCHEMA_NODES} subschemas or ${MAX_SCHEMA_DEPTH} levels)` };
  }
  if (found) return found;
  if (tally.optional > MAX_OPTIONAL_PROPERTIES)
    return { path: '', message: `Schemas contain too many optional parameters (${tally.optional}; the limit is ${MAX_OPTIONAL_PROPERTIES}), which would make grammar compilation inefficient` };
  if (tally.unions > MAX_UNION_PROPERTIES)
    return { path: '', message: `Schemas contain too many parameters with union types (${tally.unions}; the limit is ${MAX_UNION_PROPERTIES}), which would make grammar compilation inefficient` };
  return undefined;
}

/** Resolves a local JSON pointer (`#/$defs/a`); own properties only, so `__proto__` is a plain name. */
export function resolvePointer(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let cur: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (isObj(cur)) cur = Object.hasOwn(cur, key) ? cur[key] : undefined;
    else if (Array.isArray(cur) && /^\d+$/.test(key)) cur = cur[Number(key)];
    else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** The path of a `$ref` that leads back to itself (directly or through other refs), if any. */
function refCycle(root: Node): string | undefined {
  // The refs found under each ref target (found once per target; the walk above bounded the schema size).
  const refsUnder = new Map<string, string[]>();
  const collect = (node: unknown, out: string[], budget: { n: number }): void => {
    if (--budget.n < 0) throw new TooComplex();
    if (Array.isArray(node)) for (const v of node) collect(v, out, budget);
    else if (isObj(node)) {
      if (typeof node['$ref'] === 'string') out.push(node['$ref']);
      for (const [k, v] of Object.entries(node)) if (k !== '$defs' && k !== 'definitions') collect(v, out, budget);
    }
  };
  const edges = (ref: string): string[] => {
    let out = refsUnder.get(ref);
    if (!out) {
      out = [];
      collect(resolvePointer(root, ref), out, { n: MAX_SCHEMA_NODES * 4 });
      refsUnder.set(ref, out);
    }
    return out;
  };
  const state = new Map<string, 'active' | 'done'>();
  const dfs = (ref: string): string | undefined => {
    const s = state.get(ref);
    if (s === 'active') return ref;
    if (s === 'done') return undefined;
    state.set(ref, 'active');
    for (const next of edges(ref)) {
      const hit = dfs(next);
      if (hit) return hit;
    }
    state.set(ref, 'done');
    return undefined;
  };
  const top: string[] = [];
  collect(root, top, { n: MAX_SCHEMA_NODES * 4 });
  // Refs inside $defs that are never used do not matter: only what the root reaches is compiled.
  for (const ref of top) {
    const hit = dfs(ref);
    if (hit) return hit.replace(/^#\/?/, '').split('/').join('.');
  }
  return undefined;
}
