/**
 * headroom's Redis coordinator: one budget for every process and machine
 * that names the same Redis key, for `Throttler`'s `coordinator` option
 * (see the README).
 */
import type { CoordinatorLike, Snapshot, ThrottlerOptions } from "./index.js";

export interface RedisCoordinatorOptions extends Pick<ThrottlerOptions, "limits" | "maxConcurrent" | "probeConcurrency"> {
  /**
   * The budget's name: its state is the Redis hash `headroom:` + name. One
   * shared budget per name; every process sharing it gives the same
   * `limits`, `maxConcurrent` and `probeConcurrency`.
   * @default "headroom"
   */
  name?: string;
  /**
   * How long each Redis command may take; one that fails or takes longer
   * fails the requests for grants waiting on it, and their throttlers fall back.
   * @default 1000
   */
  timeoutMs?: number;
  /**
   * The key's time to live, renewed on each write: an unused budget leaves Redis after it.
   * @default 86400000 (24 hours)
   */
  ttlMs?: number;
}

/**
 * What the coordinator needs of a Redis client: node-redis (v4 and later,
 * `sendCommand`), ioredis (`call`), or any client with `eval(script, keys, args)`
 * (such as Upstash's).
 */
export type RedisClientLike =
  | { call(command: string, ...args: (string | number)[]): Promise<unknown> }
  | { sendCommand(args: string[]): Promise<unknown> }
  | { eval(script: string, keys: string[], args: string[]): Promise<unknown> };

export interface RedisCoordinator extends CoordinatorLike {
  /**
   * The shared budget as plain JSON, as `Throttler.snapshot()`, with `grants`
   * outstanding. Its `counters` are not kept in Redis: they count only what
   * this process's copy did since it last read the state.
   */
  snapshot(): Promise<Snapshot & { grants: number }>;
  /** Writes the reports still waiting (one attempt), then stops: requests still waiting fail, and no timer runs. */
  close(): Promise<void>;
}

/**
 * A coordinator that keeps one budget in Redis (or Valkey).
 * @throws {TypeError} when the client is not one it can use, or an option is wrong.
 */
export declare function redisCoordinator(client: RedisClientLike, options?: RedisCoordinatorOptions): RedisCoordinator;
