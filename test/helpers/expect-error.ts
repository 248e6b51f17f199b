/**
 * One assertion for batch-enrich errors (style rule 15, after csv-parse's `assert_error`): the thrown
 * value must be a `BatchEnrichError` with the given `code`, and, when given, a message matching
 * `message` (a RegExp, or a substring), and the given `line` and `file` fields. Returns the error for
 * further checks. Fails when nothing is thrown.
 */
import { expect } from 'vitest';
import { BatchEnrichError, isBatchEnrichError, type BatchEnrichErrorCode } from '../../src/errors.ts';

export interface ExpectedError {
  code: BatchEnrichErrorCode;
  /** A RegExp the message must match, or a string it must contain. */
  message?: RegExp | string;
  /** The `line` field; pass `undefined` to require that it is absent. */
  line?: number | undefined;
  /** The `file` field; pass `undefined` to require that it is absent. */
  file?: string | undefined;
}

/** Awaits the promise (or calls the function and awaits what it returns) and checks what it throws. */
export async function expectError(subject: Promise<unknown> | (() => unknown), expected: ExpectedError): Promise<BatchEnrichError> {
  let thrown: unknown;
  let threw = false;
  try {
    await (typeof subject === 'function' ? subject() : subject);
  } catch (error) {
    threw = true;
    thrown = error;
  }
  return check(threw, thrown, expected);
}

/** The same check for a function that throws synchronously. */
export function expectErrorSync(fn: () => unknown, expected: ExpectedError): BatchEnrichError {
  let thrown: unknown;
  let threw = false;
  try {
    fn();
  } catch (error) {
    threw = true;
    thrown = error;
  }
  return check(threw, thrown, expected);
}

/** Checks an error value that was caught elsewhere. */
export function assertError(error: unknown, expected: ExpectedError): BatchEnrichError {
  return check(true, error, expected);
}

function check(threw: boolean, thrown: unknown, expected: ExpectedError): BatchEnrichError {
  if (!threw) expect.fail(`expected a BatchEnrichError with code ${expected.code}, but nothing was thrown`);
  if (!(thrown instanceof BatchEnrichError) || !isBatchEnrichError(thrown)) {
    expect.fail(`expected a BatchEnrichError with code ${expected.code}, got ${String(thrown)}`);
  }
  const error = thrown;
  expect(error.code, `code of: ${error.message}`).toBe(expected.code);
  if (expected.message !== undefined) {
    if (typeof expected.message === 'string') expect(error.message).toContain(expected.message);
    else expect(error.message).toMatch(expected.message);
  }
  if ('line' in expected) expect(error.line, `line of: ${error.message}`).toBe(expected.line);
  if ('file' in expected) expect(error.file, `file of: ${error.message}`).toBe(expected.file);
  return error;
}
