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
    if (schema instanceof z.ZodType) {
      validator = schema;
      jsonSchema = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output' }) as JSONSchema;
    } else {
      jsonSchema = { ...schema }; // a copy: `$schema` is deleted below, and the caller's object is theirs
      validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    }
  } catch (error) {
    throw new BatchEnrichError('BE_USAGE', `Invalid schema in ${source}: ${(error as Error).message}`, { cause: error });
  }
  delete jsonSchema['$schema'];
  const properties = jsonSchema['type'] === 'object' ? jsonSchema['properties'] : undefined;
  const fields = typeof properties === 'object' && properties !== null ? Object.keys(properties) : [];
  return { jsonSchema, validator: validator as AnswerValidator, fields };
}
