// A chaos mode of the mock API: a loopback server whose every answer may be
// a fault. It answers 429s with and without `retry-after` (some with garbage
// or enormous values), 529s, 503s and other 5xx, resets the connection
// before or in the middle of a response, stalls forever (only requests that
// say their caller will abort them), sends bodies slowly, and fills the
// rate-limit headers of several dialects with garbage, contradictions,
// negative and enormous numbers, and a `Date` an hour off.
//
// Faults are drawn from a generator seeded by `seed` and the request's
// `x-chaos-id` header, not by arrival order, so a run whose calls carry the
// same ids meets the same faults however the requests interleave: a failing
// seed replays.
//
//   import { startChaosApi } from "./mock/chaos.mjs";
//   const api = await startChaosApi({ seed: 42 });
//   ... fetch(api.url + "/v1/messages", { headers: { "x-chaos-id": "17.0" } }) ...
//   api.received();     // requests that reached the server
//   api.seen("17.0");   // how often this id arrived
//   api.calm();         // from now on, plain 200s (as for any request
//                       // that carries `x-chaos-calm: 1`)
//   await api.close();
//
// From a shell: node mock/chaos.mjs [--port 8788] [--seed 42].
import http from "node:http";
import { generator, mix } from "./seeded.mjs";

export { generator, mix };

// How often each answer is chosen (weights). `hang` is only for requests
// that carry `x-chaos-abortable: 1`; others get `ok` instead.
export const FAULTS = {
  ok: 50,
  slowBody: 8,
  rateLimited: 8,
  rateLimitedNoRetryAfter: 4,
  rateLimitedGarbageRetryAfter: 2,
  overloaded: 5,
  serverError: 5,
  resetBeforeHeaders: 4,
  resetMidBody: 4,
  hang: 6,
  hangBody: 4,
};

const GARBAGE = ["", "-5", "NaN", "Infinity", "1e400", "99999999999999999999", "0x10", "soon", "1.5.2", "\u00e9t\u00e9", "-0", " 7 ", "1e-9", "null", "9".repeat(400)];

