// headroom/redis: one budget for several processes, kept in a real
// redis-server started for each test on loopback. Each process is a child
// with its own client and Throttler (tests/support/redis-sender.mjs), and
// sends its share of one burst to the mock API, which counts every answer
// by call. The suite runs once with node-redis and once with ioredis.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { redisCoordinator } from "headroom/redis";
import { startMockApi } from "../../mock/api.mjs";
import { CLIENTS, freePort, handRedis, redisClient, runSenders, startRedis, storedGrants } from "../support/redis.mjs";

// 20 requests a window of 2 s, refilled continuously: 10 a second, so a
// burst of 60 calls takes about 4 s whoever sends it.
const LIMITS = { requestsPerMinute: 20, inputTokensPerMinute: 1e9, outputTokensPerMinute: 1e9 };
const WINDOW_MS = 2_000;
const PROCESSES = 4;

const ids = (n) => Array.from({ length: n }, (_, i) => i + 1);
const shares = (all, parts) => Array.from({ length: parts }, (_, p) => all.filter((_, i) => i % parts === p));

/** The mock API, counting the answers to each call by its id. */
async function countingApi(options) {
  const answers = new Map();
  const api = await startMockApi({
    limits: LIMITS, windowMs: WINDOW_MS, latencyMs: 30, ...options,
    onAnswer: ({ path, status }) => {
      const id = Number(new URL(path, "http://api").searchParams.get("call"));
      const seen = answers.get(id) ?? { 200: 0, 429: 0 };
      seen[status] = (seen[status] ?? 0) + 1;
      answers.set(id, seen);
    },
  });
  return { api, answers };
}

/** Every call succeeded, and the server admitted each exactly once. */
function assertEachSentOnce(reports, answers, calls) {
  const results = reports.flatMap((r) => r.results);
  assert.equal(results.length, calls.length);
  assert.deepEqual(results.filter((r) => r.status !== 200), [], "every call ends 200");
  for (const id of calls) assert.equal(answers.get(id)?.[200], 1, `call ${id} admitted once: ${JSON.stringify(answers.get(id))}`);
}

/** Runs `body(redis, client)` with a server and a client of `kind`, stopping both however it ends. */
async function withRedis(kind, body) {
  const redis = await startRedis();
  let connection = null;
  try {
    connection = await redisClient(kind, redis.port);
    await connection.connected;
    return await body(redis, connection.client);
  } finally {
    connection?.close();
    await redis.stop();
  }
}

