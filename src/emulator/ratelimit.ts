/**
 * The `anthropic-ratelimit-*` headers of `POST /v1/messages`, from fixed one-minute windows: the
 * API sends `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
 * on every Messages response [DOC §3.3 "…plus the anthropic-ratelimit-* headers"; rate-limits doc],
 * `reset` being an RFC 3339 time. The emulator only reports (nothing is refused by these counts; use
 * `messagesConcurrency` for 429s). The limits are a choice (README, emulator section): a Scale-like
 * tier, 4,000 requests, 2,000,000 input and 400,000 output tokens per minute.
 */
export const DEFAULT_RATE_LIMITS = { requests: 4000, inputTokens: 2_000_000, outputTokens: 400_000 } as const;

const WINDOW_MS = 60_000;

export class RateWindow {
  readonly #limits: { requests: number; inputTokens: number; outputTokens: number };
  #start = Number.NEGATIVE_INFINITY;
  #requests = 0;
  #input = 0;
  #output = 0;

  constructor(limits: { requests: number; inputTokens: number; outputTokens: number } = DEFAULT_RATE_LIMITS) {
    this.#limits = limits;
  }

  /** Counts one call at `now` (ms) and returns the headers for its response. */
  record(now: number, inputTokens: number, outputTokens: number): Record<string, string> {
    if (now >= this.#start + WINDOW_MS) {
      this.#start = now - (now % WINDOW_MS);
      this.#requests = 0;
      this.#input = 0;
      this.#output = 0;
    }
    this.#requests++;
    this.#input += inputTokens;
    this.#output += outputTokens;
    const reset = new Date(this.#start + WINDOW_MS).toISOString();
    const l = this.#limits;
    const entry = (name: string, limit: number, used: number): Array<[string, string]> => [
      [`anthropic-ratelimit-${name}-limit`, String(limit)],
      [`anthropic-ratelimit-${name}-remaining`, String(Math.max(0, limit - used))],
      [`anthropic-ratelimit-${name}-reset`, reset],
    ];
    return Object.fromEntries([
      ...entry('requests', l.requests, this.#requests),
      ...entry('tokens', l.inputTokens + l.outputTokens, this.#input + this.#output),
      ...entry('input-tokens', l.inputTokens, this.#input),
      ...entry('output-tokens', l.outputTokens, this.#output),
    ]);
  }
}
