// One budget for many processes and machines, kept in Redis (or Valkey):
//
//   import { redisCoordinator } from "headroom/redis";
//   const throttler = new Throttler({ coordinator: redisCoordinator(client) });
//
// What it owns: the shared budget's state in one Redis hash, and making each
// change to it atomic. What it does not: any decision. The budget, its
// grants and when a call may go are the wasm core's `Coordinator`, the same
// one the Durable Object runs; this file loads its state, applies what the
// throttlers asked and told, and writes the result back.
//
// Why compare-and-set and not Lua that knows the budget: the algorithm then
// lives in one place (the core), and Redis needs nothing but EVAL. The hash
// holds `v`, a version (a string unique to each write), and `s`, the state
// as JSON. The script writes only when `v` is still the version the state
// was read at; otherwise it returns the current `v` and `s`, and the whole
// batch is redone on them. A process that is the only writer keeps the
// state it wrote, so a change costs one round trip and no read.
//
// Why a transaction batches: while one round trip is out, every new request
// for grants and every report waits for the next one, which applies them all
// at once. A process has at most one round trip out at a time.
//
// Why leases shrink after a wait: a request the budget could not grant is
// tried again up to 100 ms later, when the budget that came back meanwhile
// may fit several calls. Granted to one request as a lease, the spare ones
// would sit unused in one process (its other calls already asking on their
// own) until they expire, while the others wait: four processes sharing a
// limit-bound burst took 1.7 times as long as one with leases of 4. So the
// core grants a request tried again its own grant only (it is told which
// requests were told to wait before); a lease goes to a request that may go
// at once, when the budget is ample.
//
// What is not strict across processes: a request the budget cannot grant now
// is not queued anywhere (Redis has no waiting room); its process tries
// again at the time the core names, at most 100 ms later. Priority and
// arrival order then hold within a process, not across processes. The core
// stamps grants and buckets with each process's own clock: clocks must agree
// to well under a second (NTP does that).
//
// What leaves the process: the partition key (by default the URL origin and
// the JSON body's `model`), each call's estimated cost, and the rate-limit
// header fields of each answer, the only fields a throttler reports. Never
// an API key, a cookie or a body.
import "#loader";
import { Coordinator } from "./dist/headroom_bg.js";

const DEFAULTS = { name: "headroom", timeoutMs: 1000, ttlMs: 24 * 60 * 60 * 1000 };
// The shared budget's options: the Throttler options of the same names.
// (Not `maxQueue`: no request waits in a budget kept in Redis.)
const BUDGET_OPTIONS = ["limits", "maxConcurrent", "probeConcurrency"];
const OPTIONS = [...Object.keys(DEFAULTS), ...BUDGET_OPTIONS];
// How long a report (sent, complete, release) that could not be written is
// kept for the next transactions, and how many at most. After ten minutes
// the budget has settled a grant whose report never came (see the README).
const KEEP_REPORTS_MS = 10 * 60 * 1000;
const KEEP_REPORTS = 10_000;
// Transactions that lost the race to another process, in a row, before the
// requests in it fail (and their throttlers fall back for a while).
const MAX_CONFLICTS = 16;
// After a failed transaction, reports still unwritten are tried again after this long.
const RETRY_REPORTS_MS = 1000;
// A version no write ever has: the script then only reads.
const READ_ONLY = "-";

// KEYS[1]: the budget's hash. ARGV: the version the state was read at ("":
// none), the new version, the new state ("": only check the version), the
// key's time to live in ms. Returns {1} when the version matched (and the
// state was written), else {0, version, state} as they are now.
const SCRIPT = `local v = redis.call('HGET', KEYS[1], 'v') or ''
if v == ARGV[1] then
  if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[1], 'v', ARGV[2], 's', ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
  end
  return {1}
end
return {0, v, redis.call('HGET', KEYS[1], 's') or ''}`;

