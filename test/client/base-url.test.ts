/**
 * What `ANTHROPIC_BASE_URL` may be: an http(s) URL with no credentials in it. Anything else is refused
 * before any call, without printing what may be a secret: the SDK would otherwise hang on an unknown
 * scheme in batch mode, and the ledger would store (and `status` print) the URL as the identity.
 */
import { describe, expect, it } from 'vitest';
import { checkBaseUrl } from '../../src/client/client.ts';

describe('checkBaseUrl', () => {
  const refused: { url: string; message: RegExp; secret?: string }[] = [
    { url: 'user:s3cretpw@127.0.0.1:18977', message: /must start with http:\/\/ or https:\/\/ .*: 127\.0\.0\.1:18977$/, secret: 's3cretpw' },
    { url: 'localhost:18977', message: /must start with http:\/\/ or https:\/\/ .*: localhost:18977; did you mean http:\/\/localhost:18977\?$/ },
    { url: 'ftp://127.0.0.1:18977', message: /must start with http:\/\/ or https:\/\/ .*: ftp:\/\/127\.0\.0\.1:18977$/ },
    { url: 'ftp://bob:hunter2@10.0.0.1', message: /must start with http:\/\/ or https:\/\/ .*: ftp:\/\/10\.0\.0\.1$/, secret: 'hunter2' },
    { url: 'http://alice:pw-123@127.0.0.1:1', message: /carries a user name or password .*remove it/, secret: 'pw-123' },
    { url: 'http://127.0.0.1:18977/?token=s3cretQS', message: /carries a query string or fragment .*remove it/, secret: 's3cretQS' },
    { url: 'https://proxy.example/#key=s3cretFR', message: /carries a query string or fragment/, secret: 's3cretFR' },
    { url: 'not a url', message: /is not a URL/ },
    { url: 'user:pa/ss@host:8080', message: /must start with http:\/\/ or https:\/\/ .*: host:8080$/, secret: 'pa/ss' },
    { url: 'user:p@ss@host:8080', message: /must start with http:\/\/ or https:\/\/ .*: host:8080$/, secret: 'p@ss' },
    { url: 'ftp://bob:a/b@10.0.0.1', message: /is not a URL: "ftp:\/\/10\.0\.0\.1"/, secret: 'a/b' },
  ];
  for (const { url, message, secret } of refused) {
    it(`refuses ${url}`, () => {
      let thrown: unknown;
      try {
        checkBaseUrl(url);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: 'BE_USAGE', message: expect.stringMatching(message) });
      if (secret) expect((thrown as Error).message).not.toContain(secret);
    });
  }

  it.each(['https://api.anthropic.com', 'http://127.0.0.1:18977', 'https://gateway.example/anthropic/', 'HTTP://LOCALHOST:8080'])('takes %s', (url) => {
    expect(() => checkBaseUrl(url)).not.toThrow();
  });
});
