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

/** The arguments of `fetch`, as `estimate` and `partitionBy` receive them. */
export type FetchInput = RequestInfo | URL;

/** What a call costs; `requests` defaults to 1, `tokens` to input + output. */
export interface Cost {
  requests?: number;
  tokens?: number;
  inputTokens?: number;
  outputTokens?: number;
  /**
   * The part of `inputTokens` that is a guess (an image by link, a
   * document's pages): it never makes a call unsendable, only its counted
   * part can exceed a limit. @default 0
   */
  guessedInputTokens?: number;
}

/** An event, as `on` listeners and `onEvent` receive it. */
export type ThrottlerEvent =
  | { type: "queued"; partition: string; queued: number }
  | { type: "dispatched"; partition: string; attempt: number; waitedMs: number }
  | { type: "response"; partition: string; status: number; attempt: number }
  | { type: "retry"; partition: string; attempt: number; delayMs: number; status: number | null }
  | { type: "pause"; partition: string; untilMs: number }
  | { type: "resume"; partition: string }
  | { type: "rejected"; partition: string; code: HeadroomErrorCode }
  | { type: "fallback"; partition: string; retryInMs: number }
  | { type: "coordinated"; partition: string };

export type ThrottlerEventType = ThrottlerEvent["type"];

export interface ThrottlerOptions {
  /**
   * Calls in flight at most, over all partitions: a whole number from 1, or `Infinity`.
   * @default 32
   */
  maxConcurrent?: number;
  /**
   * Retries of a `fetch` call after a retryable answer (408, 409, 429, 500,
   * 502, 503, 504, 529, or a network error), like the official SDKs.
   * @default 2
   */
  maxRetries?: number;
  /**
   * Calls waiting at most, a whole number from 0 or `Infinity`; one more is
   * refused with `QUEUE_FULL`. `0` never waits: a call that cannot be sent
   * at once is refused.
   * @default Infinity
   */
  maxQueue?: number;
  /**
   * The longest a call waits for budget before it is refused with `QUEUE_TIMEOUT`.
   * @default undefined (no limit)
   */
  maxWaitMs?: number;
  /**
   * The longest server-requested wait (`retry-after`) that is slept before a
   * retry; beyond it the response is returned as it is.
   * @default 60000
   */
  maxRetryAfterMs?: number;
  /**
   * Calls in flight in a partition before its first response has shown its
   * limits (unless `limits` gives them): its probe. Beyond the first, the
   * probe's calls go only while together (the first included) they are
   * estimated at 8,000 tokens or fewer (input plus `max_tokens`).
   * @default 4
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
  partitionBy?: "origin-and-model" | "origin" | "none" | ((input: FetchInput, init?: RequestInit) => string);
  /**
   * The cost of a `fetch` call, replacing the built-in estimate from the JSON body.
   * @default the built-in estimate
   */
  estimate?: (input: FetchInput, init?: RequestInit) => Cost;
  /**
   * The fetch that sends the calls.
   * @default the global `fetch`, looked up at each call
   */
  fetch?: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  /**
   * Receives every event.
   * @default undefined
   */
  onEvent?: (event: ThrottlerEvent) => void;
  /**
   * Whether prompt-cache reads count against input tokens per minute. On
   * current Claude models they do not: a call whose prefix marked
   * `cache_control` is warm is charged without it. `true` for a model on
   * which they still count: nothing is taken off.
   * @default false
   */
  cacheReadsCount?: boolean;
  /**
   * An OpenTelemetry `Meter` (from `@opentelemetry/api`) to record metrics
   * with: `headroom.wait.duration`, `headroom.calls.sent`,
   * `headroom.calls.retried`, `headroom.calls.refused`,
   * `headroom.responses.rate_limited`, `headroom.budget.remaining` and
   * `headroom.budget.limit` (see the README).
   * @default undefined (no metrics)
   */
  meter?: MeterLike;
  /**
   * Where the budget is kept when it is shared: a Durable Object namespace
   * binding of `HeadroomCoordinator` (from `headroom/durable-object`), such
   * as `env.HEADROOM`, shared by every isolate that names the same
   * coordinator; or a coordinator object, such as `redisCoordinator(client)`
   * (from `headroom/redis`), shared by every process using the same Redis key.
   * @default undefined (this throttler keeps its own budget)
   */
  coordinator?: DurableObjectNamespaceLike | CoordinatorLike;
  /**
   * The coordinator object's name: one shared budget per name (a Durable
   * Object binding only: a coordinator object is named when it is made).
   * @default "headroom"
   */
  coordinatorName?: string;
  /**
   * Grants asked of the coordinator at once, 1 to 64: the spare ones serve
   * this isolate's next calls of the same partition and cost without a round trip.
   * @default 4
   */
  leaseSize?: number;
  /**
   * How long a spare grant may wait for a call before it is given back.
   * @default 1000
   */
  leaseMs?: number;
  /**
   * The part of each limit this isolate uses while the coordinator cannot be
   * reached, above 0 and at most 1.
   * @default 0.5
   */
  fallbackShare?: number;
  /**
   * How long to use the local budget after the coordinator could not be
   * reached before asking it again.
   * @default 5000
   */
  fallbackRetryMs?: number;
}

