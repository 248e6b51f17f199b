/** The text helpers every command shares: sizes, counts, plurals, durations, and the closed-pipe test. */

/** `512 B`, `21.9 KiB`, `3.4 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

// Counts and plurals are the library's too (the sink's messages): kept in `core/text.ts`.
export { count, plural, printable, printableLines } from '../core/text.ts';

/**
 * A duration for people, in its two largest units, truncated and never negative: `45s`, `3m5s`,
 * `2h5m`, `1d3h` (the way `--deadline` reads them). The progress view and `status` both use it.
 * @example
 * formatDuration(2 * 3_600_000 + 5 * 60_000); // '2h5m'
 */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const units: [string, number][] = [
    ['d', Math.floor(seconds / 86_400)],
    ['h', Math.floor(seconds / 3600) % 24],
    ['m', Math.floor(seconds / 60) % 60],
    ['s', seconds % 60],
  ];
  const first = units.findIndex(([, n]) => n > 0);
  if (first === -1) return '0s';
  return units
    .slice(first, first + 2)
    .filter(([, n], i) => i === 0 || n > 0)
    .map(([unit, n]) => `${n}${unit}`)
    .join('');
}

/** `text`, cut to `max` characters with an ellipsis. */
export function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Whether writing failed because the reader went away (`| head`): a quiet end, not an error. Only
 * the error itself, as an output stream raises it: an error that merely has an EPIPE as its cause
 * (an API call whose socket broke, wrapped by the sink) is a failure to report, not a closed reader.
 */
export function isBrokenPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'EPIPE';
}
