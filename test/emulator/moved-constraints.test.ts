import { transformJSONSchema } from '@anthropic-ai/sdk/lib/transform-json-schema';
import { describe, expect, it } from 'vitest';
import { generateFromSchema } from '../../src/emulator/index.ts';
import { rngFor } from '../../src/emulator/random.ts';
import { newAjv } from '../helpers/spec.ts';

describe('answers for a schema the SDK transformed', () => {
  // The SDK moves constraints the API cannot enforce into the description ("{minimum: 0, maximum: 1}");
  // a model follows them, so the emulator's answers must validate against the *original* schema.
  const original = {
    type: 'object',
    properties: {
      confidence: { type: 'number', minimum: 0, maximum: 1, description: 'how sure' },
      hours: { type: 'integer', minimum: 1, maximum: 168 },
      code: { type: 'string', minLength: 3, maxLength: 3 },
      tags: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 4 },
    },
    required: ['confidence', 'hours', 'code', 'tags'],
    additionalProperties: false,
  };
  const sent = transformJSONSchema(original);

  it('moves the constraints out of the schema that is sent (the premise)', () => {
    expect(JSON.stringify(sent)).not.toMatch(/"maximum"/);
    expect((sent['properties'] as Record<string, { description?: string }>)['confidence']?.description).toMatch(/\{minimum: 0, maximum: 1\}$/);
  });

  it('generates answers within the moved constraints, for many seeds', () => {
    const validate = newAjv().compile(original);
    for (let seed = 0; seed < 200; seed++) {
      const value = generateFromSchema(sent, rngFor(seed, 'x'));
      expect(validate(value), `seed ${seed}: ${JSON.stringify(value)} ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });
});
