/** Small formatting and stream helpers shared by the commands. */

/** `512 B`, `21.9 KiB`, `3.4 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** A whole number with thousands separators: `1,000,000`. */
export function count(value: number): string {
  return Math.round(value).toLocaleString('en');
}

/** Whether writing failed because the reader went away (`| head`): a quiet end, not an error. */
export function isBrokenPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'EPIPE' || (error as { cause?: NodeJS.ErrnoException })?.cause?.code === 'EPIPE';
}
