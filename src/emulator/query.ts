/**
 * Query parameters of the list routes, read as the API reads them. Pure: the raw value in, the value or
 * the `ApiError` the API answers out.
 */
import { ApiError } from './api-error.ts';

/**
 * An integer as Pydantic reads one from a string (the API's validation errors are Pydantic's): decimal
 * digits, with surrounding whitespace, a sign, single `_` between digits and a `.0…` fraction taken
 * (UNCONFIRMED that the API's query parsing takes those; README, emulator section). Not hex, binary,
 * exponents or other fractions, which `Number()` read as integers (helper-79 #11).
 */
const INTEGER = /^[+-]?\d+(?:_\d+)*(?:\.0+)?$/;

/**
 * A list's `limit` [SPEC GET /v1/messages/batches, GET /v1/files, GET /v1/models: query `limit` an integer, minimum 1,
 * maximum 1,000, default 20]; anything else a 400 `invalid_request_error` [SPEC: a 4XX; DOC §2.5: 400 for a
 * "format/content problem"] (the wording is ours).
 */
export function parseLimit(raw: string | null): number {
  if (raw === null) return 20;
  const n = parseInteger(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new ApiError(400, 'invalid_request_error', `limit: Input should be an integer between 1 and 1000, got '${raw}'`);
  return n;
}

/** An integer written as `INTEGER` reads one (surrounding whitespace taken), else NaN: for query and form fields. */
export function parseInteger(raw: string): number {
  const text = raw.trim();
  return INTEGER.test(text) ? Number(text.replaceAll('_', '')) : NaN;
}