for (const kind of CLIENTS) {
  describe(`with ${kind}`, () => {
    test("four processes sharing a budget in Redis send one burst within the limit, each call once", { timeout: 60_000 }, (t) =>
      withRedis(kind, async (redis, client) => {
        // The server admits everything and records any call that overdrew
        // a limit: only the throttlers can have kept to it.
        const { api, answers } = await countingApi({ enforce: false });
        try {
          const calls = ids(60);
          const { reports } = await runSenders(shares(calls, PROCESSES), { client: kind, port: redis.port, api: api.url, name: "burst" }, { signal: t.signal });
          assertEachSentOnce(reports, answers, calls);
          api.assertWithinLimits();
          assert.equal(api.stats().overdrawn, 0);
          assert.deepEqual(reports.flatMap((r) => r.events), [], "no process fell back");
          const shared = await redisCoordinator(client, { name: "burst" }).snapshot();
          // Spare grants a lease left unused wait for their expiry; every call sent was reported.
          assert.deepEqual((await storedGrants(client, "burst")).filter((g) => g.sent), [], "every call sent was reported back");
          assert.deepEqual(shared.partitions.map((p) => p.dimensions.find((d) => d.name === "requests")?.limit), [20], "the budget in Redis learnt the limit from the answers");
        } finally {
          await api.close();
        }
      }));

    test("Redis killed mid-burst and restarted: no call lost or sent twice, the throttlers fall back and come back", { timeout: 90_000 }, (t) =>
      withRedis(kind, async (redis, client) => {
        const { api, answers } = await countingApi({ enforce: true });
        try {
          const calls = ids(80);
          const burst = runSenders(shares(calls, PROCESSES), {
            client: kind, port: redis.port, api: api.url, name: "restart", fallbackRetryMs: 1_000, timeoutMs: 200,
          }, { signal: t.signal });
          while (api.stats().admitted < 30) await new Promise((resolve) => setTimeout(resolve, 20));
          const before = api.stats().admitted;
          await redis.kill();
          // Long enough that the throttlers' own retries (after 50, 200 and
          // 500 ms, each timing out after 200 ms) give up and fall back.
          await new Promise((resolve) => setTimeout(resolve, 3_000));
          await redis.restart();
          const restartedAt = Date.now();
          const { reports } = await burst;
          assert.ok(before > 0 && before < calls.length, `the kill came mid-burst (${before} calls answered before it)`);
          assertEachSentOnce(reports, answers, calls);
          // A process whose calls were all granted before the kill never
          // asked while Redis was down; the others fell back, and came back
          // if they still had calls once it was up again and their
          // fallback's retry time (1 s) had passed.
          const fellBack = reports.filter((r) => r.events.length > 0);
          assert.ok(fellBack.length > 0, "a process fell back");
          for (const report of fellBack) {
            const types = report.events.map((e) => e.type);
            assert.equal(types[0], "fallback", JSON.stringify(types));
            if (report.endedAt > restartedAt + 1_500) assert.equal(types.at(-1), "coordinated", `and came back: ${JSON.stringify(types)}`);
          }
          // The state was lost with the server: what the budget holds now
          // was granted through Redis after the restart.
          const shared = await redisCoordinator(client, { name: "restart" }).snapshot();
          assert.deepEqual((await storedGrants(client, "restart")).filter((g) => g.sent), [], "every call sent after the restart was reported back");
          assert.deepEqual(shared.partitions.map((p) => p.dimensions.find((d) => d.name === "requests")?.limit), [20], "calls after the restart went through Redis");
        } finally {
          await api.close();
        }
      }));

    test("Redis unreachable from the start: calls complete through the fallback, with one fallback event each", { timeout: 60_000 }, async (t) => {
      const { api, answers } = await countingApi({ enforce: true });
      try {
        const calls = ids(20);
        const closed = await freePort();
        const { reports } = await runSenders(shares(calls, 2), {
          client: kind, port: closed, api: api.url, name: "unreachable", connected: false, fallbackRetryMs: 60_000, timeoutMs: 300,
        }, { signal: t.signal });
        assertEachSentOnce(reports, answers, calls);
        for (const report of reports) {
          assert.deepEqual(report.events.map((e) => e.type), ["fallback"]);
          assert.equal(report.events[0].retryInMs, 60_000);
          assert.equal(report.snapshot.counters.completed, calls.length / 2);
        }
      } finally {
        await api.close();
      }
    });
  });
}