/**
 * A coordinator that keeps one budget in Redis, for `Throttler`'s
 * `coordinator` option. `client` is a connected node-redis (v4 and later)
 * or ioredis client, or any client with `eval(script, keys, args)` (such as
 * Upstash's).
 */
export function redisCoordinator(client, options = {}) {
  const evaluate = evaluator(client);
  const settings = read(options);
  return new RedisCoordinator(evaluate, settings);
}

class RedisCoordinator {
  #evaluate;
  #settings;
  #key;
  // The last state known to be in Redis: its version ("": none) and JSON,
  // and the core holding it (null: to be made again from the JSON).
  #version = "";
  #state = null;
  #core = null;
  // Requests for grants and reports, waiting for a transaction.
  #asks = [];
  #reports = [];
  // Grants of a write whose outcome is unknown (it failed or timed out): if
  // it was applied after all, they are given back.
  #orphans = [];
  // The transactions under way, one after another (null: none).
  #flight = null;
  #again = false;
  #timer = null;
  #timerAt = Infinity;
  #token = null;
  #writes = 0;
  #closed = false;

  constructor(evaluate, settings) {
    this.#evaluate = evaluate;
    this.#settings = settings;
    this.#key = `headroom:${settings.name}`;
  }

  /** Grants for a call of `cost` in partition `key`: `{ grants }` or `{ refused }`; rejects when Redis fails. */
  acquire(key, cost, count, leaseMs) {
    if (this.#closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      this.#asks.push({ args: [String(key), cost, count, leaseMs], retryAt: 0, resolve, reject });
      this.#run();
    });
  }

  /** Spare grants are being used now. */
  sent(ids) {
    this.#report("sent", [ids]);
  }

  /** The answer to a granted call: its status, its rate-limit header fields, whether it ended unreported. */
  complete(id, status, headers, unreported) {
    this.#report("complete", [id, status ?? undefined, headers ?? null, unreported === true]);
  }

  /** Grants that were never used. */
  release(ids) {
    this.#report("release", [ids]);
  }

  /** The shared budget as plain JSON, as `Throttler.snapshot()`, with `grants` outstanding (`counters`: this copy's only). */
  async snapshot() {
    const reply = await this.#cas(READ_ONLY, "", "");
    const core = this.#core && reply.version === this.#version ? this.#core : this.#coreFor(reply.state);
    try {
      return core.snapshot();
    } finally {
      if (core !== this.#core) core.free();
    }
  }

  /**
   * Writes the reports still waiting (one attempt), then stops: requests
   * still waiting fail, and no timer runs. Resolves when done.
   */
  async close() {
    await this.#flight;
    if (this.#reports.length && !this.#closed) await this.#run();
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#fail(this.#asks.splice(0), closedError());
    this.#reports = [];
  }

  #report(method, args) {
    if (this.#closed) return;
    this.#reports.push({ method, args, at: Date.now() });
    if (this.#reports.length > KEEP_REPORTS) this.#reports.shift();
    this.#run();
  }

  // One transaction at a time; what arrives meanwhile goes in the next.
  #run() {
    if (this.#flight) {
      this.#again = true;
      return this.#flight;
    }
    this.#flight = (async () => {
      try {
        do {
          this.#again = false;
          try {
            await this.#transaction();
          } catch (error) {
            // Not expected (the core and the script check what they take): fail, never hang.
            this.#drop(this.#core);
            this.#fail(this.#asks.splice(0), error);
          }
        } while (this.#again && !this.#closed);
      } finally {
        this.#flight = null;
        this.#schedule();
      }
    })();
    return this.#flight;
  }

  // The next transaction: at the earliest time a waiting request may try again.
  #schedule() {
    if (this.#closed) return;
    const at = Math.min(...this.#asks.map((a) => a.retryAt), this.#reports.length ? Date.now() + RETRY_REPORTS_MS : Infinity);
    if (at === Infinity || at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#run();
    }, Math.max(0, at - Date.now()));
    unref(this.#timer);
  }

  async #transaction() {
    const now = Date.now();
    this.#reports = this.#reports.filter((r) => r.at > now - KEEP_REPORTS_MS);
    const reports = this.#reports.slice();
    const asks = this.#asks.filter((a) => a.retryAt <= now);
    if (!reports.length && !asks.length) return;
    for (let conflicts = 0; ; conflicts++) {
      const core = this.#core ?? this.#coreFor(this.#state);
      const orphans = this.#orphansIn(this.#state);
      // A report or a request the core cannot read is dropped, alone.
      for (const report of reports) {
        try {
          core[report.method](...report.args);
        } catch {
          this.#reports = this.#reports.filter((r) => r !== report);
        }
      }
      if (orphans.length) core.release(orphans);
      const answers = asks.map((ask) => {
        try {
          // Whether it was told to wait before: the core then grants it no
          // spares (see "leases" above).
          const [key, cost, count, leaseMs] = ask.args;
          return core.tryAcquire(key, cost, count, leaseMs, ask.retryAt !== 0);
        } catch (error) {
          return { error };
        }
      });
      const granted = answers.flatMap((a) => a.grants ?? []);
      const changed = reports.length > 0 || orphans.length > 0 || granted.length > 0;
      const saved = changed ? core.save() : null;
      const state = saved ? JSON.stringify(saved) : "";
      const version = changed ? this.#nextVersion() : "";
      let reply;
      try {
        reply = await this.#cas(this.#version, version, state);
      } catch (error) {
        // Perhaps written, perhaps not: start again from the last state
        // known, and give these grants back if the write shows up.
        this.#drop(core);
        if (granted.length) this.#orphans.push({ grants: saved.grants.grants.filter((g) => granted.includes(g.id)).map((g) => JSON.stringify(g)) });
        this.#fail(this.#asks.splice(0), error);
        return;
      }
      if (reply.written) {
        if (changed) {
          this.#version = version;
          this.#state = state;
          this.#orphans = [];
        }
        this.#core = core;
        this.#reports = this.#reports.filter((r) => !reports.includes(r));
        asks.forEach((ask, i) => this.#settle(ask, answers[i]));
        return;
      }
      // Another process wrote first: redo everything on its state.
      this.#drop(core);
      this.#version = reply.version;
      this.#state = reply.state;
      if (conflicts + 1 >= MAX_CONFLICTS) {
        this.#fail(asks, new Error(`headroom: ${MAX_CONFLICTS} writes to the Redis key ${this.#key} in a row lost to other processes`));
        return;
      }
    }
  }

  #settle(ask, answer) {
    if (answer.error) return this.#fail([ask], answer.error);
    if (answer.retryAt !== undefined) {
      ask.retryAt = answer.retryAt;
      return;
    }
    this.#asks.splice(this.#asks.indexOf(ask), 1);
    ask.resolve(answer);
  }

  #fail(asks, error) {
    for (const ask of asks) {
      const at = this.#asks.indexOf(ask);
      if (at >= 0) this.#asks.splice(at, 1);
      ask.reject(error);
    }
  }

  // The ids of orphaned grants that `state` holds exactly as they were written.
  #orphansIn(state) {
    if (!this.#orphans.length || !state) return [];
    let held;
    try {
      held = new Set((JSON.parse(state).grants?.grants ?? []).map((g) => JSON.stringify(g)));
    } catch {
      return [];
    }
    return this.#orphans.flatMap((o) => o.grants).filter((g) => held.has(g)).map((g) => JSON.parse(g).id);
  }

  #coreFor(state) {
    let saved = null;
    try {
      saved = state ? JSON.parse(state) : null;
    } catch {}
    return new Coordinator(this.#settings.budget, saved);
  }

  #drop(core) {
    if (core === this.#core) this.#core = null;
    core?.free();
  }

  // A version no other write has: a random token of this coordinator and a count.
  #nextVersion() {
    this.#token ??= Array.from(crypto.getRandomValues(new Uint32Array(2)), (n) => n.toString(36)).join("");
    return `h${this.#token}.${++this.#writes}`;
  }

  async #cas(expected, version, state) {
    const reply = await withTimeout(this.#evaluate(SCRIPT, [this.#key], [expected, version, state, String(this.#settings.ttlMs)]), this.#settings.timeoutMs, this.#key);
    if (!Array.isArray(reply)) throw new Error(`headroom: unexpected answer from Redis for ${this.#key}`);
    if (Number(reply[0]) === 1) return { written: true };
    // A client that parses JSON replies (Upstash's does) gives the state as an object.
    const text = (v) => (v == null ? "" : typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v));
    return { written: false, version: text(reply[1]), state: text(reply[2]) || null };
  }
}

