// The Durable Object that keeps one budget for many isolates. Export it
// from your Worker and bind it (see the README):
//
//   export { HeadroomCoordinator } from "headroom/durable-object";
//
// It runs the same wasm core as every Throttler. Each request for grants
// waits here until the budget lets the call go; answers come back as
// rate-limit header fields. After every change the budget and the
// outstanding grants are saved to the object's storage, so an evicted or
// restarted object carries on where it was; an alarm settles grants whose
// isolate went away.
import { DurableObject } from "cloudflare:workers";
import "./workerd.js";
import { Coordinator } from "./dist/headroom_bg.js";

const STATE_KEY = "headroom:state";

export class HeadroomCoordinator extends DurableObject {
  #core;
  #alarmAt = null;

  constructor(ctx, env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const saved = await ctx.storage.get(STATE_KEY);
      this.#core = new Coordinator(this.options(env), saved ?? null);
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /**
   * The coordinator's options: override in a subclass to give `limits`,
   * `maxConcurrent`, `probeConcurrency` or `maxQueue` (the Throttler options
   * of the same names). The default is a Throttler's defaults.
   */
  options(_env) {
    return {};
  }

  /** Wait until a call of `cost` may go in partition `key`; grant it and up to `count - 1` spare ones. */
  async acquire(key, cost, count, leaseMs) {
    const answer = await this.#core.acquire(String(key), cost, count, leaseMs);
    this.#changed();
    return answer;
  }

  /** Spare grants are being used now. */
  sent(ids) {
    this.#core.sent(ids);
    this.#changed();
  }

  /**
   * The answer to a granted call: its status (null without a response), its
   * rate-limit header fields (null: none), and whether it ended unreported
   * (its estimate is charged).
   */
  complete(id, status, headers, unreported) {
    this.#core.complete(id, status ?? undefined, headers ?? null, unreported === true);
    this.#changed();
  }

  /** Grants that were never used. */
  release(ids) {
    this.#core.release(ids);
    this.#changed();
  }

  /** The shared budget as plain JSON, as `Throttler.snapshot()`, with `grants` outstanding. */
  snapshot() {
    return this.#core.snapshot();
  }

  async alarm() {
    this.#alarmAt = null;
    this.#core.expire();
    this.#changed();
  }

  // Save the state (the write completes before any answer leaves the
  // object) and keep the alarm at the next grant's expiry.
  #changed() {
    this.ctx.storage.put(STATE_KEY, this.#core.save());
    const next = this.#core.nextExpiry();
    if (next !== undefined && (this.#alarmAt === null || next < this.#alarmAt)) {
      this.#alarmAt = next;
      this.ctx.storage.setAlarm(next);
    }
  }
}
