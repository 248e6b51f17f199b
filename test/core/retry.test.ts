/** Which stored failures a new run sends again: the pure rules of `core/retry.ts`. */
import { describe, expect, it } from 'vitest';
import { failedForGoneFile, isTransientFailure, mayHaveFailedForFiles } from '../../src/core/retry.ts';

const errored = (type: string, message: string) => JSON.stringify({ type: 'errored', error: { type: 'error', error: { type, message } } });
const sends = (...ids: string[]) => JSON.stringify([{ role: 'user', content: ids.map((id) => ({ type: 'document', source: { type: 'file', file_id: id } })) }]);

describe('stored failures a new run tries again', () => {
  it.each([
    ['overloaded', errored('overloaded_error', 'Overloaded'), true, false],
    ['expired', JSON.stringify({ type: 'expired' }), true, false],
    ['canceled', JSON.stringify({ type: 'canceled' }), true, false],
    ['invalid request', errored('invalid_request_error', 'messages.0.content.0.source.file_id: File not found: file_01abc'), false, true],
    ['not found', errored('not_found_error', 'File not found: file_01abc'), false, true],
    // The request's own failure: no file named, so no file of it to check again (helper-94 #3).
    ['invalid request naming no file', errored('invalid_request_error', 'prompt is too long: 212000 tokens > 200000 maximum'), false, false],
    ['succeeded', JSON.stringify({ type: 'succeeded', message: { content: [] } }), false, false],
  ])('%s (%s): transient %s, may have failed for its files %s', (_, result, transient, files) => {
    expect(isTransientFailure(result)).toBe(transient);
    expect(mayHaveFailedForFiles(result)).toBe(files);
  });

  it('failedForGoneFile: only when the failure names a file the request no longer sends', () => {
    const gone = errored('invalid_request_error', 'messages.0.content.0.source.file_id: File not found: file_01old (unknown, deleted or expired)');
    expect(failedForGoneFile(gone, sends('file_01new'))).toBe(true);
    // The same file again would fail the same way.
    expect(failedForGoneFile(gone, sends('file_01old'))).toBe(false);
    // A failure naming no file is the request's own (a bad PDF, too many pages).
    expect(failedForGoneFile(errored('invalid_request_error', 'messages.0.content.0.source: A maximum of 100 PDF pages may be provided'), sends('file_01new'))).toBe(false);
    // A request that sends no file, and a transient failure (sent again anyway), are not this rule's.
    expect(failedForGoneFile(gone, '[{"role":"user","content":"hi"}]')).toBe(false);
    expect(failedForGoneFile(errored('overloaded_error', 'file_01old'), sends('file_01new'))).toBe(false);
    // Of two files, one renewed is enough: what it sends is no longer what failed.
    expect(failedForGoneFile(gone, sends('file_01kept', 'file_01new'))).toBe(true);
  });
});