// A timer that keeps no process alive (Node, Deno); elsewhere, as it is.
function unref(timer) {
  if (typeof timer?.unref === "function") timer.unref();
  else if (typeof Deno === "object") Deno.unrefTimer?.(timer);
}

const closedError = () => new Error("headroom: the Redis coordinator was closed");

function withTimeout(promise, ms, key) {
  let timer;
  const timeout = new Promise((_, reject) => {
    // Not unref'd: a command under way holds the process, at most `ms`.
    timer = setTimeout(() => reject(new Error(`headroom: Redis did not answer within ${ms} ms (key ${key})`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// `(script, keys, args) => Promise<reply>` for the client given.
function evaluator(client) {
  if (client && typeof client === "object") {
    // ioredis (and its forks, such as iovalkey): `call(command, ...args)`.
    if (typeof client.call === "function") {
      return (script, keys, args) => callAsync(() => client.call("EVAL", script, keys.length, ...keys, ...args));
    }
    // node-redis v4 and later: `sendCommand([command, ...args])`.
    if (typeof client.sendCommand === "function") {
      return (script, keys, args) => callAsync(() => client.sendCommand(["EVAL", script, String(keys.length), ...keys, ...args]));
    }
    // Upstash's HTTP client and others: `eval(script, keys, args)`.
    if (typeof client.eval === "function") {
      return (script, keys, args) => callAsync(() => client.eval(script, keys, args));
    }
  }
  throw new TypeError(`headroom: expected the Redis client to be a node-redis or ioredis client, or an object with \`eval(script, keys, args)\`, got ${describe(client)}`);
}

// A client that throws instead of rejecting (node-redis when closed) rejects.
async function callAsync(send) {
  return send();
}

function read(options) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== "object" || Array.isArray(options)) throw new TypeError(`headroom: expected the Redis coordinator's options to be an object, got ${describe(options)}`);
  for (const name of Object.keys(options)) {
    if (!OPTIONS.includes(name)) throw new TypeError(`headroom: unknown option \`${name}\` of the Redis coordinator; expected one of ${OPTIONS.join(", ")}`);
  }
  const settings = { ...DEFAULTS, budget: {} };
  for (const name of Object.keys(DEFAULTS)) if (options[name] !== undefined) settings[name] = options[name];
  if (typeof settings.name !== "string" || settings.name === "") throw expected("name", "a non-empty string", settings.name);
  for (const name of ["timeoutMs", "ttlMs"]) {
    const ms = settings[name];
    if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 1) throw expected(name, "a whole number of milliseconds from 1", ms);
  }
  for (const name of BUDGET_OPTIONS) if (options[name] !== undefined) settings.budget[name] = options[name];
  // The core checks the budget's options, as a Throttler's.
  new Coordinator(settings.budget, null).free();
  return settings;
}

const expected = (option, allowed, got) => new TypeError(`headroom: expected \`${option}\` to be ${allowed}, got ${describe(got)}`);

function describe(value) {
  if (value === null) return "`null`";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "number":
    case "boolean":
    case "undefined":
      return `\`${value}\`${value === undefined ? "" : ` (${typeof value})`}`;
    case "string":
      return "a string";
    case "object":
      return "an object";
    default:
      return `a ${typeof value}`;
  }
}
