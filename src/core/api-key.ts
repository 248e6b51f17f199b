/**
 * What keeps an API key out of an HTTP header: a line break, a blank, a control or non-ASCII character
 * inside it. Blanks and line ends around it are no problem: they are left out when it is sent, as
 * fetch does (a key read from a file with its line end worked, and works: helper-87). The HTTP
 * layer's own error for such a key ("Headers.append: … is an invalid header value") quotes it whole
 * (helper-85), so it is refused before any call, by where it is at fault, never by what it holds.
 */
export function apiKeyProblem(key: string): string | undefined {
  const lead = key.length - key.trimStart().length;
  const inner = key.trim().search(/[^\x21-\x7e]/);
  if (inner === -1) return undefined;
  const c = key.charCodeAt(lead + inner);
  const what = c === 0x0a || c === 0x0d ? 'a line break' : c === 0x20 || c === 0x09 || c === 0xa0 ? 'a blank' : c < 0x20 || c === 0x7f ? 'a control character' : 'a character outside ASCII';
  return `holds ${what} (at character ${lead + inner + 1} of ${key.length}): an API key is one line of printable characters; set it again without it (read from a file, it kept the file's line end?)`;
}

/**
 * `message` with `key`, and each line of it, replaced by `as`: a message built by a layer below (the
 * HTTP layer's quotes a header whole) must not carry a key. Only what is long enough to be a secret:
 * a test key such as `emulator` or `invoices` is a word messages use (helper-87).
 */
export function withoutSecret(message: string, key: string | undefined, as: string): string {
  if (!key) return message;
  let out = message;
  for (const part of [key, ...key.split(/[\r\n]+/)]) {
    if (part.trim().length >= MIN_SECRET_CHARS) out = out.split(part.trim()).join(as);
  }
  return out;
}

/** The shortest key, or line of one, that `withoutSecret` takes for a secret (the API's keys are about 100 characters). */
const MIN_SECRET_CHARS = 20;
