// One process of a shared-budget test or benchmark: it makes its own Redis
// client and a Throttler whose coordinator is `redisCoordinator` (or none),
// and, told to go, sends its share of the calls at once through the
// throttler's `fetch` to the mock API. It reports each call's status, the
// throttler's `fallback` and `coordinated` events and its snapshot.
//   setup: { client, port, api, name, coordinator: bool, leaseSize,
//            fallbackRetryMs, timeoutMs, connected: bool, sequential: bool,
//            warmup: calls sent one after another before it is ready }
import { Throttler } from "headroom";
import { redisCoordinator } from "headroom/redis";
import { redisClient } from "./redis.mjs";

let setup;
let ids;
let throttler;
let redis;
let coordinator;
const events = [];

async function prepare() {
  if (setup.coordinator !== false) {
    redis = await redisClient(setup.client, setup.port);
    if (setup.connected !== false) await redis.connected;
    coordinator = redisCoordinator(redis.client, { name: setup.name, timeoutMs: setup.timeoutMs ?? 1000 });
  }
  throttler = new Throttler({
    maxRetries: 6,
    ...(coordinator ? { coordinator, leaseSize: setup.leaseSize ?? 4, fallbackRetryMs: setup.fallbackRetryMs ?? 5000 } : {}),
    onEvent: (event) => {
      if (event.type === "fallback" || event.type === "coordinated") events.push({ ...event, at: Date.now() });
    },
  });
  for (let i = 1; i <= (setup.warmup ?? 0); i++) await send(-i);
}

async function call(id) {
  try {
    return await send(id);
  } catch (error) {
    return { id, status: null, error: String(error) };
  }
}

async function send(id) {
  const response = await throttler.fetch(`${setup.api}/v1/messages?call=${id}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: `call ${String(id).padStart(6, "0")}` }] }),
  });
  await response.text();
  return { id, status: response.status };
}

async function go() {
  const started = Date.now();
  const results = [];
  if (setup.sequential) for (const id of ids) results.push(await call(id));
  else results.push(...(await Promise.all(ids.map(call))));
  const endedAt = Date.now();
  const ms = endedAt - started;
  // The last reports are written before the process ends.
  await coordinator?.close();
  process.send({ type: "done", results, ms, endedAt, events, snapshot: throttler.snapshot() }, () => {
    redis?.close();
    process.exit(0);
  });
}

process.on("message", (message) => {
  if (message.type === "setup") {
    ({ setup, ids } = message);
    prepare().then(() => process.send({ type: "ready" }), (error) => {
      console.error(error);
      process.exit(1);
    });
  }
  if (message.type === "go") go().catch((error) => {
    console.error(error);
    process.exit(1);
  });
});