export async function startChaosApi(options = {}) {
  const seed = options.seed ?? 1;
  const faults = { ...FAULTS, ...options.faults };
  const latency = options.latencyMs ?? [0, 8];
  let calm = false;
  let received = 0;
  const seen = new Map();
  const tally = {};
  const sockets = new Set();

  const pick = (random, weights) => {
    const entries = Object.entries(weights);
    let roll = random() * entries.reduce((sum, [, w]) => sum + w, 0);
    for (const [name, weight] of entries) if ((roll -= weight) < 0) return name;
    return entries[0][0];
  };

  /** Rate-limit headers: sane, garbage, contradictory, skewed; never a reason to wait long. */
  const rateHeaders = (random) => {
    const headers = {};
    const n = (sane) => {
      const roll = random();
      if (roll < 0.1) return GARBAGE[Math.floor(random() * GARBAGE.length)];
      if (roll < 0.15) return String(-Math.floor(random() * 1000));
      if (roll < 0.2) return String(Math.floor(random() * 1e12));
      return String(sane);
    };
    const limit = 1000 + Math.floor(random() * 100_000);
    const remaining = Math.floor(random() * limit * 1.5); // sometimes above the limit
    const skew = random() < 0.2 ? (random() < 0.5 ? -3_600_000 : 3_600_000) : 0;
    headers.date = new Date(Date.now() + skew).toUTCString();
    const resetSeconds = random() * 2;
    const dialects = Math.floor(random() * 8);
    if (dialects & 1) {
      for (const name of ["requests", "input-tokens", "output-tokens", "tokens"]) {
        headers[`anthropic-ratelimit-${name}-limit`] = n(limit);
        headers[`anthropic-ratelimit-${name}-remaining`] = n(remaining);
        headers[`anthropic-ratelimit-${name}-reset`] = random() < 0.1 ? n(0) : new Date(Date.now() + skew + resetSeconds * 1000).toISOString();
      }
    }
    if (dialects & 2) {
      // Contradicts the Anthropic fields when both are sent.
      headers["x-ratelimit-limit-requests"] = n(Math.floor(limit / 2));
      headers["x-ratelimit-remaining-requests"] = n(Math.floor(remaining / 3));
      headers["x-ratelimit-reset-requests"] = random() < 0.1 ? n(0) : `${Math.round(resetSeconds * 1000)}ms`;
      headers["x-ratelimit-limit-tokens"] = n(limit * 10);
      headers["x-ratelimit-remaining-tokens"] = n(remaining * 10);
      headers["x-ratelimit-reset-tokens"] = random() < 0.1 ? n(0) : `${resetSeconds.toFixed(2)}s`;
    }
    if (dialects & 4) {
      headers["ratelimit-policy"] = random() < 0.2 ? n(0) : `"burst";q=${n(limit)};w=${n(1)}`;
      headers.ratelimit = random() < 0.2 ? n(0) : `"burst";r=${n(remaining)};t=${n(1)}`;
      headers["x-ratelimit-limit"] = n(limit);
      headers["x-ratelimit-remaining"] = n(remaining);
      headers["x-ratelimit-reset"] = n(1);
    }
    return headers;
  };

  const retryAfter = (random) =>
    random() < 0.5 ? { "retry-after-ms": String(Math.floor(random() * 50)) } : { "retry-after": random() < 0.7 ? "0" : "1" };

  const body = (text) => JSON.stringify({ id: "msg", type: "message", content: [{ type: "text", text }], usage: { input_tokens: 1, output_tokens: 1 } });

  const answer = (req, res, id) => {
    if (calm || req.headers["x-chaos-calm"] === "1") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body("calm"));
      return;
    }
    const random = generator(mix(seed, id));
    let fault = pick(random, faults);
    if ((fault === "hang" || fault === "hangBody") && req.headers["x-chaos-abortable"] !== "1") fault = "ok";
    tally[fault] = (tally[fault] ?? 0) + 1;
    const headers = { ...rateHeaders(random), "content-type": "application/json" };
    const send = (status, extra = {}, text = "ok") => {
      res.writeHead(status, { ...headers, ...extra });
      res.end(body(text));
    };
    switch (fault) {
      case "slowBody": {
        res.writeHead(200, headers);
        let chunks = 2 + Math.floor(random() * 4);
        const next = () => {
          if (res.destroyed) return;
          if (chunks-- === 0) return res.end("}");
          res.write(chunks === 0 ? '{"slow":true' : " ");
          setTimeout(next, Math.floor(random() * 20));
        };
        return next();
      }
      case "rateLimited":
        return send(429, retryAfter(random), "rate_limit_error");
      case "rateLimitedNoRetryAfter":
        return send(429, {}, "rate_limit_error");
      case "rateLimitedGarbageRetryAfter":
        // Garbage the parser must ignore; an enormous wait is over maxRetryAfterMs.
        return send(429, random() < 0.5 ? { "retry-after": GARBAGE[Math.floor(random() * GARBAGE.length)] } : { "retry-after-ms": "-5" }, "rate_limit_error");
      case "overloaded":
        return send(random() < 0.5 ? 529 : 503, random() < 0.5 ? retryAfter(random) : {}, "overloaded_error");
      case "serverError":
        return send([500, 502, 504, 408, 409][Math.floor(random() * 5)], random() < 0.5 ? { "retry-after-ms": "5" } : {}, "api_error");
      case "resetBeforeHeaders":
        return req.socket.destroy();
      case "resetMidBody":
        res.writeHead(200, headers);
        res.write('{"partial":');
        return setTimeout(() => req.socket.destroy(), Math.floor(random() * 10));
      case "hang":
        return; // until the client goes away
      case "hangBody":
        res.writeHead(200, headers);
        return res.write('{"never":');
      default:
        return send(200);
    }
  };

  const server = http.createServer((req, res) => {
    received++;
    const id = String(req.headers["x-chaos-id"] ?? `anonymous.${received}`);
    seen.set(id, (seen.get(id) ?? 0) + 1);
    req.on("error", () => {});
    res.on("error", () => {});
    req.resume();
    req.on("end", () => {
      const random = generator(mix(seed, `${id}/latency`));
      setTimeout(() => answer(req, res, id), latency[0] + Math.floor(random() * (latency[1] - latency[0] + 1)));
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("clientError", (_, socket) => socket.destroy());
  await new Promise((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seed,
    received: () => received,
    seen: (id) => seen.get(id) ?? 0,
    ids: () => new Map(seen),
    faults: () => ({ ...tally }),
    calm: () => { calm = true; },
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, fallback) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
  const api = await startChaosApi({ port: arg("--port", 8788), seed: arg("--seed", 1) });
  console.log(`chaos API on ${api.url} (seed ${api.seed}); Ctrl-C stops it`);
  process.on("SIGINT", async () => { console.log(api.faults()); await api.close(); process.exit(0); });
}
