/**
 * headroom's coordinator: a Durable Object that keeps one budget for every
 * isolate of a Worker. Export it from your Worker, bind it, and give the
 * binding to each Throttler as `coordinator` (see the README).
 */
import { DurableObject } from "cloudflare:workers";
import type { Cost, ThrottlerOptions } from "./index.js";

/** The coordinator's options: these Throttler options apply to the shared budget. */
export type CoordinatorOptions = Pick<ThrottlerOptions, "limits" | "maxConcurrent" | "probeConcurrency" | "maxQueue">;

export declare class HeadroomCoordinator<Env = unknown> extends DurableObject<Env> {
  /** Override to configure the shared budget; the default is a Throttler's defaults. */
  options(env: Env): CoordinatorOptions;
  /** Wait until a call of `cost` may go in partition `key`; grant it and up to `count - 1` spare ones. */
  acquire(key: string, cost: Cost, count?: number, leaseMs?: number): Promise<{ grants: number[] } | { refused: { code: string; message: string } }>;
  /** Spare grants are being used now. */
  sent(ids: number[]): void;
  /** The answer to a granted call: its status (null without a response) and its rate-limit header fields. */
  complete(id: number, status: number | null, headers: [string, string][] | null, unreported?: boolean): void;
  /** Grants that were never used. */
  release(ids: number[]): void;
  /** The shared budget as plain JSON, as `Throttler.snapshot()`, with the number of grants outstanding. */
  snapshot(): unknown;
  alarm(): Promise<void>;
}
