/**
 * headroom: a rate-limit-aware `fetch`. It reads the rate-limit headers APIs
 * send back, keeps a live budget, and makes each call wait for budget before
 * it is sent.
 */

/** Limits known before any response: each is "so many per minute". */
export interface Limits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  inputTokensPerMinute?: number;
  outputTokensPerMinute?: number;
}

/**
 * Example tiers (Claude Sonnet, per model) from Anthropic's rate-limit page:
 * `"anthropic-free"` 5 requests and 25,000 tokens a minute,
 * `"anthropic-build"` 1,000 and 80,000, `"anthropic-build-plus"` 2,000 and
 * 160,000. Check your own limits in your console before relying on them.
 */
export type LimitsPreset = "anthropic-free" | "anthropic-build" | "anthropic-build-plus";

export interface ThrottlerOptions {
  /**
   * Calls in flight at most, over all partitions: a whole number from 1, or `Infinity`.
   * @default 32
   */
  maxConcurrent?: number;
  /**
   * Calls in flight in a partition before its first response has shown its
   * limits (unless `limits` gives them).
   * @default 1
   */
  probeConcurrency?: number;
  /**
   * Limits to respect before any response reports them.
   * @default undefined (none: probe, then follow the headers)
   */
  limits?: Limits | LimitsPreset;
  /**
   * Which calls share one budget: the URL origin plus the JSON body's `model`
   * (Anthropic and OpenAI limit each model separately), the origin alone, or
   * one budget for everything.
   * @default "origin-and-model"
   */
  partitionBy?: "origin-and-model" | "origin" | "none";
  /**
   * The fetch that sends the calls.
   * @default the global `fetch`, looked up at each call
   */
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
}

/** One dimension of a partition's live budget. */
export interface BudgetDimension {
  name: string;
  limit: number;
  /** What a new call may use now, net of calls in flight. */
  remaining: number;
  /** When the dimension is next full (epoch ms, local clock), where known. */
  resetAtMs?: number;
  refill: "continuous" | "window";
}

export interface PartitionSnapshot {
  key: string;
  queued: number;
  inFlight: number;
  /** Set while a 429 has paused the partition. */
  pausedUntilMs?: number;
  dimensions: BudgetDimension[];
}

/** Plain JSON of the live budget. */
export interface Snapshot {
  queued: number;
  inFlight: number;
  partitions: PartitionSnapshot[];
  counters: {
    dispatched: number;
    completed: number;
    /** 429 responses seen. */
    rateLimited: number;
    refused: number;
    cancelled: number;
  };
}

export declare class Throttler {
  /** @throws {TypeError} when an option is unknown or not of the allowed kind. */
  constructor(options?: ThrottlerOptions);
  /**
   * A drop-in `fetch`, already bound: it waits for budget, sends, reads the
   * response's rate-limit headers and resolves with the `Response`. Hand it
   * to an SDK: `new Anthropic({ fetch: throttler.fetch })`.
   * @throws {HeadroomError} `COST_EXCEEDS_LIMIT` when the call can never fit.
   */
  readonly fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  /** Plain JSON of the live budget. */
  snapshot(): Snapshot;
  /** Frees the wasm memory of this throttler; it must not be used afterwards. */
  free(): void;
}

/** One dimension as a response reported it. */
export interface ObservedDimension {
  /** `requests`, `tokens`, `input_tokens`, `output_tokens`, `priority_input_tokens`, `priority_output_tokens` or an IETF policy name. */
  name: string;
  limit?: number;
  remaining?: number;
  /** Absolute time on the local clock, skew-corrected. */
  resetAtMs?: number;
  /** The IETF `w`, when given. */
  windowMs?: number;
  refill: "continuous" | "window";
  source: "anthropic" | "openai" | "ietf" | "ietf-legacy" | "x-ratelimit";
}

/** Everything one response said about rate limits. */
export interface Observation {
  dimensions: ObservedDimension[];
  /** From `retry-after-ms`, else `Retry-After`; relative to `nowMs`. */
  retryAfterMs?: number;
  /** `x-should-retry`. */
  shouldRetry?: boolean;
  /** Server `Date` minus local `nowMs`, when a `Date` header is present. */
  skewMs?: number;
}

/**
 * Reads every rate-limit header dialect into one Observation. Malformed
 * fields are ignored.
 * @param nowMs the local time the response arrived; default `Date.now()`.
 * @throws {TypeError} when `headers` is not a Headers, a plain object or an array of pairs.
 */
export declare function parseRateLimitHeaders(
  headers: Headers | Record<string, string | string[]> | Array<[string, string]>,
  nowMs?: number,
): Observation;

export type HeadroomErrorCode = "COST_EXCEEDS_LIMIT";

/** The error headroom rejects with, with a machine-readable `code` and the numbers involved. */
export declare class HeadroomError extends Error {
  readonly name: "HeadroomError";
  readonly code: HeadroomErrorCode;
  /** With `COST_EXCEEDS_LIMIT`: the dimension, the call's cost and the limit. */
  readonly dimension?: string;
  readonly cost?: number;
  readonly limit?: number;
}
