/**
 * A job's name when none is given: its input's label and a hash of what its requests are made of
 * (prompt, system prompt, answer schema, model, max_tokens: the caller's list) and, when known, of
 * where its input is. Two jobs of other settings or inputs get two names, so `status`, `cancel --job`
 * and gc's per-job rules never take one for the other.
 * @example
 * settingsJobName('tickets.csv', ['Triage: {{text}}', null, undefined, 'claude-haiku-4-5', 1024], '/data/tickets.csv'); // 'tickets.csv-' + 8 hex digits
 */
import { createHash } from 'node:crypto';

export function settingsJobName(label: string, settings: readonly unknown[], where?: string): string {
  const hash = createHash('sha256').update(JSON.stringify(settings));
  if (where !== undefined) hash.update(`\0${where}`);
  return `${label}-${hash.digest('hex').slice(0, 8)}`;
}
