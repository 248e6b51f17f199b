/**
 * Validates values against the vendored OpenAPI document (fixtures/spec/anthropic-openapi.json)
 * with ajv's 2020 dialect: `validateAgainstSpec('MessageBatch', body)` returns the errors, empty if valid.
 * Test-only (ajv is a dev dependency).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';

const specPath = fileURLToPath(new URL('../../fixtures/spec/anthropic-openapi.json', import.meta.url));
const spec = JSON.parse(readFileSync(specPath, 'utf8')) as { components: unknown };

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
ajv.addSchema({ $id: 'spec', components: spec.components });
const cache = new Map<string, ValidateFunction>();

/** Errors of `value` against `#/components/schemas/NAME` (empty array when valid). */
export function validateAgainstSpec(name: string, value: unknown): string[] {
  let validate = cache.get(name);
  if (!validate) {
    validate = ajv.compile({ $ref: `spec#/components/schemas/${name}` });
    cache.set(name, validate);
  }
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** A fresh ajv (2020 dialect) for validating generated values against ad-hoc JSON Schemas. */
export function newAjv(): Ajv2020 {
  const a = new Ajv2020({ strict: false, allErrors: true });
  // Minimal format checks (ajv-formats is not a dependency): enough to catch a wrong generator.
  a.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
  a.addFormat('time', /^\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  a.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  a.addFormat('email', /^[^@\s]+@[^@\s]+\.[^@\s]+$/);
  a.addFormat('uri', /^[a-z][a-z0-9+.-]*:\/\/\S+$/i);
  a.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  return a;
}