/**
 * What `meter` needs of an OpenTelemetry `Meter` (the `Meter` of
 * `@opentelemetry/api` has all of it; this package does not import it).
 */
export interface MeterLike {
  createHistogram(name: string, options?: { description?: string; unit?: string }): unknown;
  createCounter(name: string, options?: { description?: string; unit?: string }): unknown;
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): unknown;
  addBatchObservableCallback(callback: (result: any) => void, observables: any[]): void;
  removeBatchObservableCallback(callback: (result: any) => void, observables: any[]): void;
}

/**
 * A coordinator given directly (such as `redisCoordinator` of
 * `headroom/redis`). `acquire` answers `{ grants }` (the first id is the
 * call's, the others spare) or `{ refused }`; a rejection or another answer
 * makes the throttler fall back to its own budget. The other three need no
 * answer: their rejections are ignored.
 */
export interface CoordinatorLike {
  acquire(key: string, cost: Cost, count: number, leaseMs: number): Promise<{ grants: number[] } | { refused: { code: string; message: string } }>;
  sent(ids: number[]): unknown;
  complete(id: number, status: number | null, headers: [string, string][] | null, unreported: boolean): unknown;
  release(ids: number[]): unknown;
}

/** What `coordinator` needs of a Durable Object namespace binding. */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: any): unknown;
}

/** The options of one `run` or `acquire` call. */
export interface CallOptions {
  /** @default { requests: 1 } */
  cost?: Cost;
  /** The partition. @default "default" */
  key?: string;
  /** Higher goes first; the same priority goes in arrival order. @default 0 */
  priority?: number;
  /** Aborting it while the call waits removes it and rejects with the reason. */
  signal?: AbortSignal;
}

/** Headers as `parseRateLimitHeaders`, `report`, `observe` and `release` take them. */
export type HeadersLike = Headers | Record<string, string | string[]> | Array<[string, string]>;

/** The right to send one call, from `acquire`. */
export declare class Permit {
  /**
   * Gives the slot back and feeds what the server said: its headers, and its
   * status (200 by default). Without headers, the call's cost is charged as
   * estimated. Always release, also on failure (`try … finally`); a second
   * release does nothing.
   */
  release(headers?: HeadersLike, status?: number): void;
  free(): void;
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
  /** Calls it may have in flight now: lowered after an overload (503, 529), raised again by successes. */
  maxInFlight: number;
  /** Set while an answer (a 429, or an overload 503 or 529) has paused the partition. */
  pausedUntilMs?: number;
  /**
   * Input tokens the server charges per token estimated, learnt from the
   * `usage` of answers read with `response.json()` (1 until one says otherwise).
   */
  inputScale: number;
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
    /** Retries sent. */
    retried: number;
    /** 503 and 529 answers, each lowering its partition's concurrency. */
    overloaded: number;
    /** Calls sent past a waiting call at the head of their queue without delaying it. */
    backfilled: number;
    /** Milliseconds dispatched calls spent waiting, in all. */
    totalWaitMs: number;
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
  /**
   * Waits for budget, then calls `fn(report)` and resolves with its result.
   * `report(headers, status?)` feeds the response headers `fn` sees.
   * @throws {HeadroomError} `COST_EXCEEDS_LIMIT`, `QUEUE_FULL`, `QUEUE_TIMEOUT` or `RATE_LIMITED`.
   */
  run<T>(fn: (report: (headers: HeadersLike, status?: number) => void) => T | Promise<T>, options?: CallOptions): Promise<T>;
  /** Waits for budget and resolves with a permit to send one call. */
  acquire(options?: CallOptions): Promise<Permit>;
  /** Feeds rate-limit headers seen elsewhere, for a partition (default `"default"`). */
  observe(headers: HeadersLike, key?: string): void;
  /** Listens to one event type; returns the function that removes the listener. */
  on<K extends ThrottlerEventType>(type: K, listener: (event: Extract<ThrottlerEvent, { type: K }>) => void): () => void;
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
  /**
   * The server rounds `remaining` to a multiple of this (Anthropic: token
   * counts to the nearest thousand), so the true figure may be up to half of
   * it lower; the budget counts on that lower figure.
   */
  remainingRounding?: number;
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
export declare function parseRateLimitHeaders(headers: HeadersLike, nowMs?: number): Observation;

export type HeadroomErrorCode = "COST_EXCEEDS_LIMIT" | "QUEUE_FULL" | "QUEUE_TIMEOUT" | "RATE_LIMITED";

/** The error headroom rejects with, with a machine-readable `code` and the numbers involved. */
export declare class HeadroomError extends Error {
  readonly name: "HeadroomError";
  readonly code: HeadroomErrorCode;
  /** With `COST_EXCEEDS_LIMIT`: the dimension, the call's cost and the limit. */
  readonly dimension?: string;
  readonly cost?: number;
  readonly limit?: number;
  /** With `QUEUE_FULL`: the `maxQueue` reached. */
  readonly maxQueue?: number;
  /** With `QUEUE_TIMEOUT`: how long the call waited. */
  readonly waitedMs?: number;
  /** With `RATE_LIMITED`: how long the API asked to wait, more than the call would. */
  readonly retryAfterMs?: number;
}