test("a client it cannot use, or a wrong option, is a TypeError that says what was expected", async () => {
  const expected = /expected the Redis client to be a node-redis or ioredis client, or an object with `eval\(script, keys, args\)`/;
  for (const client of [undefined, null, {}, "redis://127.0.0.1", { eval: 1 }]) {
    assert.throws(() => redisCoordinator(client), (e) => e instanceof TypeError && expected.test(e.message), String(client));
  }
  const client = { eval: async () => [1] };
  const cases = [
    [{ name: "" }, /expected `name` to be a non-empty string, got a string/],
    [{ name: 7 }, /expected `name` to be a non-empty string, got `7` \(number\)/],
    [{ timeoutMs: 0 }, /expected `timeoutMs` to be a whole number of milliseconds from 1, got `0` \(number\)/],
    [{ ttlMs: 1.5 }, /expected `ttlMs` to be a whole number of milliseconds from 1, got `1.5` \(number\)/],
    [{ limits: 3 }, /expected `limits` to be a preset name/],
    [{ maxConcurrent: 0 }, /`maxConcurrent`/],
    [{ leaseSize: 4 }, /unknown option `leaseSize` of the Redis coordinator; expected one of name, timeoutMs, ttlMs, limits, maxConcurrent, probeConcurrency/],
    [{ maxQueue: 0 }, /unknown option `maxQueue` of the Redis coordinator/],
    ["budget", /expected the Redis coordinator's options to be an object, got a string/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => redisCoordinator(client, options), (e) => e instanceof TypeError && message.test(e.message), JSON.stringify(options));
  }
});

test("a client with eval(script, keys, args) is used as Upstash's is, and sees only the budget's state", async () => {
  const calls = [];
  const redis = handRedis();
  const client = {
    eval: (script, keys, args) => {
      calls.push({ script, keys, args });
      return redis.eval(script, keys, args);
    },
  };
  const hash = redis.hash;
  const coordinator = redisCoordinator(client, { name: "upstash", limits: { requestsPerMinute: 60 } });
  const answer = await coordinator.acquire("https://api.example key", { requests: 1 }, 2, 1000);
  assert.equal(answer.grants.length, 2);
  // Only rate-limit fields reach a coordinator; even a field that is not one is not stored.
  coordinator.complete(answer.grants[0], 200, [["anthropic-ratelimit-requests-limit", "60"], ["anthropic-ratelimit-requests-remaining", "50"], ["set-cookie", "session=secret"]], false);
  coordinator.release([answer.grants[1]]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(new Set(calls.map((c) => c.keys.join())), new Set(["headroom:upstash"]));
  assert.ok(!hash.get("s").includes("secret"), hash.get("s"));
  const state = JSON.parse(hash.get("s"));
  assert.deepEqual(state.grants.grants, [], "both grants settled");
  assert.equal((await coordinator.snapshot()).grants, 0);
  await coordinator.close();
});

test("a Redis that never answers fails the request within timeoutMs, and grants of a write applied unseen are given back", async () => {
  const redis = handRedis();
  const coordinator = redisCoordinator(redis, { timeoutMs: 50, limits: { requestsPerMinute: 60 } });
  // The write is applied but its answer never comes.
  redis.hold = new Promise(() => {});
  await assert.rejects(coordinator.acquire("k", { requests: 1 }, 3, 1000), /did not answer within 50 ms/);
  const unseen = JSON.parse(redis.hash.get("s")).grants.grants.map((g) => g.id);
  assert.equal(unseen.length, 3, "the write was applied");
  // Redis answers again: the next write finds those grants and gives them back.
  redis.hold = null;
  const answer = await coordinator.acquire("k", { requests: 1 }, 1, 1000);
  const held = JSON.parse(redis.hash.get("s")).grants.grants.map((g) => g.id);
  assert.deepEqual(held, answer.grants, "only the new grant is held");
  assert.ok(answer.grants.every((id) => !unseen.includes(id)), "no id given twice");
  await coordinator.close();
});

test("a request waiting for budget keeps no Node process alive", () => {
  // One request a minute: the second request waits, its retry on a timer.
  const script = `
    import { redisCoordinator } from "headroom/redis";
    import { handRedis } from ${JSON.stringify(new URL("../support/redis.mjs", import.meta.url).href)};
    const client = handRedis();
    const coordinator = redisCoordinator(client, { limits: { requestsPerMinute: 1 } });
    await coordinator.acquire("k", { requests: 1 }, 1, 1000);
    coordinator.acquire("k", { requests: 1 }, 1, 1000).then(() => console.log("granted"));
  `;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: process.cwd(), timeout: 10_000, encoding: "utf8" });
  assert.equal(run.signal, null, "the process ended by itself");
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, "");
});
